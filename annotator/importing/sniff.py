"""What an uploaded file is, decided from its first bytes and a cheap walk over its structure, before any
parser runs (finding 3: 64 MiB of zeros named big.dcm cost pydicom 15.8 s of CPU, and a zip of 1 GiB of
zeros 315 s, before being refused).

``kind_of`` classifies from the first ``HEAD_BYTES`` bytes, so a zip entry is refused after inflating only
its head. ``check_dicom_structure`` walks the top-level elements of a DICOM file by their headers (a few
hundred reads for a real file), refusing what no DICOM writer produces: the same element twice, the command
group 0000 after other elements (zeros after a header), elements without a VR in explicit syntax, lengths
past the end of the file, more than ``MAX_ELEMENTS`` elements, an image larger than the pixel limit, or pixel
data much longer than the image it describes. Only then does pydicom parse the file. Every DICOM file with
pixels in pydicom's test files and the project's data sets passes (tests/test_upload_sniffing.py).
"""

from __future__ import annotations

import struct
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from annotator.errors import InvalidInput, TooLarge
from annotator.imaging.limits import limit

HEAD_BYTES = 1024
DICOM_SUFFIXES = {".dcm", ".dicom", ".ima", ""}
# Real files have a few hundred top-level elements (the largest seen here: enhanced multi-frame MR, 112).
MAX_ELEMENTS = 10_000
# Explicit VR: these VRs have two reserved bytes and a 4-byte length (PS3.5 7.1.2).
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
# Syntaxes whose dataset cannot be walked byte by byte here (deflated, big endian): pydicom parses them.
UNWALKABLE = {"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"}
UNDEFINED = 0xFFFFFFFF
PIXEL_GROUP = 0x7FE0
ROWS, COLUMNS, SAMPLES, BITS, FRAMES = 0x00280010, 0x00280011, 0x00280002, 0x00280100, 0x00280008
SYNTAX = 0x00020010


def is_part10(head: bytes) -> bool:
    """A DICOM Part 10 file: a 128-byte preamble, then "DICM"."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def starts_like_a_dataset(head: bytes) -> bool:
    """A DICOM dataset without the preamble (old scanners, some exports) starts with an element of the
    file meta (group 0002) or the identifying group (0008), with a two-letter VR or a short length."""
    if len(head) < 8:
        return False
    group, _ = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008):
        return False
    vr = head[4:6]
    if vr.isalpha() and vr.isupper():
        return True
    (length,) = struct.unpack("<I", head[4:8])
    return length < 64 * 1024  # the first elements are short strings and codes


def kind_of(name: str, head: bytes) -> str:
    """dicom | dicom-raw | nrrd | nifti | image | zip | unknown, from a file's name and first bytes."""
    lowered = name.lower()
    if is_part10(head):
        return "dicom"
    if head.startswith(b"NRRD000"):
        return "nrrd"
    if lowered.endswith((".nii", ".nii.gz")):
        return "nifti"
    if head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
        return "image"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    suffix = PurePosixPath(lowered).suffix
    if (suffix in DICOM_SUFFIXES or suffix[1:].isdigit()) and starts_like_a_dataset(head):
        return "dicom-raw"
    return "unknown"


def _not_dicom(name: str, why: str) -> InvalidInput:
    return InvalidInput(f"{name}: not a readable DICOM file ({why}).", details={"file": name})


