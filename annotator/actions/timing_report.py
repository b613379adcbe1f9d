"""What a timing study measured (the report page and its CSV/JSON export) and what each model version does to
annotation time (the dashboard): active time per mask by condition and participant, % time saved with its
interval and the paired test (annotator.timing.stats), quality against the reference masks (Dice, NSD),
agreement between participants, interactions per mask by kind, the learning effect over the study."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator.actions.interactions import as_events, idle_ms
from annotator.actions.masks import read_volume
from annotator.imaging.volumes import load_reference_labels, mask_shape
from annotator.models import (
    Assignment,
    InteractionEvent,
    MaskRevision,
    Project,
    Series,
    StudyTask,
    TimingStudy,
)
from annotator.timing import activity, stats
from annotator.timing.schema import CLICK_KINDS, CORRECTION_KINDS
from ml_worker.evaluation.metrics import dice, normalized_surface_dice

FINISHED = (Assignment.State.SUBMITTED, Assignment.State.APPROVED)
# The MedSAM paper's NSD tolerance (and the evaluate command's default).
NSD_TOLERANCE_MM = 2.0
NO_MODEL = "no model"


# -- masks and their quality -----------------------------------------------------------------------------


def final_revision(series_id: int, label_id: int, user_id: int, before: Any = None) -> MaskRevision | None:
    """The participant's mask as they left it: their last revision (up to ``before``, the submission)."""
    revisions = MaskRevision.objects.filter(
        track__series_id=series_id, track__label_id=label_id, track__annotator_id=user_id
    )
    if before is not None:
        revisions = revisions.filter(created_at__lte=before)
    return revisions.order_by("-number").first()


class Volumes:
    """Reads each mask and reference once per report."""

    def __init__(self) -> None:
        self.masks: dict[int, np.ndarray] = {}
        self.references: dict[tuple[int, int], np.ndarray | None] = {}

    def mask(self, revision: MaskRevision, series: Series) -> np.ndarray:
        if revision.pk not in self.masks:
            self.masks[revision.pk] = read_volume(revision, mask_shape(series))
        return self.masks[revision.pk]

    def reference(self, series: Series, value: int) -> np.ndarray | None:
        key = (series.pk, value)
        if key not in self.references:
            labels = load_reference_labels(series)
            self.references[key] = None if labels is None else np.asarray(labels) == value
        return self.references[key]


