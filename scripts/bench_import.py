"""Benchmark: import a 512x512x200 CT series and render slices.

The series is synthesised from real DICOM headers (pydicom's CT_small.dcm) with a 512x512 pixel array and
200 slice positions; the pixels are a smooth phantom plus noise so compression and windowing see realistic
data. The import goes through the same action the API uses (upload → de-identify → stage → the worker's
function), on a throwaway database and media folder. Last line: JSON
{"import_seconds": ..., "slices": ..., "render_ms": ..., ...}.

    .venv/bin/python -m scripts.bench_import [--slices 200] [--size 512]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def synthesise(folder: Path, slices: int, size: int) -> list[Path]:
    import numpy as np
    import pydicom
    from pydicom.uid import generate_uid

    from scripts.fetch_data import pydicom_file

    template = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    yy, xx = np.mgrid[0:size, 0:size]
    body = ((xx - size / 2) ** 2 / (0.42 * size) ** 2 + (yy - size / 2) ** 2 / (0.35 * size) ** 2) < 1
    lungs = ((np.abs(xx - size / 2) - 0.17 * size) ** 2 + (yy - size / 2) ** 2) < (0.12 * size) ** 2
    rng = np.random.default_rng(0)
    series_uid, study_uid = generate_uid(), generate_uid()
    paths = []
    for k in range(slices):
        hu = np.full((size, size), -1000, dtype=np.int16)
        hu[body] = 40
        hu[lungs & body] = -850
        hu += rng.normal(0, 15, hu.shape).astype(np.int16)
        ds = template.copy()
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (hu + 1024).astype(np.int16).tobytes()
        ds.ImagePositionPatient = [-250.0, -250.0, -300.0 + 1.25 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.9765625, 0.9765625]
        ds.SliceThickness = 1.25
        ds.InstanceNumber = k + 1
        ds.SeriesInstanceUID, ds.StudyInstanceUID = series_uid, study_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"ct_{k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--renders", type=int, default=100)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="delineate-bench-import-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="webapp.settings",
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}",
        MEDIA_ROOT=str(work / "media"),
    )
    import django
    from django.conf import settings

    django.setup()
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from unittest import mock

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from annotator.actions import imports, studies
    from annotator.actions.projects import do_create_project
    from annotator.imaging import render, volumes
    from annotator.models import Series
    from webapp.celery import app as celery_app

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create(username="bench")
    project = do_create_project(user, "bench")
    print(f"synthesising {args.slices} slices of {args.size}x{args.size} in {work} ...", file=sys.stderr)
    (work / "dicom").mkdir()
    paths = synthesise(work / "dicom", args.slices, args.size)
    uploads = [(p.name, open(p, "rb")) for p in paths]  # noqa: SIM115 - closed below

    started = time.perf_counter()
    with mock.patch.object(celery_app, "send_task"):
        job = imports.do_import(user, project, uploads)
    request_seconds = time.perf_counter() - started
    job = imports.run_import_job(job.id) if job.state == "pending" else job
    import_seconds = time.perf_counter() - started
    for _, handle in uploads:
        handle.close()
    if job.state != "done":
        raise SystemExit(f"import failed: {job.error}")
    series = Series.objects.get(pk=job.result["series"][0])

    window = studies.check_window(series, "soft_tissue", None, None)
    png_ms, raw_ms = [], []
    for i in range(args.renders):
        index = (i * 37) % series.num_slices
        t0 = time.perf_counter()
        studies.render_slice_png(series, "z", index, window)
        png_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        studies.raw_slice(series, "z", index)
        raw_ms.append((time.perf_counter() - t0) * 1000)
    volume = volumes.load_volume(series)
    t0 = time.perf_counter()
    render.render_png(volumes.reformat(volume, "y", series.shape[1] // 2), 40, 400)
    coronal_ms = (time.perf_counter() - t0) * 1000

    result = {
        "import_seconds": round(import_seconds, 3),
        "request_seconds": round(request_seconds, 3),
        "slices": series.num_slices,
        "shape": series.shape,
        "dtype": series.dtype,
        "render_ms": round(statistics.median(png_ms), 2),
        "render_ms_p95": round(sorted(png_ms)[int(0.95 * len(png_ms)) - 1], 2),
        "raw_slice_ms": round(statistics.median(raw_ms), 2),
        "coronal_render_ms": round(coronal_ms, 2),
        "targets": {"import_seconds": 10, "render_ms": 20},
    }
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
