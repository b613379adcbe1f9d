"""Annotation time in CSV: every task assignment and every mask of a project with its active time, model use
and interactions by kind, and a timing study's runs (one row per participant and case)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from annotator.actions.interactions import as_events, assignment_summaries, idle_ms
from annotator.actions.timing_report import study_report
from annotator.models import (
    Assignment,
    InteractionEvent,
    MaskRevision,
    MaskTrack,
    Project,
    StudyTask,
    TimingStudy,
)
from annotator.timing import activity
from annotator.timing.schema import EVENT_KINDS

COUNT_COLUMNS = [f"n_{kind}" for kind in EVENT_KINDS]


def to_csv(columns: list[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


def timing_columns(summary: activity.Summary | None) -> dict[str, Any]:
    summary = summary or activity.Summary()
    return {
        "active_s": round(summary.active_ms / 1000.0, 3) if summary.counts else None,
        "model_used": summary.model_used,
        "model_versions": " ".join(sorted(summary.model_versions)),
        **{f"n_{kind}": summary.counts.get(kind, 0) for kind in EVENT_KINDS},
    }


TASK_COLUMNS = [
    "task",
    "assignment",
    "series",
    "labels",
    "annotator",
    "state",
    "study",
    "simulated",
    "condition",
    "position",
    "active_s",
    "model_used",
    "model_versions",
    *COUNT_COLUMNS,
]


def tasks_csv(project: Project) -> str:
    assignments = list(
        Assignment.objects.filter(task__project=project)
        .select_related("task__project", "annotator")
        .prefetch_related("task__labels")
        .order_by("task_id", "id")
    )
    summaries = assignment_summaries(assignments)
    runs = {
        r.assignment_id: r for r in StudyTask.objects.filter(study__project=project).select_related("study")
    }
    rows = []
    for a in assignments:
        run = runs.get(a.pk)
        rows.append(
            {
                "task": a.task_id,
                "assignment": a.pk,
                "series": a.task.series_id,
                "labels": " ".join(label.name for label in a.task.labels.all()),
                "annotator": a.annotator.get_username(),
                "state": a.state,
                "study": run.study.name if run else None,
                "simulated": run.study.simulated if run else False,
                "condition": run.condition if run else None,
                "position": run.position + 1 if run else None,
                **timing_columns(summaries.get(a.pk)),
            }
        )
    return to_csv(TASK_COLUMNS, rows)


MASK_COLUMNS = [
    "series",
    "label",
    "annotator",
    "simulated",
    "revisions",
    "head_revision",
    "head_source",
    "head_model_version",
    "active_s",
    "model_used",
    "model_versions",
    *COUNT_COLUMNS,
]


def masks_csv(project: Project) -> str:
    """Every saved mask (per series, label and annotator; a consensus has no annotator and no annotation
    time) with the active time spent on it."""
    summaries = activity.per_mask(
        as_events(InteractionEvent.objects.filter(project=project)), idle_ms(project)
    )
    tracks = (
        MaskTrack.objects.filter(
            series__study__project=project, head__isnull=False, kind=MaskTrack.Kind.ANNOTATION
        )
        .select_related("head", "label", "annotator")
        .order_by("series_id", "label__value", "annotator__username")
    )
    # The scripted participants of simulated studies (manage.py simulate_study --project): flagged, not mixed.
    scripted = set(
        StudyTask.objects.filter(study__project=project, study__simulated=True).values_list(
            "participant_id", flat=True
        )
    )
    rows = [
        {
            "series": t.series_id,
            "label": t.label.name,
            "annotator": t.annotator.get_username(),
            "simulated": t.annotator_id in scripted,
            "revisions": t.head.number if t.head else 0,
            "head_revision": t.head_id,
            "head_source": t.head.source if t.head else None,
            "head_model_version": t.head.model_version if t.head else None,
            **timing_columns(summaries.get((t.annotator.pk, t.series_id, t.label_id))),
        }
        for t in tracks
        if t.annotator is not None  # annotation tracks always have one (the query keeps only those)
    ]
    return to_csv(MASK_COLUMNS, rows)


@dataclass(frozen=True)
class ExportedMask:
    """A mask written by a mask export (annotator.actions.exports): which revision of which track."""

    series: int
    label: int
    revision: int
    consensus: bool


EXPORTED_COLUMNS = [
    "series",
    "label",
    "annotator",
    "revision",
    "revision_number",
    "active_s",
    "model_used",
    "model_versions",
    *COUNT_COLUMNS,
]


def until_revision(parts: list[activity.RevisionPart], revision_id: int) -> activity.Summary | None:
    """All logged work on a mask up to and including the save that created ``revision_id`` (None: that
    save is not in the log, e.g. a mask imported or saved through the API without the viewer)."""
    so_far = activity.Summary()
    for part in parts:
        so_far.active_ms += part.summary.active_ms
        so_far.counts.update(part.summary.counts)
        so_far.model_versions |= part.summary.model_versions
        if part.revision == revision_id:
            return so_far
    return None


def exported_masks_csv(project: Project, exported: Iterable[ExportedMask]) -> str:
    """The annotation-time table a mask export carries: one row per exported mask and revision."""
    exported = list(exported)
    revisions = {
        r.pk: r
        for r in MaskRevision.objects.filter(pk__in=[m.revision for m in exported]).select_related(
            "track__annotator", "track__label"
        )
    }
    wanted = {m.series for m in exported if not m.consensus}
    events = InteractionEvent.objects.filter(project=project, series_id__in=wanted)
    parts = activity.per_revision(as_events(events), idle_ms(project)) if wanted else {}
    rows = []
    for mask in exported:
        revision = revisions[mask.revision]
        track = revision.track
        summary = None
        if not mask.consensus and track.annotator_id is not None:
            summary = until_revision(
                parts.get((track.annotator_id, mask.series, mask.label), []), revision.pk
            )
        rows.append(
            {
                "series": mask.series,
                "label": track.label.name,
                "annotator": track.annotator.get_username() if track.annotator else "consensus",
                "revision": revision.pk,
                "revision_number": revision.number,
                **timing_columns(summary),
            }
        )
    return to_csv(EXPORTED_COLUMNS, rows)


RUN_COLUMNS = [
    "participant",
    "case",
    "series",
    "series_description",
    "label",
    "condition",
    "position",
    "state",
    "active_s",
    "model_used",
    "model_versions",
    "revision",
    "dice",
    "nsd",
    *COUNT_COLUMNS,
]


def study_csv(study: TimingStudy) -> str:
    rows = []
    for run in study_report(study)["runs"]:
        counts = run["interactions"]
        rows.append(
            {
                **run,
                "position": run["position"] + 1,
                "model_versions": " ".join(run["model_versions"]),
                **{f"n_{kind}": counts.get(kind, 0) for kind in EVENT_KINDS},
            }
        )
    return to_csv(RUN_COLUMNS, rows)
