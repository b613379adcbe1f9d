"""Scoring the open tasks of a project's queue by the model's doubt (job kind ``queue-scores``, issue 11).

For each open task the job picks one slice and a box around the structure to annotate, from the best source
it has: a mask already saved on the series for one of the task's labels (a colleague's copy, a consensus),
else the series' reference labels of that label value, else the image centre (the middle slice, a box over
the central half: the model's doubt about "the thing in the middle"). The strategy scores it with the
decoder only, on the cached embedding (ml_worker.active_learning.selection: lowest predicted IoU,
jittered-box disagreement; random as the baseline). Scores are stored per task and strategy
(``QueueScore``); the Next-case ordering reads them (annotator/actions/queue_scores.py).
"""

from __future__ import annotations

import logging

import numpy as np
from django.db import transaction

from annotator import inference
from annotator.actions import jobs, masks
from annotator.actions.tasks import open_tasks
from annotator.imaging.volumes import load_reference_labels, mask_shape
from annotator.models import Job, MaskTrack, ModelVersion, QueueScore, Series, Task
from annotator.segmentation import model_preset
from ml_worker.active_learning.selection import UnlabelledSlice, get_strategy
from ml_worker.evaluation.clicks import box_from_mask

log = logging.getLogger(__name__)

# At most this many open tasks are scored per run (each costs a decode, and an encoder pass when its slice
# was never embedded: ~0.3 s on CPU).
MAX_TASKS = 500


def largest_slice(volume: np.ndarray) -> int | None:
    areas = volume.reshape(volume.shape[0], -1).sum(axis=1)
    return int(np.argmax(areas)) if areas.max(initial=0) > 0 else None


def slice_and_box(task: Task, series: Series) -> tuple[int, np.ndarray, str]:
    """``(slice index, box [x0, y0, x1, y1] in image pixels, where it came from)`` for one task."""
    label_ids = list(task.labels.values_list("id", flat=True))
    tracks = MaskTrack.objects.filter(series=series, head__isnull=False).select_related("head")
    if label_ids:
        tracks = tracks.filter(label_id__in=label_ids)
    shape = mask_shape(series)
    for track in tracks:
        volume = masks.read_volume(track.head, shape)
        z = largest_slice(volume)
        if z is not None:
            return z, box_from_mask(volume[z]), "mask"
    reference = load_reference_labels(series)
    if reference is not None:
        values = list(task.labels.values_list("value", flat=True))
        chosen = np.isin(reference, values) if values else reference > 0
        z = largest_slice(chosen)
        if z is not None:
            return z, box_from_mask(chosen[z]), "reference"
    depth, height, width = shape
    box = np.array([width / 4, height / 4, 3 * width / 4, 3 * height / 4], dtype=np.float64)
    return depth // 2, box, "centre"


def run_scoring_job(job_id: int) -> Job:
    job = Job.objects.select_related("project").get(pk=job_id)
    if not job.claim():
        return job
    try:
        score_queue(job)
    except Exception as exc:
        log.exception("queue scoring job %s failed", job_id)
        job.fail(f"{type(exc).__name__}: {exc}")
    jobs.push_progress(job)
    return job


def score_queue(job: Job) -> None:
    project = job.project
    assert project is not None
    name = str(job.payload.get("strategy", "random"))
    predictor = inference.project_predictor(project.pk)
    strategy = get_strategy(name, decoder=predictor)  # random ignores the decoder
    embeddings = inference.project_embeddings(project.pk)
    version = ModelVersion.objects.filter(project=project, active=True).first()
    tasks = list(open_tasks(project).order_by("-priority", "id")[:MAX_TASKS])
    scored = 0
    for n, task in enumerate(tasks):
        series = Series.objects.select_related("study__project").get(pk=task.series_id)
        z, box, source = slice_and_box(task, series)
        if name == "random":
            # The baseline needs no model: a random number fixed by the project and the task.
            value = float(np.random.default_rng([project.pk, task.pk]).random())
        else:
            embedding, _ = embeddings.get(series, z, model_preset(series, task.labels.first()))
            height, width = mask_shape(series)[1:]
            item = UnlabelledSlice(f"task{task.pk}", embedding, (height, width), box)
            value = float(strategy.scores([item])[0])
        QueueScore.objects.update_or_create(
            task=task,
            strategy=name,
            defaults={"score": value, "version": version, "slice_index": z, "box_source": source},
        )
        scored += 1
        if not jobs.report(job, (n + 1) / max(1, len(tasks)), f"Scored {n + 1} of {len(tasks)} open cases."):
            return
    with transaction.atomic():
        job.finish({"scored": scored, "strategy": name}, message=f"Scored {scored} open cases ({name}).")