def crop(*masks: np.ndarray, margin: int) -> tuple[np.ndarray, ...]:
    """The masks cut to the box around all of them plus ``margin`` voxels (NSD on a whole CT is slow)."""
    union = np.logical_or.reduce(masks)
    if not union.any():
        return masks
    lo = [max(0, int(i.min()) - margin) for i in np.nonzero(union)]
    hi = [int(i.max()) + margin + 1 for i in np.nonzero(union)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    return tuple(m[box] for m in masks)


def quality(mask: np.ndarray, reference: np.ndarray | None, spacing: list[float]) -> dict[str, float | None]:
    """Dice and NSD (3D, τ = 2 mm, the series' voxel spacing) of a mask against the reference."""
    if reference is None:
        return {"dice": None, "nsd": None}
    margin = int(np.ceil(NSD_TOLERANCE_MM / min(spacing))) + 2
    m, r = crop(mask, reference, margin=margin)
    return {"dice": dice(m, r), "nsd": normalized_surface_dice(m, r, spacing, NSD_TOLERANCE_MM)}


def mean_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


# -- a study's report -------------------------------------------------------------------------------------


@dataclass
class Run:
    task: StudyTask
    summary: activity.Summary | None
    revision: MaskRevision | None
    quality: dict[str, float | None]

    @property
    def finished(self) -> bool:
        return self.task.assignment.state in FINISHED

    @property
    def active_s(self) -> float | None:
        return None if self.summary is None else self.summary.active_ms / 1000.0

    def row(self) -> dict[str, Any]:
        summary = self.summary or activity.Summary()
        task = self.task
        return {
            "study_task": task.pk,
            "assignment": task.assignment_id,
            "participant": task.participant.get_username(),
            "case": task.case.index,
            "series": task.case.series_id,
            "series_description": str(task.case.series),
            "label": task.case.label.name,
            "condition": task.condition,
            "position": task.position,
            "state": task.assignment.state,
            "active_s": None if self.active_s is None else round(self.active_s, 3),
            "model_used": summary.model_used,
            "model_versions": sorted(summary.model_versions),
            "interactions": dict(sorted(summary.counts.items())),
            "revision": self.revision.number if self.revision else None,
            "voxels": self.revision.voxel_count if self.revision else None,
            **self.quality,
        }


def study_runs(study: TimingStudy) -> list[Run]:
    tasks = list(
        StudyTask.objects.filter(study=study)
        .select_related("assignment", "participant", "case__series__study", "case__label")
        .order_by("participant_id", "position")
    )
    owners = {t.assignment_id: t.participant_id for t in tasks}
    stream = [
        e
        for e in as_events(InteractionEvent.objects.filter(assignment_id__in=owners))
        if e.assignment is not None and owners.get(e.assignment) == e.user
    ]
    summaries = activity.per_assignment(stream, idle_ms(study.project))
    volumes = Volumes()
    runs = []
    for task in tasks:
        series, label = task.case.series, task.case.label
        revision = final_revision(series.pk, label.pk, task.participant_id, task.assignment.submitted_at)
        reference = volumes.reference(series, label.value)
        scores: dict[str, float | None] = {"dice": None, "nsd": None}
        if revision is not None:
            scores = quality(volumes.mask(revision, series), reference, series.spacing)
        runs.append(Run(task, summaries.get(task.assignment_id), revision, scores))
    return runs


def agreement(runs: list[Run]) -> list[dict[str, Any]]:
    """Per case, the mean pairwise Dice between participants' final masks (all pairs, and within each
    condition)."""
    volumes = Volumes()
    by_case: dict[int, list[Run]] = {}
    for run in runs:
        if run.revision is not None:
            by_case.setdefault(run.task.case.index, []).append(run)
    out = []
    for case, done in sorted(by_case.items()):
        pairs: dict[str, list[float]] = {"all": [], "manual": [], "assisted": []}
        for i, a in enumerate(done):
            for b in done[i + 1 :]:
                assert a.revision is not None and b.revision is not None
                series = a.task.case.series
                score = dice(volumes.mask(a.revision, series), volumes.mask(b.revision, series))
                pairs["all"].append(score)
                if a.task.condition == b.task.condition:
                    pairs[a.task.condition].append(score)
        out.append(
            {"case": case, **{f"dice_{k}": statistics.fmean(v) if v else None for k, v in pairs.items()}}
        )
    return out


def study_report(study: TimingStudy) -> dict[str, Any]:
    runs = study_runs(study)
    finished = [r for r in runs if r.finished and r.active_s is not None]
    measurements = [
        stats.Measurement(
            case=r.task.case.index,
            participant=r.task.participant_id,
            condition=r.task.condition,
            active_s=float(r.active_s or 0.0),
            position=r.task.position,
        )
        for r in finished
    ]
    analysis = stats.analyse(measurements, seed=study.seed)
    names = {r.task.participant_id: r.task.participant.get_username() for r in runs}
    analysis["per_participant"] = {
        names[pid]: value
        for pid, value in analysis["per_participant"].items()  # type: ignore[attr-defined]
    }
    by_condition: dict[str, Any] = {}
    for condition in ("manual", "assisted"):
        done = [r for r in finished if r.task.condition == condition]
        counts: Counter[str] = Counter()
        for r in done:
            counts.update(r.summary.counts if r.summary else {})
        by_condition[condition] = {
            "masks": len(done),
            "dice": mean_or_none([r.quality["dice"] for r in done]),
            "nsd": mean_or_none([r.quality["nsd"] for r in done]),
            "interactions_per_mask": {k: v / len(done) for k, v in sorted(counts.items())} if done else {},
        }
    return {
        "study": {
            "id": study.pk,
            "name": study.name,
            "simulated": study.simulated,
            "model_version": study.model_version,
            "seed": study.seed,
            "washout": study.washout,
            "design": study.design,
            "idle_threshold_s": idle_ms(study.project) / 1000.0,
        },
        **analysis,
        "quality": by_condition,
        "agreement": agreement(runs),
        "runs": [r.row() for r in runs],
    }


# -- the model-version dashboard ---------------------------------------------------------------------------


def last_model_version(events: list[activity.Event]) -> str:
    answers = sorted((e.t, e.model_version) for e in events if e.kind == "prompt.result" and e.model_version)
    return answers[-1][1] if answers else NO_MODEL


def model_version_dashboard(project: Project) -> list[dict[str, Any]]:
    """Per model version (the one behind a mask's last model answer; "no model" for masks drawn by hand):
    masks, mean active time, corrections and Dice-per-click. Simulated studies are left out, and so is work
    on no saved mask of one's own (a reviewer's look at a case).

    Corrections: strokes, fills and clears, plus every prompt after the first. Clicks: prompts, accepts,
    strokes, fills, clears, propagations. Dice-per-click: Dice of the saved mask against the reference
    divided by its clicks (masks without a reference have none)."""
    rows = InteractionEvent.objects.filter(project=project).exclude(
        assignment__study_task__study__simulated=True
    )
    stream = as_events(rows)
    by_mask: dict[activity.MaskKey, list[activity.Event]] = {}
    for event in activity.unique(stream):
        key = activity.mask_key(event.context)
        if key is not None:
            by_mask.setdefault(key, []).append(event)
    summaries = activity.per_mask(stream, idle_ms(project))
    series = {s.pk: s for s in Series.objects.filter(pk__in={k[1] for k in by_mask})}
    values = dict(project.labels.values_list("pk", "value"))
    volumes = Volumes()
    groups: dict[str, list[dict[str, float | None]]] = {}
    for key, mask_events in by_mask.items():
        user_id, series_id, label_id = key
        summary = summaries.get(key, activity.Summary())
        counts = summary.counts
        clicks = sum(counts[k] for k in CLICK_KINDS)
        corrections = sum(counts[k] for k in CORRECTION_KINDS) + max(0, counts["prompt"] - 1)
        revision = final_revision(series_id, label_id, user_id)
        if revision is None:
            continue  # no mask of theirs: a reviewer looking at a case, or work never saved
        score = None
        if label_id in values:
            reference = volumes.reference(series[series_id], values[label_id])
            if reference is not None:
                score = dice(volumes.mask(revision, series[series_id]), reference)
        groups.setdefault(last_model_version(mask_events), []).append(
            {
                "active_s": summary.active_ms / 1000.0,
                "corrections": float(corrections),
                "dice": score,
                "dice_per_click": None if score is None or not clicks else score / clicks,
            }
        )
    return [
        {
            "model_version": version,
            "masks": len(masks),
            **{f"mean_{k}": mean_or_none([m[k] for m in masks]) for k in masks[0]},
        }
        for version, masks in sorted(groups.items())
    ]
