"""Annotation time in the team workflow (issue 15): the log attributes work to the case it was done on, the
task list's active time is the timing rules' number, and a timing study's tasks keep their order in the
ordinary queue (never in the pool, one at a time)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from annotator.actions import interactions, timing_report
from annotator.actions.masks import SaveRequest, do_save_revision
from annotator.models import Assignment, InteractionEvent, Label, Role, StudyTask, Task
from annotator.timing.schema import LoggedEvent
from tests.test_export import download, export
from tests.timing.conftest import events
from tests.timing.test_user_studies import create, setting  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


def case(personas, series, *labels: Label, user=None) -> Assignment:
    task = Task.objects.create(project=personas.project, series=series, created_by=personas.owner)
    task.labels.set(labels)
    return Assignment.objects.create(task=task, annotator=user or personas.annotator)


def log(user, session: str, series, label, *items, t0: float = 1.7e12, **fields) -> None:
    batch = [LoggedEvent.model_validate({**e, **fields}) for e in events(series.id, label.id, *items, t0=t0)]
    interactions.do_record_events(user, session, batch, "rest")


def steady(seconds: int) -> list[tuple]:
    """A stroke every 5 s from 0 to ``seconds``: active all along (under the 30 s idle threshold)."""
    return [(t, "brush") for t in range(0, seconds + 1, 5)]


def test_work_on_a_series_opened_without_the_task_link_counts_for_the_annotators_case(personas, ct, liver):
    mine = case(personas, ct, liver)
    log(personas.annotator, "plain-open-1", ct, liver, *steady(40))
    assert set(InteractionEvent.objects.values_list("assignment_id", flat=True)) == {mine.pk}
    listed = personas.client_for("owner").get(f"/api/projects/{personas.project.id}/tasks/").json()
    assert listed[0]["assignments"][0]["progress"]["active_seconds"] == pytest.approx(40.0)


def test_with_two_cases_on_one_series_the_events_label_picks_the_case(personas, ct, liver):
    spleen = Label.objects.create(project=personas.project, name="spleen", value=2, color="#00ff00")
    for_liver, for_spleen = case(personas, ct, liver), case(personas, ct, spleen)
    log(personas.annotator, "two-cases-1", ct, liver, *steady(20))
    log(personas.annotator, "two-cases-2", ct, spleen, *steady(10), t0=1.8e12)
    kept = dict(InteractionEvent.objects.values_list("label_id", "assignment_id").distinct())
    assert kept == {liver.pk: for_liver.pk, spleen.pk: for_spleen.pk}


def test_a_finished_case_and_other_peoples_cases_take_no_unnamed_work(personas, ct, liver):
    case(personas, ct, liver, user=personas.owner)
    done = case(personas, ct, liver)
    Assignment.objects.filter(pk=done.pk).update(state=Assignment.State.APPROVED)
    log(personas.annotator, "after-approval", ct, liver, *steady(10))
    assert set(InteractionEvent.objects.values_list("assignment_id", flat=True)) == {None}


def test_a_reviewer_looking_at_a_case_adds_nothing_to_its_active_time(personas, ct, liver):
    reviewed = case(personas, ct, liver)
    log(personas.annotator, "annotating-1", ct, liver, *steady(30), assignment_id=reviewed.pk)
    log(personas.reviewer, "reviewing-1", ct, liver, *steady(90), assignment_id=reviewed.pk, t0=1.8e12)
    assert InteractionEvent.objects.filter(user=personas.reviewer, assignment=reviewed).exists()
    listed = personas.client_for("owner").get(f"/api/projects/{personas.project.id}/tasks/").json()
    assert listed[0]["assignments"][0]["progress"]["active_seconds"] == pytest.approx(30.0)
    # Nor is the reviewer's look a mask of the model-version dashboard: Anna's saved mask is its one mask
    do_save_revision(
        personas.annotator,
        ct,
        liver,
        Role.ANNOTATOR,
        SaveRequest(None, "manual", {1: np.ones((32, 48), bool)}),
    )
    (row,) = timing_report.model_version_dashboard(personas.project)
    assert row["masks"] == 1 and row["mean_active_s"] == pytest.approx(30.0)


def test_a_studys_tasks_stay_out_of_the_pool_and_come_one_at_a_time_in_order(personas, setting):  # noqa: F811
    project = setting["project"]
    project.settings = {**project.settings, "annotations_per_task": 5}  # room for more copies of each task
    project.save()
    study_id = create(personas.client_for("owner"), setting, personas, seed=3).json()["id"]
    anna = personas.client_for("annotator")
    first, second = StudyTask.objects.filter(study_id=study_id, participant=personas.annotator).order_by(
        "position"
    )
    queue = anna.get(f"/api/projects/{project.id}/queue/").json()
    assert [a["id"] for a in queue["assigned"]] == [first.assignment_id] and queue["open"] == []
    # The owner is no participant: Next case finds nothing to take from the study
    owner_next = personas.client_for("owner").post(f"/api/projects/{project.id}/queue/next/")
    assert owner_next.json()["assignment"] is None
    # The later task cannot be started before the first is done
    refused = anna.post(f"/api/assignments/{second.assignment_id}/start/")
    assert refused.status_code == 409 and "in order" in refused.json()["error"]["message"]
    assert (
        anna.post(f"/api/projects/{project.id}/queue/next/").json()["assignment"]["id"] == first.assignment_id
    )
    anna.post(f"/api/assignments/{first.assignment_id}/submit/")
    following = anna.post(f"/api/projects/{project.id}/queue/next/").json()["assignment"]
    assert following["id"] == second.assignment_id and following["study"]["position"] == 1


def test_a_mask_export_carries_the_time_behind_each_exported_revision(
    personas, ct, liver, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    anna = case(personas, ct, liver)
    mask = np.zeros((32, 48), dtype=bool)
    mask[4:9, 4:9] = True

    def work(session: str, items: list[tuple], t0: float) -> int:
        base = ct.mask_tracks.first().head_id if ct.mask_tracks.exists() else None
        saved = do_save_revision(
            personas.annotator, ct, liver, Role.ANNOTATOR, SaveRequest(base, "manual", {2: mask})
        )
        last = items[-1][0]
        log(
            personas.annotator,
            session,
            ct,
            liver,
            *items,
            (last + 1, "save", {"revision_id": saved.id}),
            t0=t0,
        )
        return saved.id

    # 20 s of strokes, saved (revision 1), approved; then, in another session, 9 s more, saved (revision 2)
    first = work("export-1", steady(20), 1.7e12)
    Assignment.objects.filter(pk=anna.pk).update(state=Assignment.State.SUBMITTED)
    approve = personas.client_for("reviewer").post(f"/api/assignments/{anna.pk}/approve/")
    assert approve.status_code == 200
    second = work("export-2", [(0, "brush"), (9, "brush")], 1.8e12)
    owner = personas.client_for("owner")

    def table(masks: str) -> list[dict]:
        job = export(
            owner, personas.project, {"format": "png", "masks": masks}, django_capture_on_commit_callbacks
        )
        return list(csv.DictReader(io.StringIO(download(owner, job).read("annotation_time.csv").decode())))

    (approved,) = table("approved")
    assert (approved["revision"], approved["annotator"]) == (str(first), "anna_annotator")
    assert float(approved["active_s"]) == pytest.approx(20.0)  # a passive save adds no time
    assert approved["n_brush"] == "5" and approved["model_used"] == "False"
    (latest,) = table("all")
    assert latest["revision"] == str(second) and float(latest["active_s"]) == pytest.approx(20.0 + 9.0)
