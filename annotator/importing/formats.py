"""NIfTI, NRRD and 2D image files (PNG, JPEG, TIFF) into canonical arrays.

Each format has a cheap ``inspect_*`` (header only: validates and counts slices, run inside the upload request)
and a ``read_*`` that decodes the pixels into an ``Oriented`` array (run in the request or in a worker).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
from nibabel.spatialimages import SpatialImage
from PIL import Image, UnidentifiedImageError

from annotator.errors import InvalidInput, TooLarge
from annotator.imaging.limits import limit
from annotator.imaging.orientation import RAS_TO_LPS, Oriented, canonicalize
from annotator.imaging.volumes import narrowest_dtype

NIFTI1_MAGICS = (b"n+1\x00", b"ni1\x00")
NIFTI2_MAGICS = (b"n+2\x00", b"ni2\x00")


@dataclass
class Header:
    """What the upload request learns from a file's header."""

    shape: tuple[int, int, int]  # (x, y, z)
    slices: int


def _check_size(name: str, shape: tuple[int, ...]) -> None:
    x, y = shape[0], shape[1]
    z = shape[2] if len(shape) > 2 else 1
    if x * y > limit("IMPORT_MAX_PIXELS"):
        raise TooLarge(
            f"{name}: {x}x{y} pixels per slice is over the limit of {limit('IMPORT_MAX_PIXELS')} pixels.",
            details={"file": name},
        )
    if x * y * z > limit("IMPORT_MAX_VOXELS"):
        raise TooLarge(
            f"{name}: {x}x{y}x{z} voxels is over the limit of {limit('IMPORT_MAX_VOXELS')} voxels per series.",
            details={"file": name},
        )


def _spatial_shape(name: str, shape: tuple[int, ...]) -> tuple[int, int, int]:
    dims = tuple(int(v) for v in shape)
    while len(dims) > 3 and dims[-1] == 1:
        dims = dims[:-1]
    if len(dims) > 3:
        raise InvalidInput(
            f"{name}: a {len(dims)}-D image (shape {dims}) cannot be imported; split it into 3D volumes first.",
            details={"file": name},
        )
    if any(d <= 0 for d in dims) or len(dims) < 2:
        raise InvalidInput(f"{name}: the header gives an empty image (shape {dims}).", details={"file": name})
    if len(dims) == 2:
        return dims[0], dims[1], 1
    x, y, z = dims
    return x, y, z


# -- NIfTI ---------------------------------------------------------------------------------------------


def _nifti_head(path: Path, name: str) -> bytes:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            return handle.read(544)
    except (OSError, EOFError) as exc:
        raise InvalidInput(f"{name}: the NIfTI file cannot be read ({exc}).", details={"file": name}) from exc


def looks_like_nifti(path: Path) -> bool:
    head = _nifti_head(path, path.name)
    return head[344:348] in NIFTI1_MAGICS or head[4:8] in NIFTI2_MAGICS


def _load_nifti(path: Path, name: str) -> tuple[SpatialImage, tuple[int, ...]]:
    try:
        image = nib.load(str(path))
        if not isinstance(image, SpatialImage):
            raise TypeError(f"a {type(image).__name__}, not an image with an affine")
        shape = image.shape
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for bad headers
        raise InvalidInput(f"{name}: the NIfTI header is broken ({exc}).", details={"file": name}) from exc
    return image, shape


def inspect_nifti(path: Path, name: str) -> Header:
    head = _nifti_head(path, name)
    if head[344:348] not in NIFTI1_MAGICS and head[4:8] not in NIFTI2_MAGICS:
        raise InvalidInput(f"{name}: the NIfTI header is broken (no NIfTI magic).", details={"file": name})
    image, shape = _load_nifti(path, name)
    spatial = _spatial_shape(name, shape)
    _check_size(name, spatial)
    if not np.all(np.isfinite(image.affine)) or abs(np.linalg.det(image.affine[:3, :3])) < 1e-12:
        raise InvalidInput(f"{name}: the NIfTI header has no usable orientation.", details={"file": name})
    return Header(spatial, spatial[2])


def read_nifti(path: Path, name: str) -> Oriented:
    image, shape = _load_nifti(path, name)
    spatial = _spatial_shape(name, shape)
    try:
        proxy = image.dataobj
        raw = np.asanyarray(proxy.get_unscaled()) if hasattr(proxy, "get_unscaled") else np.asanyarray(proxy)
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput(
            f"{name}: the NIfTI data is truncated or damaged ({exc}).", details={"file": name}
        ) from exc
    slope = getattr(proxy, "slope", 1.0)
    inter = getattr(proxy, "inter", 0.0)
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    data = _scaled(raw.reshape(spatial), slope, inter)
    return canonicalize(data, RAS_TO_LPS @ image.affine)


def _scaled(raw: np.ndarray, slope: float, inter: float) -> np.ndarray:
    integral = np.issubdtype(raw.dtype, np.integer) and slope.is_integer() and inter.is_integer()
    if np.issubdtype(raw.dtype, np.bool_):
        return raw.astype(np.uint8)
    lo, hi = float(raw.min()) * slope + inter, float(raw.max()) * slope + inter
    dtype = narrowest_dtype(min(lo, hi), max(lo, hi), integral)
    if slope == 1.0 and inter == 0.0:
        return raw.astype(dtype, copy=False)
    work = np.int64 if integral else np.float64
    return (raw.astype(work) * slope + inter).astype(dtype)


# -- NRRD ----------------------------------------------------------------------------------------------

