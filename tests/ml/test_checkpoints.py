"""Registry and strict checkpoint loading, on a tiny ViT-B-layout model saved like the official files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ml_worker.embeddings import EmbeddingSignature
from ml_worker.sam.build import (
    MODEL_REGISTRY,
    build_model,
    checkpoint_sha256,
    encoder_sha256,
    expected_encoder_sha256,
    get_spec,
    model_version,
    register_checkpoint,
)
from ml_worker.sam.errors import CheckpointError, UnknownModelError
from ml_worker.sam.predictor import SamPredictor
from ml_worker.weights import sha256_of

from .conftest import TINY_NAME


def test_vit_b_models_have_the_official_sam_key_layout_and_shapes():
    with torch.device("meta"):
        state = get_spec("sam_vit_b").build().state_dict()
    assert state["image_encoder.patch_embed.proj.weight"].shape == (768, 3, 16, 16)
    assert state["image_encoder.pos_embed"].shape == (1, 64, 64, 768)
    assert state["image_encoder.blocks.0.attn.rel_pos_h"].shape == (27, 64)  # windowed block, window 14
    assert state["image_encoder.blocks.2.attn.rel_pos_h"].shape == (127, 64)  # global block on the 64x64 grid
    assert state["image_encoder.neck.2.weight"].shape == (256, 256, 3, 3)
    assert state["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"].shape == (2, 128)
    assert state["mask_decoder.output_upscaling.0.weight"].shape == (256, 64, 2, 2)
    assert state["mask_decoder.iou_prediction_head.layers.2.weight"].shape == (4, 256)
    assert not any(k.startswith(("pixel_mean", "pixel_std")) for k in state)


def test_registered_checkpoint_loads_strictly_and_reproduces_the_saved_model(tiny_checkpoint, tmp_path):
    path, original = tiny_checkpoint
    registry = tmp_path / "models" / "checkpoints.json"
    entry = register_checkpoint(TINY_NAME, path, registry)
    assert entry["sha256"] == sha256_of(path)
    assert json.loads(registry.read_text())[TINY_NAME]["path"] == str(path.resolve())
    assert checkpoint_sha256(TINY_NAME, registry_file=registry) == sha256_of(path)

    model = build_model(TINY_NAME, registry_file=registry)
    assert model.checkpoint_sha256 == sha256_of(path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.embed(x), original.embed(x))


def test_unregistered_user_checkpoint_explains_how_to_register(tiny_spec, tmp_path):
    with pytest.raises(CheckpointError, match="register_checkpoint tiny_vit_b_test"):
        build_model(TINY_NAME, registry_file=tmp_path / "none.json")


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(UnknownModelError, match="lite_medsam"):
        build_model("sam_vit_h")


def test_missing_keys_are_named_with_the_file(tiny_checkpoint, tmp_path):
    path, model = tiny_checkpoint
    state = model.state_dict()
    del state["mask_decoder.iou_token.weight"]
    state["image_encoder.extra.weight"] = torch.zeros(1)
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    with pytest.raises(CheckpointError) as err:
        register_checkpoint(TINY_NAME, broken, tmp_path / "reg.json")
    message = str(err.value)
    assert str(broken.resolve()) in message
    assert "mask_decoder.iou_token.weight" in message and "image_encoder.extra.weight" in message
    assert not (tmp_path / "reg.json").exists()  # a refused file is not recorded


def test_wrong_shapes_are_named_with_both_shapes(tiny_checkpoint, tmp_path):
    _, model = tiny_checkpoint
    state = model.state_dict()
    state["image_encoder.pos_embed"] = torch.zeros(1, 8, 8, 32)
    broken = tmp_path / "shape.pth"
    torch.save(state, broken)
    with pytest.raises(
        CheckpointError, match=r"image_encoder.pos_embed: file \[1, 8, 8, 32\] vs model \[1, 4, 4, 32\]"
    ):
        build_model(TINY_NAME, checkpoint=broken)


def test_pickled_objects_are_refused_by_the_weights_only_loader(tiny_spec, tmp_path):
    evil = tmp_path / "evil.pth"
    torch.save({"model": np.dtype}, evil)  # loadable only by a full unpickler
    with pytest.raises(CheckpointError, match="weights-only"):
        build_model(TINY_NAME, checkpoint=evil)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=str(junk)):
        build_model(TINY_NAME, checkpoint=junk)


def test_a_checkpoint_changed_after_registration_is_refused(tiny_checkpoint, tmp_path):
    path, model = tiny_checkpoint
    registry = tmp_path / "reg.json"
    register_checkpoint(TINY_NAME, path, registry)
    state = model.state_dict()
    state["mask_decoder.iou_token.weight"] += 1
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="SHA-256"):
        build_model(TINY_NAME, registry_file=registry)


def test_lite_medsam_is_pinned_to_the_official_sha256():
    assert (
        MODEL_REGISTRY["lite_medsam"].sha256
        == "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
    )
    assert checkpoint_sha256("lite_medsam") == MODEL_REGISTRY["lite_medsam"].sha256


# Identity: what a saved mask records, and what embeddings depend on -------------------------------------
def save_variant(model, path, change: str):
    state = model.state_dict()
    state[change] = state[change] + 1
    torch.save(state, path)
    return path


def signature(predictor: SamPredictor) -> EmbeddingSignature:
    return EmbeddingSignature.for_predictor(predictor, "0" * 64, "soft_tissue")


def test_a_decoder_only_fine_tune_keeps_every_embedding_but_is_a_new_model_version(tiny_checkpoint, tmp_path):
    path, model = tiny_checkpoint
    tuned = save_variant(model, tmp_path / "tuned.pth", "mask_decoder.iou_token.weight")
    retrained = save_variant(model, tmp_path / "encoder.pth", "image_encoder.patch_embed.proj.weight")
    base, fine, other = (
        SamPredictor(TINY_NAME, backend="torch", device="cpu", checkpoint=p) for p in (path, tuned, retrained)
    )
    assert signature(fine) == signature(base)
    assert fine.model_version != base.model_version
    assert fine.model_version == f"{TINY_NAME}@{sha256_of(tuned)[:12]}"
    assert signature(other) != signature(base)
    assert other.encoder_sha256 != base.encoder_sha256


def test_the_encoder_hash_ignores_key_order_and_sees_dtype_and_shape(tiny_checkpoint):
    _, model = tiny_checkpoint
    state = model.state_dict()
    assert encoder_sha256(dict(reversed(list(state.items())))) == encoder_sha256(state)
    key = "image_encoder.patch_embed.proj.weight"
    assert encoder_sha256({**state, key: state[key].double()}) != encoder_sha256(state)
    assert encoder_sha256({**state, key: state[key].reshape(-1)}) != encoder_sha256(state)


def test_registration_records_the_encoder_hash_so_the_web_side_needs_no_model(tiny_checkpoint, tmp_path):
    path, model = tiny_checkpoint
    registry = tmp_path / "reg.json"
    entry = register_checkpoint(TINY_NAME, path, registry)
    assert entry["encoder_sha256"] == encoder_sha256(model.state_dict())
    assert expected_encoder_sha256(TINY_NAME, registry_file=registry) == entry["encoder_sha256"]
    assert build_model(TINY_NAME, registry_file=registry).encoder_sha256 == entry["encoder_sha256"]


def test_lite_medsam_pins_its_encoder_hash_too():
    assert expected_encoder_sha256("lite_medsam") == MODEL_REGISTRY["lite_medsam"].encoder_sha256
    assert model_version("lite_medsam", MODEL_REGISTRY["lite_medsam"].sha256) == "lite_medsam@79d8c9dca6db"
