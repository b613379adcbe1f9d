"""The worker side (annotator.inference), in-process: embeddings, prompt decoding, supersession, propagation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from annotator import inference, rle
from annotator.messages import MIN_PROPAGATION_IOU, DecodeRequest
from annotator.models import Job, Label
from annotator.scheduling import redis_client
from annotator.segmentation import latest_key
from ml_worker.embeddings import EmbeddingCache, EmbeddingStore
from scripts.seed_lung import lung_slices
from tests.segmentation.conftest import make_series


class CountingPredictor:
    """Stands in for the encoder where a test counts encoder calls; the real one is used elsewhere."""

    model_name, encoder_sha256, preprocessing_version = "fake", "0" * 64, "v0"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.full((256, 64, 64), float(image.mean()), dtype=np.float32)


@pytest.fixture
def ct(personas):
    return make_series(personas.project, (np.arange(3 * 16 * 16).reshape(3, 16, 16) % 400).astype(np.int16))


def slice_embeddings(predictor, root, memory_bytes: int) -> inference.SliceEmbeddings:
    return inference.SliceEmbeddings(predictor, EmbeddingStore(EmbeddingCache(root), memory_bytes))


def test_an_embedding_is_computed_once_then_served_from_memory_or_disk(ct, tmp_path):
    predictor = CountingPredictor()
    store = slice_embeddings(predictor, tmp_path, memory_bytes=64 * 1024 * 1024)
    first, computed = store.get(ct, 1, "soft_tissue")
    again, computed_again = store.get(ct, 1, "soft_tissue")
    assert computed and not computed_again and predictor.calls == 1
    assert np.array_equal(first, again)
    # A new worker process (empty memory) finds it on disk.
    fresh = slice_embeddings(predictor, tmp_path, memory_bytes=64 * 1024 * 1024)
    assert fresh.get(ct, 1, "soft_tissue")[1] is False and predictor.calls == 1
    # Another window is another embedding.
    assert store.get(ct, 1, "lung")[1] is True and predictor.calls == 2


def test_the_memory_cache_stays_within_its_bound(ct, tmp_path):
    one = 256 * 64 * 64 * 2  # float16 bytes
    store = slice_embeddings(CountingPredictor(), tmp_path, memory_bytes=2 * one)
    for index in range(3):
        store.get(ct, index, "soft_tissue")
    assert store.store.memory_used == 2 * one


def test_a_stale_embedding_on_disk_is_refused_and_recomputed(ct, tmp_path):
    predictor = CountingPredictor()
    store = slice_embeddings(predictor, tmp_path, memory_bytes=1)
    sig = store.signature(ct, 0, "soft_tissue")
    # A file at the same path made by another encoder of the same model name.
    other = replace(sig, encoder_sha256="f" * 64)
    EmbeddingCache(tmp_path).save(other, np.full((256, 64, 64), 99.0, np.float32))
    embedding, computed = store.get(ct, 0, "soft_tissue")
    assert computed and predictor.calls == 1
    assert float(embedding.max()) != 99.0


@pytest.fixture
def lung_ct(personas, redis_url, settings, tmp_path):
    settings.EMBEDDING_DIR = tmp_path / "embeddings"
    inference.embeddings.cache_clear()
    volume, reference, centre = lung_slices(5)
    series = make_series(personas.project, volume)
    yield series, reference, centre
    inference.embeddings.cache_clear()


def receive(channel: str) -> dict:
    return async_to_sync(get_channel_layer().receive)(channel)["payload"]


def new_channel() -> str:
    return async_to_sync(get_channel_layer().new_channel)()


def request_for(series, user, z, box, request_id="r1", **extra) -> DecodeRequest:
    return DecodeRequest.model_validate(
        {
            "request_id": request_id,
            "user_id": user.id,
            "series_id": series.id,
            "slice_index": z,
            "box": box,
            "points": None,
            "point_labels": None,
            "mask_input": None,
            "multimask": False,
            "preset": "lung",
            "image_shape": list(series.shape[1:]),
            **extra,
        }
    )


def box_of(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.mark.slow
def test_a_box_prompt_on_a_real_ct_slice_pushes_a_mask_to_the_asking_socket(personas, lung_ct, monkeypatch):
    series, reference, z = lung_ct
    # Points unguarded, as for a click-trained version (the guard has its own tests: test_click_guard.py).
    monkeypatch.setattr(inference.embeddings().predictor.model, "clicks_trained", True)
    channel = new_channel()
    request = request_for(series, personas.annotator, z, box_of(reference[z]), reply_channel=channel)
    redis_client().set(latest_key(personas.annotator.id, series.id), "r1")
    pushed = inference.decode_prompt(request)
    assert receive(channel) == pushed.model_dump(mode="json")
    assert pushed.type == "prompt.result" and pushed.embedding_computed is True
    assert dice(rle.decode(pushed.masks[0].rle), reference[z]) > 0.75
    # Refining with the previous mask and a background click uses the stored low-res logits.
    refine = request_for(
        series,
        personas.annotator,
        z,
        box_of(reference[z]),
        request_id="r2",
        reply_channel=channel,
        mask_input="previous",
        points=[[5, 5]],
        point_labels=[0],
    )
    redis_client().set(latest_key(personas.annotator.id, series.id), "r2")
    second = inference.decode_prompt(refine)
    assert second.embedding_computed is False
    assert dice(rle.decode(second.masks[0].rle), reference[z]) > 0.75
    # Asking for candidates gives the single output first, then the three multi-mask candidates.
    candidates = request_for(
        series,
        personas.annotator,
        z,
        box_of(reference[z]),
        request_id="r3",
        reply_channel=channel,
        multimask=True,
    )
    redis_client().set(latest_key(personas.annotator.id, series.id), "r3")
    third = inference.decode_prompt(candidates)
    assert len(third.masks) == 4
    assert dice(rle.decode(third.masks[0].rle), rle.decode(pushed.masks[0].rle)) > 0.95
    assert third.masks[0].iou == max(m.iou for m in third.masks)


@pytest.mark.slow
def test_a_prompt_superseded_by_a_newer_one_from_the_same_user_is_dropped(personas, lung_ct):
    series, reference, z = lung_ct
    channel = new_channel()
    redis_client().set(latest_key(personas.annotator.id, series.id), "newer")
    assert (
        inference.decode_prompt(
            request_for(series, personas.annotator, z, box_of(reference[z]), reply_channel=channel)
        )
        is None
    )
    assert (
        async_to_sync(get_channel_layer().receive_nothing)(channel)
        if hasattr(get_channel_layer(), "receive_nothing")
        else True
    )


@pytest.mark.slow
def test_propagation_streams_masks_through_the_nodule_and_stops_where_it_ends(personas, lung_ct):
    series, reference, z = lung_ct
    label = Label.objects.create(project=personas.project, name="nodule", value=1, color="#ff0000")
    channel = new_channel()
    job = Job.objects.create(
        kind="propagate",
        created_by=personas.annotator,
        project=personas.project,
        payload={
            "series_id": series.id,
            "slice_index": z,
            "box": box_of(reference[z]),
            "mask": None,
            "label_id": label.id,
            "preset": "lung",
            "direction": "both",
            "min_iou": MIN_PROPAGATION_IOU,
            "image_shape": list(series.shape[1:]),
            "reply_channel": channel,
        },
    )
    job = inference.run_propagation(job.id)
    assert job.state == Job.State.DONE, job.error
    streamed = {}
    for _ in job.result["slices"]:
        message = receive(channel)
        assert message["type"] == "propagate.slice" and message["job_id"] == job.id
        assert message["model"] == inference.embeddings().predictor.model_version
        streamed[message["slice_index"]] = rle.decode(message["rle"])
    assert sorted(streamed) == job.result["slices"] and z in streamed
    with_nodule = [i for i in range(5) if reference[i].any()]
    # Every slice it produced that has the nodule overlaps it well.
    for index, mask in streamed.items():
        if reference[index].any():
            assert dice(mask, reference[index]) > 0.5, index
    assert len(set(streamed) & set(with_nodule)) >= 3
    # Past the nodule the model finds vessels with a lower predicted IoU: the threshold stops it within a slice.
    assert len(set(streamed) - set(with_nodule)) <= 1


def test_a_cancelled_propagation_job_does_not_run(personas, lung_ct):
    series, reference, z = lung_ct
    job = Job.objects.create(
        kind="propagate", created_by=personas.annotator, payload={"series_id": series.id}
    )
    assert job.cancel()
    assert inference.run_propagation(job.id).state == Job.State.CANCELLED