SPACES = {
    "left-posterior-superior": (1, 1, 1),
    "lps": (1, 1, 1),
    "right-anterior-superior": (-1, -1, 1),
    "ras": (-1, -1, 1),
    "left-anterior-superior": (1, -1, 1),
    "las": (1, -1, 1),
}


def _nrrd_header(path: Path, name: str) -> dict:
    try:
        with open(path, "rb") as handle:
            return nrrd.read_header(handle)
    except Exception as exc:  # noqa: BLE001 - pynrrd raises NRRDError and others
        raise InvalidInput(f"{name}: the NRRD header is broken ({exc}).", details={"file": name}) from exc


def inspect_nrrd(path: Path, name: str) -> Header:
    header = _nrrd_header(path, name)
    if header.get("data file") or header.get("datafile"):
        raise InvalidInput(
            f"{name}: detached NRRD headers (.nhdr) are not supported; use a single .nrrd file."
        )
    spatial = _spatial_shape(name, tuple(header.get("sizes", ())))
    _check_size(name, spatial)
    return Header(spatial, spatial[2])


def _nrrd_affine(header: dict) -> np.ndarray | None:
    space = str(header.get("space", "")).lower()
    directions = header.get("space directions")
    if space not in SPACES or directions is None:
        return None
    rows = [np.asarray(d, dtype=float) for d in directions if d is not None and np.all(np.isfinite(d))]
    if len(rows) < 2:
        return None
    affine = np.eye(4)
    for axis, vector in enumerate(rows[:3]):
        affine[:3, axis] = vector[:3] * np.array(SPACES[space])
    if len(rows) == 2:
        affine[:3, 2] = np.cross(affine[:3, 0], affine[:3, 1])
        affine[:3, 2] /= np.linalg.norm(affine[:3, 2]) or 1.0
    origin = header.get("space origin")
    if origin is not None:
        affine[:3, 3] = np.asarray(origin, dtype=float)[:3] * np.array(SPACES[space])
    return affine


def read_nrrd(path: Path, name: str) -> Oriented:
    header = _nrrd_header(path, name)
    spatial = _spatial_shape(name, tuple(header.get("sizes", ())))
    try:
        with open(path, "rb") as handle:
            nrrd.read_header(handle)
            data = nrrd.read_data(header, handle, str(path), index_order="F")
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput(
            f"{name}: the NRRD data is truncated or damaged ({exc}).", details={"file": name}
        ) from exc
    data = _scaled(np.asarray(data).reshape(spatial, order="A"), 1.0, 0.0)
    affine = _nrrd_affine(header)
    if affine is None:
        spacings = [float(s) for s in header.get("spacings", [1.0, 1.0, 1.0])][:3]
        affine = np.diag([*(spacings + [1.0] * (3 - len(spacings))), 1.0])
        return canonicalize(data, affine, in_patient_frame=False)
    return canonicalize(data, affine)


# -- PNG / JPEG / TIFF ---------------------------------------------------------------------------------


def _open_image(path: Path, name: str) -> Image.Image:
    """Open an image, reading only its header. Pillow refuses a header that declares more than twice its
    MAX_IMAGE_PIXELS (a decompression bomb: a 20000×20000 PNG of a few hundred KB) before decoding."""
    try:
        return Image.open(path)
    except Image.DecompressionBombError as exc:
        raise TooLarge(
            f"{name}: the image declares more pixels than the limit of {limit('IMPORT_MAX_PIXELS')}.",
            details={"file": name},
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidInput(f"{name}: the image file cannot be read.", details={"file": name}) from exc
    except OSError as exc:
        raise InvalidInput(f"{name}: the image file cannot be read ({exc}).", details={"file": name}) from exc


def inspect_image(path: Path, name: str) -> Header:
    with _open_image(path, name) as image:
        width, height = image.size
        frames = int(getattr(image, "n_frames", 1) or 1)
    _check_size(name, (width, height, frames))
    return Header((width, height, frames), frames)


def _plane(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("RGB", "L", "I;16", "I;16B", "I;16L", "I", "F"):
        pixels = np.asarray(image)
    elif mode in ("RGBA", "CMYK", "YCbCr", "P", "PA", "LAB", "HSV"):
        pixels = np.asarray(image.convert("RGB"))
    else:  # "1", "LA", ...
        pixels = np.asarray(image.convert("L"))
    if pixels.dtype.byteorder == ">":
        pixels = pixels.astype(pixels.dtype.newbyteorder("<"))
    return pixels


def read_image(path: Path, name: str) -> Oriented:
    planes = []
    with _open_image(path, name) as image:
        try:
            for index in range(int(getattr(image, "n_frames", 1) or 1)):
                image.seek(index)
                planes.append(_plane(image))
        except (OSError, ValueError, SyntaxError) as exc:
            raise InvalidInput(
                f"{name}: the image is truncated or damaged ({exc}).", details={"file": name}
            ) from exc
    if len({p.shape for p in planes}) > 1:
        raise InvalidInput(f"{name}: the pages of this TIFF differ in size.", details={"file": name})
    stack = np.stack(planes)
    if stack.ndim == 4 and len(planes) > 1:  # colour page stacks become grey volumes (BT.601 luminance)
        stack = (stack @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).round().astype(np.uint8)
    if stack.ndim == 3 and stack.dtype not in (np.uint8, np.uint16, np.int16, np.float32):
        lo, hi = float(stack.min()), float(stack.max())
        integral = np.issubdtype(stack.dtype, np.integer)
        stack = stack.astype(narrowest_dtype(lo, hi, integral))
    return Oriented(np.ascontiguousarray(stack), np.eye(4), (1.0, 1.0, 1.0), "")
