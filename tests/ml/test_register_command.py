"""`manage.py register_checkpoint`: a good file is recorded with its SHA-256, a wrong one is refused."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from django.core.management import CommandError, call_command

from tests.ml.conftest import TINY_NAME


def test_a_checkpoint_in_the_official_layout_is_registered_with_its_sha256(
    tiny_checkpoint, settings, tmp_path
):
    settings.MODEL_DIR = tmp_path / "models"
    path, _ = tiny_checkpoint
    call_command("register_checkpoint", TINY_NAME, str(path))
    registry = json.loads((tmp_path / "models" / "checkpoints.json").read_text())
    assert registry[TINY_NAME]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_wrong_file_is_refused_naming_the_file_and_nothing_is_recorded(tiny_checkpoint, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    path, model = tiny_checkpoint
    state = model.state_dict()
    state.pop(next(iter(state)))
    wrong = tmp_path / "wrong.pth"
    torch.save(state, wrong)
    with pytest.raises(CommandError, match="wrong.pth"):
        call_command("register_checkpoint", TINY_NAME, str(wrong))
    assert not (tmp_path / "models" / "checkpoints.json").exists()


def test_an_unknown_model_name_is_refused(tmp_path):
    with pytest.raises(CommandError, match="Unknown model 'gpt'"):
        call_command("register_checkpoint", "gpt", str(tmp_path / "x.pth"))
