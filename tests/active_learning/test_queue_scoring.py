"""The queue-scoring job (annotator/learning/queue.py, issue 11) end to end in-process: a project with open
tasks on unlabelled series, a stand-in model whose doubt about each series is known, the job run for each
strategy, and the task workflow's "Next case" following the scores.

The stand-in's predicted IoU falls as a series gets brighter, while its masks shift with the box more the
darker the series is, so the two model strategies order the same three tasks in opposite ways: a strategy
that ignored the model, or one scored from the wrong quantity, gives the wrong order."""

from __future__ import annotations

import numpy as np
import pytest

from annotator import inference, model_serving
from annotator.actions import model_versions, tasks
from annotator.learning.queue import run_scoring_job
from annotator.models import Job, Membership, QueueScore
from ml_worker.embeddings import EmbeddingCache, EmbeddingStore
from ml_worker.sam.predictor import DecodeResult
from tests.factories import TaskFactory
from tests.segmentation.conftest import make_series

pytestmark = pytest.mark.django_db

SHAPE = (5, 48, 48)
# Hounsfield units of three uniform series: dark, middle, bright once windowed for the model.
HU = {"dark": -120, "middle": 20, "bright": 160}


class DoubtModel:
    """A stand-in model that only reads the brightness ``b`` (0–1) of the slice it was shown: predicted IoU
    ``1 - b`` (bright slices are doubtful), and the mask of each box is the box minus a band whose width
    grows with the box's place in the batch times ``1 - b`` (dark slices' masks jump when the box moves)."""

    model_name, encoder_sha256, preprocessing_version = "doubt", "d" * 64, "v0"
    model_version = "doubt@1"
    checkpoint_sha256 = "d" * 64

    def __init__(self) -> None:
        self.decodes = 0

    def embed(self, image: np.ndarray) -> np.ndarray:
        return np.full((256, 64, 64), float(image.mean()) / 255.0, dtype=np.float32)

    def decode(self, embedding, image_size, boxes=None, **_: object) -> DecodeResult:
        self.decodes += 1
        brightness = float(embedding[0, 0, 0])
        masks = np.zeros((len(boxes), 1, *image_size), dtype=bool)
        for k, box in enumerate(np.asarray(boxes)):
            band = int(round(k * 4 * (1.0 - brightness)))
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            masks[k, 0, y0 + band : y1 - band, x0 + band : x1 - band] = True
        iou = np.full((len(boxes), 1), 1.0 - brightness, dtype=np.float32)
        return DecodeResult(masks, iou, np.zeros((len(boxes), 1, 256, 256), dtype=np.float32))


@pytest.fixture
def queue(personas, tmp_path, monkeypatch):
    """Three open tasks of the same priority on unlabelled series, and the stand-in as the project's model."""
    model = DoubtModel()
    store = inference.SliceEmbeddings(model, EmbeddingStore(EmbeddingCache(tmp_path), 64 * 1024 * 1024))
    monkeypatch.setattr(inference, "embeddings", lambda: store)
    model_serving.forget()
    by_name = {}
    for name, hu in HU.items():
        series = make_series(personas.project, np.full(SHAPE, hu, dtype=np.int16))
        by_name[name] = TaskFactory(series=series, priority=1)
    yield by_name, model
    model_serving.forget()


def score(personas, strategy: str) -> Job:
    """The owner chooses the strategy (which queues the scoring job); a worker runs it."""
    owner = personas.owner
    model_versions.do_update_settings(owner, personas.project, {}, queue_ordering=strategy)
    job = Job.objects.get(kind="queue-scores", project=personas.project, state="pending")
    return run_scoring_job(job.pk)


def queue_order(personas, by_name) -> list[str]:
    names = {task.pk: name for name, task in by_name.items()}
    personas.project.refresh_from_db()
    _, ordered = tasks.queue_for(personas.annotator, personas.project)
    return [names[t.pk] for t in ordered]


def next_case(personas):
    membership = Membership.objects.select_related("project").get(user=personas.annotator)
    return tasks.do_next_case(personas.annotator, membership).task


def test_lowest_predicted_iou_offers_the_case_the_model_doubts_most_first(personas, queue):
    by_name, model = queue
    # When the owner orders the queue by the model's predicted IoU and the job runs
    job = score(personas, "lowest-iou")
    # Then every open task was scored by one decode on its slice, the lowest predicted IoU first
    assert job.state == "done" and job.result == {"scored": 3, "strategy": "lowest-iou"}
    assert model.decodes == 3
    scores = {s.task_id: s for s in QueueScore.objects.filter(strategy="lowest-iou")}
    assert scores[by_name["bright"].pk].score > scores[by_name["middle"].pk].score
    assert all(s.box_source == "centre" and s.slice_index == SHAPE[0] // 2 for s in scores.values())
    assert queue_order(personas, by_name) == ["bright", "middle", "dark"]
    # And the annotator's Next case is the most doubtful one
    assert next_case(personas) == by_name["bright"]


def test_jittered_box_disagreement_offers_the_least_stable_case_first(personas, queue):
    by_name, _ = queue
    job = score(personas, "jitter-disagreement")
    assert job.state == "done"
    # The masks of the dark series move most with the box: it comes first, the opposite of lowest-iou
    assert queue_order(personas, by_name) == ["dark", "middle", "bright"]
    assert next_case(personas) == by_name["dark"]


def test_random_order_is_the_same_on_every_run_and_needs_no_model(personas, queue):
    by_name, model = queue
    score(personas, "random")
    first = queue_order(personas, by_name)
    assert model.decodes == 0  # the baseline never asks the model
    # When the queue is scored again (e.g. after a promotion), the order does not move
    QueueScore.objects.all().delete()
    job = model_versions.do_score_queue(personas.owner, personas.project)
    run_scoring_job(job.pk)
    assert queue_order(personas, by_name) == first
    assert next_case(personas) == by_name[first[0]]
