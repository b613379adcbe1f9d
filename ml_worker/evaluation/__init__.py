"""Model evaluation with simulated prompts: ``metrics`` (DSC, NSD), ``clicks`` (box and corrective clicks from
a reference mask), ``dataset`` (image/label folders → 2D cases), ``runner`` (the loop, summary, report).

A plain library: ``manage.py evaluate`` and the active-learning loop call :func:`runner.evaluate`.
"""
