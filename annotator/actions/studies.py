"""Studies and series after import: listing them and their jobs, rendering slices for display, deleting."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import ProtectedError, QuerySet

from annotator.errors import Conflict, InvalidInput, NotFound
from annotator.imaging import render, volumes
from annotator.models import Job, MaskTrack, Project, Series, Study

AXES = ("z", "y", "x")
# Bump when the rendering changes, so browsers drop cached slices.
RENDER_VERSION = "1"


# The project's job list shows the newest jobs; older ones stay reachable by id.
JOB_LIST_SIZE = 100


def studies_of(project: Project) -> QuerySet[Study]:
    return Study.objects.filter(project=project).prefetch_related("series")


def jobs_of(project: Project, *, kind: str | None = None) -> QuerySet[Job]:
    """The project's newest jobs, of one ``kind`` when given."""
    jobs = Job.objects.filter(project=project)
    if kind:
        jobs = jobs.filter(kind=kind)
    return jobs[:JOB_LIST_SIZE]


@dataclass
class Window:
    level: float | None
    width: float | None
    name: str  # preset name, "custom", or "" for colour images


def check_window(series: Series, preset: str | None, level: str | None, width: str | None) -> Window:
    """The window to render with: explicit level/width, else a named preset, else the series' default."""
    if series.is_rgb:
        return Window(None, None, "")
    if level not in (None, "") or width not in (None, ""):
        try:
            lvl, wid = (
                float(level or ""),
                float(width or ""),
            )  # a missing one: ValueError, as for an empty one
        except (TypeError, ValueError) as exc:
            raise InvalidInput("Give both level and width as numbers (e.g. level=40&width=400).") from exc
        if not (np.isfinite(lvl) and np.isfinite(wid)) or wid <= 0:
            raise InvalidInput("The window width must be a positive number and the level finite.")
        return Window(lvl, wid, "custom")
    name = preset or series.default_window
    found = series.window(name) if name else None
    if found is None:
        names = ", ".join(w["name"] for w in series.window_presets) or "none"
        raise InvalidInput(f"Unknown window preset {name!r} for this series; presets: {names}.")
    return Window(float(found["level"]), float(found["width"]), name)


def check_plane(series: Series, axis: str | None, index: int) -> str:
    axis = axis or "z"
    if axis not in AXES:
        raise InvalidInput(f"Unknown axis {axis!r}; use z (the stored slices), y or x.")
    size = volumes.axis_size(series, axis)
    if not 0 <= index < size:
        raise NotFound(f"Slice {index} does not exist; this series has slices 0 to {size - 1} along {axis}.")
    return axis


def check_resliced(series: Series, plane: str, axis: str | None, index: int) -> str:
    """A plane resampled to square pixels (``?plane=``): axial, coronal or sagittal, index in range."""
    if axis:
        raise InvalidInput(
            "Give either axis (a reformat on the stored grid) or plane (square pixels), not both."
        )
    grids = volumes.plane_grids(series)
    if plane not in grids:
        raise InvalidInput(f"Unknown plane {plane!r}; this series has {', '.join(grids)}.")
    depth = grids[plane].depth
    if not 0 <= index < depth:
        raise NotFound(f"Slice {index} does not exist; this series has {plane} slices 0 to {depth - 1}.")
    return plane


def slice_etag(series: Series, *parts: object) -> str:
    text = ":".join(str(p) for p in (RENDER_VERSION, series.content_hash, *parts))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def render_slice_png(series: Series, axis: str, index: int, window: Window) -> bytes:
    plane = volumes.reformat(volumes.load_volume(series), axis, index)
    return render.render_png(plane, window.level, window.width)


def raw_slice(series: Series, axis: str, index: int, *, labels: bool = False) -> tuple[bytes, str, tuple]:
    """(little-endian bytes, dtype name, shape) of one plane of the image or of its reference labels."""
    if labels:
        volume = volumes.load_reference_labels(series)
        if volume is None:
            raise NotFound("This series has no reference label map.")
    else:
        volume = volumes.load_volume(series)
    plane = volumes.reformat(volume, axis, index)
    data, dtype = render.raw_bytes(plane)
    return data, dtype, plane.shape


def raw_plane(series: Series, plane: str, index: int, *, labels: bool = False) -> tuple[bytes, str, tuple]:
    """(little-endian bytes, dtype name, shape) of one plane resampled to square pixels (ml_worker.planes):
    linear for intensities, nearest voxel for the reference labels."""
    if labels and not series.reference_labels:
        raise NotFound("This series has no reference label map.")
    resliced = volumes.load_plane(series, plane, index, labels=labels)
    data, dtype = render.raw_bytes(resliced)
    return data, dtype, resliced.shape


def _files_of(series: Series) -> list[str]:
    return [
        f.name for f in (series.volume, series.thumbnail, series.reference_labels, series.originals) if f.name
    ]


def check_no_masks(series: QuerySet[Series], what: str) -> None:
    """Masks are never lost as a side effect: a series (or study) that has saved masks is not deleted."""
    tracks = MaskTrack.objects.filter(series__in=series, head__isnull=False)
    count = tracks.count()
    if count:
        annotators = sorted(set(tracks.values_list("annotator__username", flat=True)))
        raise Conflict(
            f"This {what} has {count} saved mask{'s' if count != 1 else ''} (by {', '.join(annotators)}); "
            f"deleting it would delete them, so nothing was deleted. Export the masks first if you need them.",
            details={"masks": count, "annotators": annotators},
        )


def _delete(row: Series | Study, what: str) -> None:
    try:
        row.delete()
    except ProtectedError as exc:  # a mask saved since the check: its revisions protect it
        raise Conflict(f"A mask was just saved on this {what}; nothing was deleted.") from exc


@transaction.atomic
def do_delete_series(series: Series) -> None:
    check_no_masks(Series.objects.filter(pk=series.pk), "series")
    files = _files_of(series)
    study = series.study
    _delete(series, "series")
    if not study.series.exists():
        study.delete()
    transaction.on_commit(lambda: volumes.delete_files(files))


@transaction.atomic
def do_delete_study(study: Study) -> None:
    check_no_masks(Series.objects.filter(study=study), "study")
    files = [name for series in study.series.all() for name in _files_of(series)]
    _delete(study, "study")
    transaction.on_commit(lambda: volumes.delete_files(files))
