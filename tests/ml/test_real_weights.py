"""LiteMedSAM with the official weights on real lesions (pyradiomics brain1 MR, lung1 CT).

Threshold: measured box-prompt Dice against the reference lesion masks on the 10 lesion slices of brain1
and lung1 is 0.860 mean (torch fp32; 0.827 over all 27 pyradiomics lesion slices, vs ≈0.84 reported for
the original). We require a mean >= 0.80 and every slice >= 0.70: far above what a broken pipeline gives
(measured: skipping the [0, 1] normalisation gives 0.47, leaving boxes in image pixels 0.61), with room
for bf16 variation.
"""

from __future__ import annotations

import numpy as np
import pytest

from ml_worker.embeddings import EmbeddingCache, EmbeddingSignature, image_sha256
from ml_worker.sam import runtime
from ml_worker.sam.build import MODEL_REGISTRY, register_checkpoint
from ml_worker.sam.errors import CheckpointError

from .conftest import dice, lesion_slices

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slices():
    return lesion_slices("brain1") + lesion_slices("lung1")


@pytest.fixture(scope="module")
def embeddings(lite_predictor, slices):
    return [lite_predictor.embed(image) for _, image, _, _ in slices]


def test_auto_backend_on_this_cpu_is_openvino(lite_predictor):
    info = lite_predictor.describe()
    assert info["backend"] == "openvino", info["fallback_reason"]
    assert info["checkpoint_sha256"].startswith("79d8c9dc")
    # The pinned encoder hash is what the loaded weights hash to (build_model refuses a mismatch).
    assert info["encoder_sha256"] == MODEL_REGISTRY["lite_medsam"].encoder_sha256
    assert info["precision"] in ("bf16", "f32")


def test_box_prompts_on_real_lesions_reach_the_measured_dice(lite_predictor, slices, embeddings):
    scores = {}
    for (name, image, mask, box), emb in zip(slices, embeddings, strict=True):
        result = lite_predictor.decode(emb, image.shape[:2], boxes=[box])
        assert result.masks.shape == (1, 1, *mask.shape)
        scores[name] = dice(result.masks[0, 0], mask)
    assert len(scores) == 10
    assert np.mean(list(scores.values())) >= 0.80, scores
    assert min(scores.values()) >= 0.70, scores


def test_optimised_backend_matches_the_torch_reference(
    lite_predictor, reference_predictor, slices, embeddings
):
    rng = np.random.default_rng(0)
    scores = []
    for i in (3, 8):  # brain1 z=14, lung1 z=33
        name, image, mask, box = slices[i]
        boxes = np.vstack([box, box + rng.uniform(-5, 5, (3, 4))])
        ref = reference_predictor.decode(reference_predictor.embed(image), mask.shape, boxes=boxes).masks[
            :, 0
        ]
        ours = lite_predictor.decode(embeddings[i], mask.shape, boxes=boxes).masks[:, 0]
        scores += [dice(a, b) for a, b in zip(ref, ours, strict=True)]
    # bench_model measures ~0.99 mean with OpenVINO bf16; identical arithmetic would give exactly 1.
    assert np.mean(scores) >= 0.98, scores
    assert min(scores) >= 0.93, scores


def test_float16_cached_embedding_gives_the_same_masks(lite_predictor, slices, embeddings, tmp_path):
    name, image, mask, box = slices[8]
    cache = EmbeddingCache(tmp_path)
    sig = EmbeddingSignature.for_predictor(lite_predictor, image_sha256(image), "lung")
    cache.save(sig, embeddings[8])
    fresh = lite_predictor.decode(embeddings[8], mask.shape, boxes=[box], multimask=True)
    cached = lite_predictor.decode(cache.load(sig), mask.shape, boxes=[box], multimask=True)
    for k in range(3):
        assert dice(fresh.masks[0, k], cached.masks[0, k]) >= 0.995


def test_multimask_gives_three_candidates_with_scores(lite_predictor, slices, embeddings):
    name, image, mask, box = slices[5]
    result = lite_predictor.decode(embeddings[5], mask.shape, boxes=[box], multimask=True)
    assert result.masks.shape == (1, 3, *mask.shape) and result.iou.shape == (1, 3)
    assert ((result.iou > 0) & (result.iou < 1.2)).all()
    assert max(dice(result.masks[0, k], mask) for k in range(3)) >= 0.7


def test_openvino_export_is_converted_once_and_reused(lite_predictor, monkeypatch):
    def fail(*_args, **_kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(runtime, "_convert", fail)
    again = runtime.OpenVINORunner(
        lite_predictor.model,
        cache_root=lite_predictor.runner.export_dir.parent.parent,
        key=f"lite_medsam-{lite_predictor.checkpoint_sha256[:16]}",
    )
    x = np.zeros((1, 3, 256, 256), np.float32)
    np.testing.assert_allclose(again.encode(x), lite_predictor.runner.encode(x), atol=1e-5)


def test_litemedsam_file_registered_as_sam_vit_b_is_refused_with_its_keys(lite_weights, tmp_path):
    with pytest.raises(CheckpointError) as err:
        register_checkpoint("sam_vit_b", lite_weights, tmp_path / "reg.json")
    message = str(err.value)
    assert str(lite_weights) in message
    assert "missing keys (first: image_encoder.pos_embed" in message
    assert "unexpected keys (first: image_encoder.patch_embed.seq.0.c.weight" in message
    assert "image_encoder.neck.0.weight: file [256, 320, 1, 1] vs model [256, 768, 1, 1]" in message
