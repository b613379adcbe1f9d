"""Real LiteMedSAM weights and a few real embedded cases (pyradiomics brain tumour MR, two volumes) for the
``slow`` training tests; built once per session."""

from __future__ import annotations

import pytest

from ml_worker.training.cases import TrainingCase


@pytest.fixture(scope="session")
def lite_parent():
    from ml_worker.sam.build import build_model
    from ml_worker.weights import ensure_lite_medsam

    ensure_lite_medsam()
    return build_model("lite_medsam")


@pytest.fixture(scope="session")
def serving_parent(lite_parent):
    """LiteMedSAM on the serving backend (OpenVINO on this CPU), converted in ``MODEL_DIR`` once."""
    from ml_worker.sam.predictor import SamPredictor

    return SamPredictor("lite_medsam", backend="auto", device="cpu")


@pytest.fixture(scope="session")
def real_cases(serving_parent) -> list[TrainingCase]:
    """The 10 axial tumour slices of brain1 (7) and brain2 (3), embedded by the serving encoder."""
    from scripts.bench_decoder_precision import brain_cases

    cases = brain_cases(serving_parent)
    assert len(cases) == 10
    return cases


@pytest.fixture(scope="session")
def lite_weights_file():
    from ml_worker.weights import ensure_lite_medsam

    return ensure_lite_medsam()
