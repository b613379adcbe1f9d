"""Prompts on coronal and sagittal planes, in-process: the model sees the plane resampled to square pixels,
its embedding is cached per plane, and the mask comes back on the plane's voxel grid. Axial keys are those
of before planes existed."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from annotator import inference, rle
from annotator.imaging.volumes import plane_grid
from annotator.messages import DecodeRequest
from annotator.scheduling import ready_key, redis_client, want_key
from annotator.segmentation import latest_key
from ml_worker import planes
from ml_worker.embeddings import EmbeddingCache, EmbeddingStore
from ml_worker.sam.predictor import DecodeResult
from tests.ml.test_planes import sphere, within_one_voxel
from tests.segmentation.conftest import make_series

SHAPE, SPACING = (16, 40, 50), (4.0, 1.0, 0.8)
CENTRE_MM, RADIUS_MM = (31.0, 19.0, 21.0), 11.0


class ThresholdModel:
    """A stand-in model that is right wherever the image is: the bright pixels inside the box. It keeps the
    images it was shown, so a test can see what the encoder got."""

    model_name, encoder_sha256, preprocessing_version = "threshold", "0" * 64, "v0"
    model_version = "threshold-1"

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []

    def embed(self, image: np.ndarray) -> np.ndarray:
        self.images.append(image)
        return np.full((256, 64, 64), len(self.images) - 1, dtype=np.float32)

    def decode(self, embedding, image_size, boxes=None, all_masks=False, **_: object) -> DecodeResult:
        image = self.images[int(embedding[0, 0, 0])]
        assert image.shape[:2] == tuple(image_size)
        x0, y0, x1, y1 = (int(round(v)) for v in boxes[0])
        mask = np.zeros(image_size, dtype=bool)
        mask[y0:y1, x0:x1] = image[y0:y1, x0:x1, 0] > 127
        return DecodeResult(mask[None, None], np.full((1, 1), 0.9, np.float32), np.zeros((1, 1, 256, 256)))


@pytest.fixture
def ball(personas, redis_url, settings, tmp_path, monkeypatch):
    """A CT series holding a sphere (200 HU in -800 HU) of 4 mm slices, and the threshold model."""
    volume = np.where(sphere(SHAPE, SPACING, CENTRE_MM, RADIUS_MM), 200, -800).astype(np.int16)
    series = make_series(personas.project, volume)
    series.spacing = list(SPACING)
    series.save()
    model = ThresholdModel()
    store = inference.SliceEmbeddings(model, EmbeddingStore(EmbeddingCache(tmp_path), 64 * 1024 * 1024))
    monkeypatch.setattr(inference, "embeddings", lambda: store)
    monkeypatch.setattr(inference, "_series_cache", type(inference._series_cache)())
    return series, model


def prompt(series, user, plane: str, index: int, box: list[float], request_id: str) -> DecodeRequest:
    grid = plane_grid(series, plane)
    channel = async_to_sync(get_channel_layer().new_channel)()
    redis_client().set(latest_key(user.id, series.id), request_id)
    return DecodeRequest(
        request_id=request_id,
        user_id=user.id,
        reply_channel=channel,
        series_id=series.id,
        slice_index=index,
        preset="soft_tissue",
        image_shape=grid.display_shape,
        plane=plane,
        box=box,
    )


@pytest.mark.parametrize("plane", ["coronal", "sagittal"])
def test_a_box_on_a_resampled_plane_of_a_sphere_gives_its_voxels_within_one_voxel(personas, ball, plane):
    series, model = ball
    grid = plane_grid(series, plane)
    index = int(CENTRE_MM[1] // SPACING[1]) if plane == "coronal" else int(CENTRE_MM[2] // SPACING[2])
    box = [0.0, 0.0, float(grid.display_cols), float(grid.display_rows)]
    result = inference.decode_prompt(prompt(series, personas.annotator, plane, index, box, "r1"))
    # The model saw the plane on square pixels: 64 mm of 4 mm slices as 64 rows of 1 mm (coronal: 0.8 mm).
    assert model.images[-1].shape == (*grid.display_shape, 3) and grid.display_rows >= 4 * SHAPE[0]
    assert result.plane == plane and result.masks[0].rle.size == [SHAPE[0], grid.cols]
    mask = rle.decode(result.masks[0].rle).astype(bool)
    reference = planes.voxel_plane(sphere(SHAPE, SPACING, CENTRE_MM, RADIUS_MM), plane, index)
    assert reference.any() and within_one_voxel(mask, reference)


def test_each_plane_has_its_own_embedding_and_a_second_prompt_reuses_it(personas, ball):
    series, model = ball
    grid = plane_grid(series, "coronal")
    box = [0.0, 0.0, float(grid.display_cols), float(grid.display_rows)]
    first = inference.decode_prompt(prompt(series, personas.annotator, "coronal", 19, box, "r1"))
    again = inference.decode_prompt(prompt(series, personas.annotator, "coronal", 19, box, "r2"))
    axial = inference.decode_prompt(prompt(series, personas.annotator, "axial", 8, [0, 0, 50, 40], "r3"))
    assert (first.embedding_computed, again.embedding_computed, axial.embedding_computed) == (
        True,
        False,
        True,
    )
    assert [image.shape[:2] for image in model.images] == [grid.display_shape, (40, 50)]
    # Its readiness is kept per plane.
    assert redis_client().sismember(ready_key(series.id, "soft_tissue", _encoder(), "coronal"), 19)
    assert not redis_client().sismember(ready_key(series.id, "soft_tissue", _encoder()), 19)


def _encoder() -> str:
    from annotator.scheduling import scheduler

    return scheduler().encoder_key


def test_axial_slice_hashes_and_scheduler_keys_are_those_of_before_planes(personas, ball):
    series, _ = ball
    before = hashlib.sha256(f"{series.content_hash}:3".encode()).hexdigest()
    assert inference.slice_hash(series, 3) == inference.slice_hash(series, 3, "axial") == before
    others = {inference.slice_hash(series, 3, plane) for plane in ("coronal", "sagittal")}
    assert len(others) == 2 and before not in others
    assert (
        want_key(7, "lung") == "emb:want:7:lung"
        and want_key(7, "lung", "coronal") == "emb:want:7:lung:coronal"
    )
    assert ready_key(7, "lung", "m/encoder@1") == "emb:ready:7:lung:m/encoder@1"
    assert inference.logits_key(1, 7, 3) == "prompt:logits:1:7:3"
    assert inference.logits_key(1, 7, 3, "sagittal") == "prompt:logits:1:7:3:sagittal"
