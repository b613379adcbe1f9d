"""The process-wide predictor and its environment settings."""

from __future__ import annotations

import pytest

from ml_worker import serving
from ml_worker.sam.build import register_checkpoint

from .conftest import TINY_NAME


@pytest.fixture
def tiny_env(tiny_checkpoint, tmp_path, monkeypatch):
    path, _ = tiny_checkpoint
    model_dir = tmp_path / "models"
    register_checkpoint(TINY_NAME, path, model_dir / "checkpoints.json")
    monkeypatch.setenv("MODEL_DIR", str(model_dir))
    monkeypatch.setenv("DEFAULT_MODEL", TINY_NAME)
    monkeypatch.setenv("INFERENCE_BACKEND", "torch")
    monkeypatch.setenv("DEVICE", "cpu")
    serving.reset_predictors()
    yield model_dir
    serving.reset_predictors()


def test_defaults_are_auto_and_lite_medsam(monkeypatch):
    for name in ("DEVICE", "INFERENCE_BACKEND", "DEFAULT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = serving.settings_from_env()
    assert (settings.device, settings.backend, settings.default_model) == ("auto", "auto", "lite_medsam")


@pytest.mark.parametrize(
    ("name", "value"), [("DEVICE", "tpu"), ("INFERENCE_BACKEND", "onnx"), ("DEFAULT_MODEL", "x")]
)
def test_invalid_settings_fail_loudly(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(serving.ServingConfigError, match=name):
        serving.settings_from_env()


def test_predictor_is_built_once_per_process(tiny_env, monkeypatch):
    first = serving.get_predictor()
    assert first.describe()["name"] == TINY_NAME and first.describe()["backend"] == "torch"
    assert serving.get_predictor() is first
    monkeypatch.setattr(serving.os, "getpid", lambda: -1)  # as in a forked worker
    assert serving.get_predictor() is not first
