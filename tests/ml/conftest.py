"""Fixtures for the model layer: a tiny randomly initialised ViT-B-layout model (fast, no files needed) and
session-scoped predictors on the real LiteMedSAM weights (``slow`` tests)."""

from __future__ import annotations

import nrrd
import numpy as np
import pytest
import torch

from ml_worker.sam.build import MODEL_REGISTRY, DecoderConfig, ModelSpec
from ml_worker.sam.modeling import ViTConfig
from ml_worker.sam.predictor import SamPredictor
from ml_worker.sam.transforms import (
    Preprocessing,
    percentile_scale,
    to_model_input,
    window_ct,
)
from ml_worker.windows import WINDOW_PRESETS

TINY_NAME = "tiny_vit_b_test"
TINY_SPEC = ModelSpec(
    name=TINY_NAME,
    encoder=ViTConfig(
        img_size=64,
        patch_size=16,
        embed_dim=32,
        depth=2,
        num_heads=2,
        out_chans=32,
        window_size=2,
        global_attn_indexes=(1,),
    ),
    preprocessing=Preprocessing(
        input_size=64, resize="longest_side", normalize="sam_pixel", version="tiny-v1"
    ),
    decoder=DecoderConfig(
        embed_dim=32,
        mask_in_chans=8,
        transformer_depth=2,
        transformer_mlp_dim=64,
        transformer_heads=2,
        iou_head_hidden_dim=32,
    ),
)


@pytest.fixture
def tiny_spec(monkeypatch) -> ModelSpec:
    """A user-supplied-checkpoint model (like ``sam_vit_b``) small enough to build in milliseconds."""
    monkeypatch.setitem(MODEL_REGISTRY, TINY_NAME, TINY_SPEC)
    return TINY_SPEC


@pytest.fixture
def tiny_checkpoint(tiny_spec, tmp_path):
    """A randomly initialised tiny model saved as a plain state dict in the official key layout."""
    torch.manual_seed(0)
    model = tiny_spec.build().eval()
    with torch.no_grad():  # non-trivial norms and embeddings so that every parameter matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path / "tiny_vit_b.pth"
    torch.save(model.state_dict(), path)
    return path, model


@pytest.fixture
def tiny_predictor(tiny_checkpoint) -> SamPredictor:
    _, model = tiny_checkpoint
    return SamPredictor(TINY_NAME, backend="torch", device="cpu", model=model)


# -- real weights and data ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lite_weights():
    from ml_worker.weights import ensure_lite_medsam

    return ensure_lite_medsam()


@pytest.fixture(scope="session")
def lite_predictor(lite_weights) -> SamPredictor:
    """The serving configuration on this machine (``auto``: OpenVINO on CPU)."""
    return SamPredictor("lite_medsam", backend="auto", device="auto")


@pytest.fixture(scope="session")
def reference_predictor(lite_predictor) -> SamPredictor:
    """PyTorch fp32 on CPU, sharing the loaded weights."""
    return SamPredictor("lite_medsam", backend="torch", device="cpu", model=lite_predictor.model)


def load_case(case: str, ct_window: str = "lung") -> tuple[np.ndarray, np.ndarray]:
    """``(z, y, x)`` uint8 model-input intensities and lesion mask of a pyradiomics case.

    CT (lung*) uses a window preset; MR and the rest are percentile-scaled over the volume, as MedSAM does.
    """
    from scripts.fetch_data import pyradiomics

    root = pyradiomics()
    image, _ = nrrd.read(str(root / f"{case}_image.nrrd"))
    label, _ = nrrd.read(str(root / f"{case}_label.nrrd"))
    image, label = image.transpose(2, 1, 0), label.transpose(2, 1, 0)
    scaled = (
        window_ct(image, *WINDOW_PRESETS[ct_window]) if case.startswith("lung") else percentile_scale(image)
    )
    return scaled, label > 0


def lesion_slices(case: str):
    """``(name, (H, W, 3) uint8, (H, W) bool, box xyxy)`` for every slice of ``case`` containing lesion."""
    volume, mask = load_case(case)
    out = []
    for z in np.flatnonzero(mask.any(axis=(1, 2))):
        ys, xs = np.nonzero(mask[z])
        out.append(
            (f"{case}[{z}]", to_model_input(volume[z]), mask[z], [xs.min(), ys.min(), xs.max(), ys.max()])
        )
    return out


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)
