"""The signature-checked embedding cache."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from ml_worker.embeddings import (
    CorruptEmbedding,
    EmbeddingCache,
    EmbeddingSignature,
    EmbeddingStore,
    SignatureMismatch,
    image_sha256,
)

SIG = EmbeddingSignature(
    image_sha256=image_sha256(np.arange(16, dtype=np.uint8).reshape(4, 4)),
    window="soft_tissue",
    model_name="lite_medsam",
    encoder_sha256="36ad" + "0" * 60,
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


@pytest.mark.parametrize("field", ["encoder_sha256", "preprocessing_version"])
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
    newer = replace(SIG, encoder_sha256="new")
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


# The store: memory LRU over the disk cache over a compute callback -------------------------------------
ONE = 256 * 64 * 64 * 2  # bytes of one float16 LiteMedSAM embedding


def sig_of(n: int) -> EmbeddingSignature:
    return replace(SIG, image_sha256=f"{n:064x}")


class Encoder:
    """Counts encoder calls; each embedding is filled with its call number."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return np.full((256, 64, 64), float(self.calls), dtype=np.float32)


def test_an_embedding_is_computed_once_then_served_from_memory_or_disk(cache):
    encode = Encoder()
    store = EmbeddingStore(cache, memory_bytes=64 * ONE)
    first, computed = store.get(SIG, encode)
    again, computed_again = store.get(SIG, encode)
    assert computed and not computed_again and encode.calls == 1
    assert first.dtype == np.float16 and np.array_equal(first, again)
    # A new worker process (empty memory) finds it on disk.
    fresh = EmbeddingStore(cache, memory_bytes=64 * ONE)
    assert fresh.get(SIG, encode)[1] is False and encode.calls == 1
    # Another signature is another embedding.
    assert store.get(replace(SIG, window="lung"), encode)[1] is True and encode.calls == 2


def test_the_memory_cache_stays_within_its_bound(cache):
    store = EmbeddingStore(cache, memory_bytes=2 * ONE)
    for n in range(3):
        store.get(sig_of(n), Encoder())
    assert store.memory_used == 2 * ONE


def test_a_stale_embedding_on_disk_is_refused_and_recomputed(cache):
    # A file at the same path made by another encoder of the same model name.
    cache.save(replace(SIG, encoder_sha256="f" * 64), np.full((256, 64, 64), 99.0, np.float32))
    encode = Encoder()
    embedding, computed = EmbeddingStore(cache, memory_bytes=1).get(SIG, encode)
    assert computed and encode.calls == 1
    assert float(embedding.max()) == 1.0


def test_threads_asking_for_the_same_new_embedding_compute_it_once(cache):
    store = EmbeddingStore(cache, memory_bytes=64 * ONE)
    started = threading.Barrier(4)
    calls: list[int] = []

    def slow_encoder() -> np.ndarray:
        calls.append(1)
        time.sleep(0.05)  # long enough for every thread to be waiting on it
        return np.ones((256, 64, 64), np.float32)

    def ask() -> None:
        started.wait()
        store.get(SIG, slow_encoder)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
