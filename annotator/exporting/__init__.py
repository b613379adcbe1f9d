"""Mask formats for export and import: pure functions over numpy arrays and series geometry.

Nothing here touches the database or the job machinery (``annotator.actions.exports`` does); every writer takes
canonical (Z, Y, X) arrays as stored and goes back to the source's grid where the format needs it.
"""
