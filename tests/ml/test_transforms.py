"""Exact answers for the pure transforms on synthetic inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_worker.sam.build import LITE_MEDSAM_PREPROCESSING, MEDSAM_PREPROCESSING
from ml_worker.sam.errors import ImageInputError
from ml_worker.sam.transforms import (
    apply_boxes,
    apply_coords,
    get_preprocess_shape,
    input_geometry,
    pad_to_square,
    percentile_scale,
    postprocess_logits,
    preprocess,
    resize_area,
    to_model_input,
    unapply_boxes,
    unapply_coords,
    window_ct,
)
from ml_worker.windows import WINDOW_PRESETS


def test_window_presets_are_the_documented_level_width_pairs():
    assert WINDOW_PRESETS["soft_tissue"] == (40, 400)
    assert WINDOW_PRESETS["lung"] == (-600, 1500)
    assert WINDOW_PRESETS["bone"] == (400, 1800)
    assert WINDOW_PRESETS["brain"] == (40, 80)


def test_soft_tissue_window_maps_its_edges_to_black_and_white_and_clips_outside():
    hu = np.array([-1000, -160, 40, 140, 240, 3000])
    out = window_ct(hu, 40, 400)
    assert out.dtype == np.uint8
    # -160 → 0, 240 → 255, 40 → 127.5 → 128 (round half to even), 140 → 191.25 → 191
    assert out.tolist() == [0, 0, 128, 191, 255, 255]


def test_window_with_non_positive_width_is_refused():
    with pytest.raises(ImageInputError):
        window_ct(np.zeros((2, 2)), 40, 0)


def test_percentile_scale_uses_nonzero_voxels_and_keeps_background_black():
    volume = np.zeros((10, 10, 10))
    volume[:, :, 5:] = np.arange(1, 501).reshape(10, 10, 5)  # 500 non-zero voxels 1..500
    out = percentile_scale(volume)
    lo, hi = np.percentile(np.arange(1, 501), [0.5, 99.5])
    assert out.dtype == np.uint8
    assert (out[:, :, :5] == 0).all()
    assert (out[volume >= hi] == 255).all() and (out[(volume > 0) & (volume <= lo)] == 0).all()
    expected = np.rint((np.clip(250.0, lo, hi) - lo) * 255 / (hi - lo))
    assert out[volume == 250].item() == expected


def test_percentile_scale_of_a_constant_image_is_black():
    assert (percentile_scale(np.full((4, 4), 7.0)) == 0).all()


def test_grey_slice_becomes_three_identical_channels_and_floats_are_refused():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = to_model_input(grey)
    assert rgb.shape == (3, 4, 3) and all((rgb[..., c] == grey).all() for c in range(3))
    with pytest.raises(ImageInputError):
        to_model_input(grey.astype(np.float32))


def test_area_resize_halving_averages_2x2_blocks_exactly():
    image = np.array([[0, 2, 4, 6], [2, 4, 6, 8], [10, 10, 20, 20], [10, 10, 20, 22]], dtype=np.float32)
    assert resize_area(image, (2, 2)).tolist() == [[2.0, 6.0], [10.0, 20.5]]


def test_area_resize_with_fractional_ratio_weights_partial_pixels():
    # 3 → 2: output 0 covers [0, 1.5): (0·1 + 3·0.5)/1.5 = 1; output 1 covers [1.5, 3): (3·0.5 + 6)/1.5 = 5
    assert resize_area(np.array([[0.0, 3.0, 6.0]]), (1, 2)).tolist() == [[1.0, 5.0]]


def test_area_resize_of_uint8_rounds_to_nearest():
    out = resize_area(np.array([[0, 1], [0, 0]], dtype=np.uint8), (1, 1))
    assert out.dtype == np.uint8 and out.item() == 0  # 0.25 rounds down
    out = resize_area(np.array([[255, 255], [255, 0]], dtype=np.uint8), (1, 1))
    assert out.item() == 191  # 191.25


def test_longest_side_shape_rounds_half_up():
    assert get_preprocess_shape(512, 384, 256) == (256, 192)
    assert get_preprocess_shape(45, 120, 256) == (96, 256)  # 45 · 256/120 = 96.0
    assert get_preprocess_shape(100, 300, 256) == (85, 256)  # 85.33


def test_padding_goes_to_the_bottom_and_right():
    padded = pad_to_square(np.ones((2, 3), dtype=np.float32), 4)
    assert padded.tolist() == [[1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_lite_medsam_input_is_resized_normalised_and_padded():
    image = np.zeros((512, 384, 3), dtype=np.uint8)
    image[:256, :, :] = 200  # top half bright
    image[256:, :, :] = 100
    x, geom = preprocess(image, LITE_MEDSAM_PREPROCESSING)
    assert x.shape == (1, 3, 256, 256) and x.dtype == np.float32
    assert geom.resized_size == (256, 192) and geom.scale_x == geom.scale_y == 0.5
    assert np.allclose(x[0, :, :128, :192], 1.0)  # max → 1
    assert np.allclose(x[0, :, 128:, :192], 0.0)  # min → 0
    assert (x[0, :, :, 192:] == 0).all()  # right padding


def test_coordinates_scale_by_256_over_the_longest_side_and_back_numpy_and_torch():
    geom = input_geometry((384, 512), LITE_MEDSAM_PREPROCESSING)
    boxes = np.array([[100.0, 50.0, 512.0, 384.0]])
    assert apply_boxes(boxes, geom).tolist() == [[50.0, 25.0, 256.0, 192.0]]
    assert np.allclose(unapply_boxes(apply_boxes(boxes, geom), geom), boxes)
    pts = torch.tensor([[[10.0, 20.0], [512.0, 0.0]]])
    out = apply_coords(pts, geom)
    assert isinstance(out, torch.Tensor) and out.tolist() == [[[5.0, 10.0], [256.0, 0.0]]]
    assert torch.allclose(unapply_coords(out, geom), pts)


def test_medsam_stretches_each_axis_to_1024():
    geom = input_geometry((256, 512), MEDSAM_PREPROCESSING)
    assert geom.resized_size == (1024, 1024)
    assert apply_coords(np.array([512.0, 256.0]), geom).tolist() == [1024.0, 1024.0]


def test_low_res_logits_are_cropped_to_the_image_before_resizing():
    geom = input_geometry((128, 256), LITE_MEDSAM_PREPROCESSING)  # resized 128x256 → rows 128.. are padding
    low = torch.full((1, 1, 256, 256), -5.0)
    low[..., :128, 128:] = 5.0  # right half of the real image
    full = postprocess_logits(low, geom)
    assert full.shape == (1, 1, 128, 256)
    mask = (full > 0)[0, 0].numpy()
    assert mask[:, 128:].all() and not mask[:, :128].any()
