"""Importing studies: everything between uploaded bytes and stored, recorded series.

- ``sources``: uploads and zips unpacked into local files, each classified (DICOM, NIfTI, NRRD, image).
- ``dicom``, ``formats``, ``deid``: the input adapters (DICOM headers and pixels; NIfTI, NRRD and 2D
  images) and DICOM de-identification.
- ``plan``: reading every header into ``PlannedSeries`` (what will be built), refusing bad input first.
- ``build``: decoding a planned series into a canonical volume, from the request's folder or staging.
- ``storage``: writing a built series' files, and staging inputs for a background import.
- ``reference_masks``: existing masks read as a series' reference label map.

The orchestration (check → plan → build now, or stage and start a job) is ``annotator/actions/imports.py``.
"""