class _Walk:
    """The state of a walk over a file's top-level elements."""

    def __init__(self, handle: BinaryIO, size: int, name: str) -> None:
        self.handle, self.size, self.name = handle, size, name
        self.values: dict[int, bytes] = {}

    def value(self, at: int, length: int) -> bytes:
        self.handle.seek(at)
        return self.handle.read(length)

    def check_pixels(self, length: int) -> None:
        """Pixel data no longer than the image its header describes (plus padding), so a file cannot make
        the server read gigabytes for a tiny image; and an image within the pixel limit."""

        def number(tag: int, default: int) -> int:
            raw = self.values.get(tag)
            if raw is None:
                return default
            if len(raw) == 2:
                return struct.unpack("<H", raw)[0]
            try:
                return int(raw.strip(b"\0 ").decode("ascii") or default)
            except ValueError:
                return default

        rows, columns = number(ROWS, 0), number(COLUMNS, 0)
        if rows * columns > limit("IMPORT_MAX_PIXELS"):
            raise TooLarge(
                f"{self.name}: {columns}x{rows} pixels is over the limit of {limit('IMPORT_MAX_PIXELS')} "
                "pixels per image.",
                details={"file": self.name},
            )
        if length == UNDEFINED or not rows or not columns:
            return  # encapsulated (compressed) frames, or no size: pydicom and the checks judge them
        expected = rows * columns * number(SAMPLES, 1) * max(1, number(FRAMES, 1)) * number(BITS, 16) // 8
        if length > expected + 1024:
            raise _not_dicom(self.name, f"{length} bytes of pixel data for a {columns}x{rows} image")


def _explicit(header: bytes) -> bool:
    """Whether an element header carries a VR (two upper-case letters), as pydicom decides it: files that
    declare one syntax and are written in the other exist (pydicom's SC_rgb_jpeg.dcm)."""
    vr = header[4:6]
    return vr.isalpha() and vr.isupper()


def check_dicom_structure(path: Path, name: str, *, complete: bool = True) -> None:
    """Walk ``path``'s top-level DICOM elements by their headers; raise InvalidInput (or TooLarge) for a file
    that cannot be a DICOM file, before anything parses it. See the module docstring for the rules.

    ``complete=False``: ``path`` holds only the start of the file (the first chunk of a zip entry being
    extracted); an element running past its end ends the walk without a verdict."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
        walk = _Walk(handle, size, name)
        offset = 132 if is_part10(head) else 0
        in_meta = offset == 132
        explicit = in_meta or _explicit(head)
        previous = -1
        for _ in range(MAX_ELEMENTS):
            header = walk.value(offset, 8)
            if not header:
                return  # the end of the file, right after an element: complete
            if len(header) < 8:
                if not complete:
                    return
                raise _not_dicom(name, "it ends in the middle of an element")
            group, element = struct.unpack("<HH", header[:4])
            tag = group << 16 | element
            if in_meta and group != 0x0002:
                in_meta = False
                syntax = walk.values.get(SYNTAX, b"").rstrip(b"\0 ").decode("ascii", "replace")
                if syntax in UNWALKABLE:
                    return
                explicit = _explicit(header)
            # The command group (0000) may open a dataset, never follow its elements: zeros after a header.
            if tag == previous or (group == 0 and previous > 0xFFFF):
                raise _not_dicom(name, "its elements are not in DICOM order")
            previous = tag
            if explicit:
                vr = header[4:6]
                if not _explicit(header):
                    raise _not_dicom(name, "an element has no value representation")
                if vr in LONG_VRS:
                    raw = walk.value(offset + 8, 4)
                    if len(raw) < 4 and not complete:
                        return
                    (length,) = struct.unpack("<I", raw.ljust(4, b"\0"))
                    start = offset + 12
                else:
                    (length,) = struct.unpack("<H", header[6:8])
                    start = offset + 8
            else:
                (length,) = struct.unpack("<I", header[4:8])
                start = offset + 8
            if group == PIXEL_GROUP:
                walk.check_pixels(length)
                return  # the pixels run to the end: pydicom reads them
            if length == UNDEFINED:
                return  # a sequence of undefined length: its items are pydicom's to parse
            if start + length > size:
                if not complete:
                    return
                raise _not_dicom(name, "an element runs past the end of the file")
            if tag in (SYNTAX, ROWS, COLUMNS, SAMPLES, BITS, FRAMES) and length <= 64:
                walk.values[tag] = walk.value(start, length)
            offset = start + length
        raise _not_dicom(name, f"more than {MAX_ELEMENTS} elements")
