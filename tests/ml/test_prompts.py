"""Decoding prompts: batching, clipping, validation, and agreement with the upstream prompt-encoder path.

Uses the tiny random model: these are properties of the prompt plumbing, not of trained weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_worker.sam.errors import ImageInputError, PromptError
from ml_worker.sam.transforms import apply_boxes, apply_coords, input_geometry

H, W = 48, 64


@pytest.fixture
def emb(tiny_predictor):
    rng = np.random.default_rng(1)
    return tiny_predictor.embed(rng.integers(0, 256, (H, W, 3), dtype=np.uint8))


def test_embedding_and_decode_shapes(tiny_predictor, emb):
    assert emb.shape == (32, 4, 4) and emb.dtype == np.float32
    res = tiny_predictor.decode(emb, (H, W), boxes=[[5, 5, 30, 40], [10, 2, 60, 20]])
    assert res.masks.shape == (2, 1, H, W) and res.masks.dtype == bool
    assert res.iou.shape == (2, 1) and res.low_res_logits.shape == (2, 1, 16, 16)
    multi = tiny_predictor.decode(emb, (H, W), boxes=[5, 5, 30, 40], multimask=True)
    assert multi.masks.shape == (1, 3, H, W) and multi.iou.shape == (1, 3)


def test_several_boxes_in_one_batch_equal_decoding_each_alone(tiny_predictor, emb):
    boxes = np.array([[5, 5, 30, 40], [10, 2, 60, 20], [0, 0, 64, 48]], dtype=float)
    batch = tiny_predictor.decode(emb, (H, W), boxes=boxes)
    for i, box in enumerate(boxes):
        alone = tiny_predictor.decode(emb, (H, W), boxes=box)
        np.testing.assert_allclose(batch.low_res_logits[i], alone.low_res_logits[0], atol=1e-5)


def test_box_reaching_outside_the_image_is_clipped(tiny_predictor, emb):
    outside = tiny_predictor.decode(emb, (H, W), boxes=[[-20, 10, 200, 30]])
    clipped = tiny_predictor.decode(emb, (H, W), boxes=[[0, 10, W, 30]])
    np.testing.assert_array_equal(outside.low_res_logits, clipped.low_res_logits)


def test_mask_input_is_used_as_a_prompt(tiny_predictor, emb):
    first = tiny_predictor.decode(emb, (H, W), boxes=[[5, 5, 30, 40]])
    refined = tiny_predictor.decode(emb, (H, W), boxes=[[5, 5, 30, 40]], mask_input=first.low_res_logits)
    assert refined.masks.shape == first.masks.shape
    assert not np.allclose(refined.low_res_logits, first.low_res_logits)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"boxes": [[30, 5, 10, 40]]}, "inverted"),
        ({"boxes": [[100, 100, 120, 130]]}, "empty"),
        ({"boxes": [[5, 5, 5, 40]]}, "empty"),
        ({"boxes": [[np.nan, 5, 30, 40]]}, "NaN"),
        ({"boxes": [[5, 5, 30]]}, "shape"),
        ({"points": [[10, 10]]}, "point_labels"),
        ({"point_labels": [1]}, "without points"),
        ({"points": [[10, np.inf]], "point_labels": [1]}, "NaN"),
        ({"points": [[10, 10]], "point_labels": [2]}, "labels"),
        ({"points": [[10, 10], [5, 5]], "point_labels": [1]}, "does not match"),
        ({"points": [[-3, 10]], "point_labels": [1]}, "inside"),
        ({"boxes": [[5, 5, 30, 40]] * 2, "points": [[[10, 10]]], "point_labels": [[1]]}, "batch sizes"),
        ({"mask_input": np.zeros((1, 1, 8, 8))}, "mask_input"),
        ({}, "at least one prompt"),
    ],
)
def test_bad_prompts_raise_a_clear_prompt_error(tiny_predictor, emb, kwargs, message):
    with pytest.raises(PromptError, match=message) as err:
        tiny_predictor.decode(emb, (H, W), **kwargs)
    assert isinstance(err.value, ValueError)


def test_wrong_images_and_embeddings_are_refused(tiny_predictor, emb):
    with pytest.raises(ImageInputError):
        tiny_predictor.embed(np.zeros((8, 8, 3), dtype=np.float32))
    with pytest.raises(ImageInputError):
        tiny_predictor.decode(emb[:, :2], (H, W), boxes=[0, 0, 5, 5])


def test_unified_decoder_matches_the_upstream_prompt_encoder_path(tiny_predictor, emb):
    """Points + box through ``PromptEncoder.forward``/``MaskDecoder.forward`` (upstream API) give the same
    single-mask logits as the predictor, which encodes boxes as labelled corner points."""
    model = tiny_predictor.model
    geom = input_geometry((H, W), tiny_predictor.spec.preprocessing)
    points = np.array([[[12.0, 20.0], [40.0, 30.0]]])
    labels = np.array([[1, 0]])
    box = np.array([[5.0, 5.0, 50.0, 44.0]])
    ours = tiny_predictor.decode(emb, (H, W), boxes=box, points=points, point_labels=labels)
    with torch.no_grad():
        coords = torch.tensor(apply_coords(points, geom), dtype=torch.float32)
        sparse, dense = model.prompt_encoder(
            (coords, torch.tensor(labels)), torch.tensor(apply_boxes(box, geom), dtype=torch.float32), None
        )
        upstream, iou = model.mask_decoder(
            torch.from_numpy(emb)[None],
            model.prompt_encoder.get_dense_pe(),
            sparse,
            dense,
            multimask_output=False,
        )
    np.testing.assert_allclose(ours.low_res_logits, upstream.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.iou, iou.numpy(), atol=1e-6)


def test_points_alone_get_the_upstream_padding_point(tiny_predictor, emb):
    model = tiny_predictor.model
    geom = input_geometry((H, W), tiny_predictor.spec.preprocessing)
    points, labels = np.array([[[12.0, 20.0]]]), np.array([[1]])
    ours = tiny_predictor.decode(emb, (H, W), points=points, point_labels=labels)
    with torch.no_grad():
        coords = torch.tensor(apply_coords(points, geom), dtype=torch.float32)
        sparse, dense = model.prompt_encoder((coords, torch.tensor(labels)), None, None)
        assert sparse.shape == (1, 2, 32)
        upstream, _ = model.mask_decoder(
            torch.from_numpy(emb)[None],
            model.prompt_encoder.get_dense_pe(),
            sparse,
            dense,
            multimask_output=False,
        )
    np.testing.assert_allclose(ours.low_res_logits, upstream.numpy(), atol=1e-5)
