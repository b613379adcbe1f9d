"""Import limits. Each can be set in Django settings (tests override them there); the defaults suit one
2-core machine with a few GB of RAM."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # Total bytes of one upload request (the project-wide MAX_UPLOAD_BYTES setting).
    "MAX_UPLOAD_BYTES": 2 * 1024**3,
    # A zip may hold at most this many entries and expand to at most this many bytes: a zip bomb stops here.
    "IMPORT_ZIP_MAX_ENTRIES": 20_000,
    "IMPORT_ZIP_MAX_BYTES": 4 * 1024**3,
    # Largest single image or slice (pixels) and largest series (voxels) we decode. 100 M pixels is
    # a 10k x 10k slide tile; 600 M voxels is 1.2 GB as int16, the most one worker should hold.
    "IMPORT_MAX_PIXELS": 100_000_000,
    "IMPORT_MAX_VOXELS": 600_000_000,
    # Imports of more slices than this run as a background job rather than inside the request.
    "IMPORT_SYNC_MAX_SLICES": 8,
}


def limit(name: str) -> int:
    return int(getattr(settings, name, DEFAULTS[name]))
