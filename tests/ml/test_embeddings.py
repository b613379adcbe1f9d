"""The signature-checked embedding cache."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ml_worker.embeddings import (
    CorruptEmbedding,
    EmbeddingCache,
    EmbeddingSignature,
    SignatureMismatch,
    image_sha256,
)

SIG = EmbeddingSignature(
    image_sha256=image_sha256(np.arange(16, dtype=np.uint8).reshape(4, 4)),
    window="soft_tissue",
    model_name="lite_medsam",
    checkpoint_sha256="79d8" + "0" * 60,
    preprocessing_version="lite-area-minmax-pad-v1",
)


@pytest.fixture
def cache(tmp_path) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "embeddings")


def test_saved_embedding_comes_back_as_float16_with_its_values(cache):
    emb = np.random.default_rng(0).normal(size=(256, 64, 64)).astype(np.float32)
    path = cache.save(SIG, emb)
    assert path.suffix == ".npz" and path.is_relative_to(cache.root)
    loaded = cache.load(SIG)
    assert loaded.dtype == np.float16 and loaded.shape == (256, 64, 64)
    np.testing.assert_array_equal(loaded, emb.astype(np.float16))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_missing_embedding_is_none(cache):
    assert cache.load(SIG) is None


@pytest.mark.parametrize("field", ["checkpoint_sha256", "preprocessing_version"])
def test_embedding_from_another_encoder_or_preprocessing_is_refused(cache, field):
    cache.save(SIG, np.ones((2, 2, 2), np.float32))
    newer = replace(SIG, **{field: "changed"})
    assert cache.path_for(newer) == cache.path_for(SIG)  # same slot: the stale file is found...
    with pytest.raises(SignatureMismatch, match=field):  # ...and refused, never used
        cache.load(newer)


def test_colliding_path_with_a_different_window_is_refused(cache):
    cache.save(replace(SIG, window="a/b"), np.ones((2, 2, 2), np.float32))
    with pytest.raises(SignatureMismatch, match="window"):
        cache.load(replace(SIG, window="a_b"))  # both sanitise to the same directory


def test_get_or_compute_computes_once_and_replaces_stale_files(cache):
    calls = []

    def compute():
        calls.append(1)
        return np.full((2, 2, 2), float(len(calls)), np.float32)

    assert cache.get_or_compute(SIG, compute)[0, 0, 0] == 1
    assert cache.get_or_compute(SIG, compute)[0, 0, 0] == 1 and len(calls) == 1
    newer = replace(SIG, checkpoint_sha256="new")
    assert cache.get_or_compute(newer, compute)[0, 0, 0] == 2
    assert cache.load(newer)[0, 0, 0] == 2
    with pytest.raises(SignatureMismatch):
        cache.load(SIG)


def test_corrupt_file_is_reported_and_recomputed(cache):
    path = cache.path_for(SIG)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a zip")
    with pytest.raises(CorruptEmbedding):
        cache.load(SIG)
    assert cache.get_or_compute(SIG, lambda: np.zeros((1, 1, 1), np.float32)).shape == (1, 1, 1)


def test_non_finite_or_overflowing_embeddings_are_not_stored(cache):
    with pytest.raises(ValueError):
        cache.save(SIG, np.array([np.nan], np.float32))
    with pytest.raises(ValueError, match="float16"):
        cache.save(SIG, np.array([1e6], np.float32))


def test_image_hash_depends_on_pixels_dtype_and_shape():
    a = np.zeros((4, 4), np.uint8)
    assert image_sha256(a) == image_sha256(a.copy())
    assert image_sha256(a) != image_sha256(a.reshape(2, 8))
    assert image_sha256(a) != image_sha256(a.astype(np.int8))
    b = a.copy()
    b[3, 3] = 1
    assert image_sha256(a) != image_sha256(b)
