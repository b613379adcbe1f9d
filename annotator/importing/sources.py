"""From uploaded files (single files, folders, zips) to classified local files, safely.

Zips are opened with bounds: at most IMPORT_ZIP_MAX_ENTRIES entries and IMPORT_ZIP_MAX_BYTES uncompressed
bytes, counted while extracting (the sizes a zip declares can lie); entries whose path would leave the
target folder (absolute paths, ``..``, drive letters, symlinks) refuse the whole zip. A refused zip or file
is listed (``collect_each``) and the rest of the upload goes on; ``collect`` refuses on the first.

Every file and every zip entry is classified by its first bytes (annotator.importing.sniff) before the rest
is read: an entry that is no image is refused after inflating only its head, and a DICOM entry's structure
is walked on its first chunk, so a header followed by a gigabyte of zeros stops there too. DICOM files are
walked in full before pydicom parses them. What an upload costs is thus bounded by its bytes (finding 3 of
issue 13: a zip of 1 GiB of zeros named big.dcm cost 315 s of CPU before its 415).
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from annotator.errors import DomainError, InvalidInput, TooLarge, UnsupportedMedia
from annotator.imaging.limits import limit
from annotator.importing import sniff
from annotator.importing.refusals import Refusal

CHUNK = 1024 * 1024
# Files a folder drag-and-drop brings along that are not images: skipped silently.
JUNK_NAMES = {
    ".ds_store",
    "thumbs.db",
    "desktop.ini",
    "dicomdir",
    "license",
    "readme",
    "readme.md",
    "readme.txt",
}


@dataclass
class Source:
    name: str  # as uploaded (path inside the zip for zip entries); never stored
    path: Path  # local copy
    kind: str = ""  # dicom | dicom-raw | nifti | nrrd | image | junk | unknown
    index: int = 0  # 1-based position among the upload's image files (zip entries counted): stored names
    error: DomainError | None = None  # why it is refused (kind "unknown"), when its bytes already told


KIND_WORDS = {"nifti": "NIfTI", "nrrd": "NRRD", "image": "Image"}
UNSUPPORTED = "Upload DICOM, NIfTI (.nii, .nii.gz), NRRD (.nrrd), PNG, JPEG or TIFF files, or a zip of them."


def _is_junk(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    base = parts[-1].lower() if parts else ""
    return base in JUNK_NAMES or base.startswith(".") or any(p == "__MACOSX" for p in parts)


def _safe_member_path(name: str) -> PurePosixPath:
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":") or ".." in path.parts:
        raise InvalidInput(
            f"The zip entry {name!r} would be written outside the upload folder; the zip is refused.",
            details={"file": name},
        )
    return path


def _copy(stream: IO[bytes], dest: Path, budget: list[int], name: str, entry: str) -> Source:
    """Inflate one zip entry into ``dest``, judging it by its head first: an entry that is no image (or a zip
    inside the zip) is not inflated further; a DICOM entry is walked once its first chunk is on disk."""
    source = Source(f"{name}/{entry}", dest)
    head = stream.read(sniff.HEAD_BYTES)
    source.kind = sniff.kind_of(entry, head)
    budget[0] -= len(head)
    with open(dest, "wb") as out:
        out.write(head)
        if source.kind in ("unknown", "zip"):
            source.kind = "unknown"
            return source
        first = True
        while chunk := stream.read(CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise TooLarge(
                    f"{name}: the zip expands to more than {limit('IMPORT_ZIP_MAX_BYTES')} bytes; refused.",
                    details={"file": name},
                )
            out.write(chunk)
            if first and source.kind.startswith("dicom"):
                out.flush()
                try:
                    sniff.check_dicom_structure(dest, source.name, complete=False)
                except DomainError as exc:
                    source.kind, source.error = "unknown", exc
                    return source
            first = False
    return source


def _extract_zip(path: Path, name: str, workdir: Path) -> list[Source]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"{name}: not a readable zip file ({exc}).", details={"file": name}) from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > limit("IMPORT_ZIP_MAX_ENTRIES"):
            raise TooLarge(
                f"{name}: the zip has {len(entries)} entries, more than the limit of "
                f"{limit('IMPORT_ZIP_MAX_ENTRIES')}.",
                details={"file": name},
            )
        declared = sum(entry.file_size for entry in entries)
        if declared > limit("IMPORT_ZIP_MAX_BYTES"):
            raise TooLarge(
                f"{name}: the zip expands to {declared} bytes, more than the limit of "
                f"{limit('IMPORT_ZIP_MAX_BYTES')}.",
                details={"file": name},
            )
        for entry in entries:
            _safe_member_path(entry.filename)
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise InvalidInput(f"{name}: the zip entry {entry.filename!r} is a symbolic link; refused.")
        budget = [limit("IMPORT_ZIP_MAX_BYTES")]
        target = workdir / f"{path.name}.d"
        target.mkdir()
        sources = []
        for index, entry in enumerate(entries):
            if entry.is_dir() or _is_junk(entry.filename):
                continue
            dest = target / f"{index:06d}{_suffix(entry.filename)}"
            try:
                with archive.open(entry) as stream:
                    sources.append(_copy(stream, dest, budget, name, entry.filename))
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise InvalidInput(
                    f"{name}: the zip entry {entry.filename!r} is damaged ({exc}).", details={"file": name}
                ) from exc
        return sources


def _suffix(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".nii.gz"):
        return ".nii.gz"
    return PurePosixPath(lowered).suffix[:10]


def collect_each(
    uploads: list[tuple[str, BinaryIO | Path]], workdir: Path, prefix: str = "upload"
) -> tuple[list[Source], list[Refusal]]:
    """Copy uploads (name, file object or path) into ``workdir``, expanding zips, and classify every file.
    Returns the image files and the refused ones (a zip that cannot be opened safely, a file of no supported
    type); junk (hidden files, folder clutter) is skipped silently."""
    if not uploads:
        raise InvalidInput("No files were uploaded.")
    sources: list[Source] = []
    refused: list[Refusal] = []
    for index, (name, upload) in enumerate(uploads):
        if _is_junk(name):
            continue
        dest = workdir / f"{prefix}{index:05d}{_suffix(name)}"
        if isinstance(upload, Path):
            shutil.copyfile(upload, dest)
        else:
            with open(dest, "wb") as out:
                shutil.copyfileobj(upload, out, CHUNK)
        kind = sniff.kind_of(name, _head(dest))
        if kind == "zip":
            try:
                sources.extend(_extract_zip(dest, name, workdir))
            except DomainError as exc:
                refused.append(Refusal.of(name, exc))
            dest.unlink()
        else:
            sources.append(Source(name, dest, kind))
    for source in sources:
        if source.kind.startswith("dicom"):
            try:
                sniff.check_dicom_structure(source.path, source.name)
            except DomainError as exc:
                source.kind, source.error = "unknown", exc
        if source.error is not None:
            refused.append(Refusal.of(source.name, source.error))
        elif source.kind == "unknown":
            error = UnsupportedMedia(f"Unsupported file type: {source.name}. {UNSUPPORTED}")
            refused.append(Refusal(source.name, f"unsupported file type. {UNSUPPORTED}", error))
    sources = [s for s in sources if s.kind not in ("junk", "unknown")]
    for position, source in enumerate(sources, start=1):
        source.index = position
    if not sources and not refused:
        raise InvalidInput("The upload holds no image files.")
    return sources, refused


def collect(
    uploads: list[tuple[str, BinaryIO | Path]], workdir: Path, prefix: str = "upload"
) -> list[Source]:
    """:func:`collect_each`, refusing the whole upload at the first refused file."""
    sources, refused = collect_each(uploads, workdir, prefix)
    if refused:
        raise refused[0].error
    return sources


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(sniff.HEAD_BYTES)
