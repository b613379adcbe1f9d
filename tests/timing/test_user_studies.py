"""Timing studies through the REST API: the owner designs one, participants get their tasks in order, and
the report states time saved, its interval, the paired test and mask quality against the reference."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.actions import interactions, timing_report
from annotator.actions import masks as mask_actions
from annotator.imaging.volumes import save_array
from annotator.models import Assignment, Label, Membership, Role, StudyTask, Task, TimingStudy
from annotator.timing.schema import LoggedEvent
from tests.factories import UserFactory
from tests.segmentation.conftest import make_series
from tests.timing.conftest import events

pytestmark = pytest.mark.django_db
MODEL = "lite_medsam@79d8c9dca6db"


@pytest.fixture
def setting(personas):
    """Two CT cases with a reference square each, a label, and Ben as a second annotator."""
    project = personas.project
    ben = UserFactory(username="ben_annotator")
    Membership.objects.create(project=project, user=ben, role=Role.ANNOTATOR)
    label = Label.objects.create(project=project, name="liver", value=1, color="#ff0000")
    cases = []
    for n in range(2):
        series = make_series(project, np.zeros((3, 16, 16), dtype=np.int16))
        reference = np.zeros((3, 16, 16), dtype=np.uint8)
        reference[1, 4 : 10 + n, 4:10] = 1
        series.reference_labels, _ = save_array(f"ref-{series.id}.npy", reference)
        series.save()
        cases.append(series)
    return {"project": project, "ben": ben, "label": label, "series": cases}


def create(client, setting, personas, **extra):
    body = {
        "name": "Liver timing",
        "cases": [{"series": s.id, "label": setting["label"].id} for s in setting["series"]],
        "participants": [personas.annotator.id, setting["ben"].id],
        **extra,
    }
    return client.post(
        f"/api/projects/{setting['project'].id}/timing-studies/", body, content_type="application/json"
    )


def test_the_owner_designs_a_study_whose_plan_is_stored_as_tasks_with_conditions(personas, setting):
    response = create(personas.client_for("owner"), setting, personas, seed=11, washout=1)
    assert response.status_code == 201, response.json()
    study = TimingStudy.objects.get(pk=response.json()["id"])
    assert study.seed == 11 and not study.simulated and study.model_version.startswith("lite_medsam@")
    assert study.design["algorithm"] == "delineate-crossover-v1" and study.design["same_case_same_step"] == 0
    runs = StudyTask.objects.filter(study=study)
    assert runs.count() == 4 and Task.objects.filter(study_case__study=study).count() == 2
    for person in (personas.annotator, setting["ben"]):
        mine = runs.filter(participant=person).order_by("position")
        assert sorted(r.condition for r in mine) == ["assisted", "manual"]
        assert {r.case_id for r in mine} == set(study.cases.values_list("id", flat=True))
    for case in study.cases.all():
        assert sorted(case.runs.values_list("condition", flat=True)) == ["assisted", "manual"]
    assert all(r.model_version == ("" if r.condition == "manual" else study.model_version) for r in runs)
    # The same seed gives the same plan
    again = TimingStudy.objects.get(
        pk=create(personas.client_for("owner"), setting, personas, seed=11).json()["id"]
    )

    def plan(s):
        return sorted((r.participant_id, r.case.index, r.condition, r.position) for r in s.study_tasks.all())

    assert plan(again) == plan(study)


@pytest.mark.parametrize(
    "who, change, status, words",
    [
        ("annotator", {}, 403, "does not allow"),
        ("owner", {"participants": "reviewer"}, 400, "only annotators annotate"),
        ("owner", {"participants": "one"}, 400, "participants"),
        ("owner", {"cases": "foreign"}, 400, "not in this project"),
        ("owner", {"cases": "twice"}, 400, "twice"),
        ("owner", {"name": ""}, 400, "name"),
        # larger than a database key: bad input, not a server error
        ("owner", {"participants": "too large"}, 400, "participants.0: Input should be less than or equal"),
        ("owner", {"cases": "too large"}, 400, "cases.0.series: Input should be less than or equal"),
    ],
)
def test_a_study_that_cannot_be_run_is_refused_and_creates_nothing(
    personas, setting, who, change, status, words
):
    extra = {}
    if change.get("participants") == "reviewer":
        extra["participants"] = [personas.annotator.id, personas.reviewer.id]
    if change.get("participants") == "one":
        extra["participants"] = [personas.annotator.id]
    if change.get("participants") == "too large":
        extra["participants"] = [2**70, personas.annotator.id]
    if change.get("cases") == "too large":
        extra["cases"] = [{"series": 2**70, "label": setting["label"].id}]
    if change.get("cases") == "foreign":
        from tests.factories import ProjectFactory

        other = make_series(ProjectFactory(), np.zeros((2, 4, 4), dtype=np.int16))
        extra["cases"] = [{"series": other.id, "label": setting["label"].id}]
    if change.get("cases") == "twice":
        case = {"series": setting["series"][0].id, "label": setting["label"].id}
        extra["cases"] = [case, case]
    if "name" in change:
        extra["name"] = change["name"]
    response = create(personas.client_for(who), setting, personas, **extra)
    assert response.status_code == status and words in response.json()["error"]["message"]
    assert not TimingStudy.objects.exists() and not Task.objects.exists() and not Assignment.objects.exists()


def test_a_participant_gets_their_tasks_one_at_a_time_in_order(personas, setting):
    study_id = create(personas.client_for("owner"), setting, personas, seed=3).json()["id"]
    anna = personas.client_for("annotator")
    mine = anna.get(f"/api/timing-studies/{study_id}/mine/").json()
    assert [t["position"] for t in mine["tasks"]] == [0, 1] and "manual task" in mine["instructions"]
    first = anna.post(f"/api/timing-studies/{study_id}/next/").json()
    assert first["task"]["position"] == 0 and first["task"]["state"] == "in_progress"
    assert (
        first["viewer_url"] == f"/series/{first['task']['series']}/?assignment={first['task']['assignment']}"
    )
    # Asking again gives the same task until it is submitted
    assert anna.post(f"/api/timing-studies/{study_id}/next/").json()["task"]["position"] == 0
    info = anna.get(f"/api/timing-studies/by-assignment/{first['task']['assignment']}/").json()
    assert info["condition"] == first["task"]["condition"] and info["position"] == 0 and info["total"] == 2
    assert anna.post(f"/api/assignments/{first['task']['assignment']}/submit/").status_code == 200
    second = anna.post(f"/api/timing-studies/{study_id}/next/").json()["task"]
    assert second["position"] == 1 and second["condition"] != first["task"]["condition"]
    anna.post(f"/api/assignments/{second['assignment']}/submit/")
    assert anna.post(f"/api/timing-studies/{study_id}/next/").json() == {"task": None, "viewer_url": None}
    # Others are not participants; outsiders do not see the study at all
    assert personas.client_for("reviewer").get(f"/api/timing-studies/{study_id}/mine/").status_code == 403
    assert personas.client_for("outsider").get(f"/api/timing-studies/{study_id}/mine/").status_code == 404
    assert (
        personas.client_for("outsider")
        .get(f"/projects/{personas.project.id}/timing-studies/{study_id}/")
        .status_code
        == 404
    )


def work(user, run: StudyTask, seconds: float, assisted: bool, mask: np.ndarray, session: str) -> None:
    """A participant's run: events over ``seconds`` of steady work, a saved mask, the task submitted."""
    series, label = run.case.series, run.case.label
    saved = mask_actions.do_save_revision(
        user, series, label, "annotator", mask_actions.SaveRequest(None, "manual", {1: mask[1]})
    )
    items = [(0, "page.open")]
    if assisted:
        items += [(1, "prompt"), (1.5, "prompt.result", {"model_version": MODEL}), (2, "accept")]
    items += [(t, "brush") for t in range(10, int(seconds), 10)]  # never idle for long
    items += [(seconds, "brush"), (seconds + 1, "save", {"revision_id": saved.id})]
    batch = [
        LoggedEvent.model_validate({**e, "assignment_id": run.assignment_id})
        for e in events(series.id, label.id, *items)
    ]
    interactions.do_record_events(user, session, batch, "rest")
    Assignment.objects.filter(pk=run.assignment_id).update(state=Assignment.State.SUBMITTED)


def test_the_report_gives_time_saved_its_interval_the_test_quality_and_agreement(personas, setting):
    study_id = create(personas.client_for("owner"), setting, personas, seed=3).json()["id"]
    study = TimingStudy.objects.get(pk=study_id)
    for person in (personas.annotator, setting["ben"]):
        for run in StudyTask.objects.filter(study=study, participant=person).select_related(
            "case__series", "case__label"
        ):
            reference = np.zeros((3, 16, 16), dtype=bool)
            reference[1, 4 : 10 + run.case.index, 4:10] = True
            mask = reference.copy()
            if run.condition == "assisted":
                mask[1, 4, 4:10] = False  # one row short of the reference
            work(
                person,
                run,
                60.0 if run.condition == "manual" else 15.0,
                run.condition == "assisted",
                mask,
                f"s-{run.pk}-xxxx",
            )
    report = personas.client_for("owner").get(f"/api/timing-studies/{study_id}/report/").json()
    assert report["n_masks"] == 4 and report["n_pairs"] == 2
    assert report["time_saved_pct"] == pytest.approx(75.0)
    assert report["p_value"] == pytest.approx(0.5)  # two cases, both faster: 2 / 2**2
    assert report["per_condition"]["manual"]["mean"] == pytest.approx(60.0)
    assert report["quality"]["manual"]["dice"] == pytest.approx(1.0) and report["quality"]["manual"][
        "nsd"
    ] == pytest.approx(1.0)
    assert report["quality"]["assisted"]["dice"] == pytest.approx(np.mean([2 * 30 / 66, 2 * 36 / 78]))
    assert report["quality"]["assisted"]["interactions_per_mask"]["prompt"] == 1.0
    assert report["quality"]["manual"]["interactions_per_mask"].get("prompt") is None
    by_case = {a["case"]: a for a in report["agreement"]}
    assert by_case[0]["dice_all"] == pytest.approx(2 * 30 / 66)
    runs = report["runs"]
    assert {r["model_used"] for r in runs if r["condition"] == "assisted"} == {True}
    assert all(r["model_versions"] == [MODEL] for r in runs if r["condition"] == "assisted")
    csv = personas.client_for("owner").get(f"/api/timing-studies/{study_id}/report.csv")
    lines = csv.content.decode().splitlines()
    assert csv["Content-Type"].startswith("text/csv") and len(lines) == 5
    assert lines[0].startswith("participant,case,series") and ",60.0," in "".join(lines)
    # Annotators do not see reports; the page and the API agree
    assert personas.client_for("annotator").get(f"/api/timing-studies/{study_id}/report/").status_code == 403
    assert (
        personas.client_for("annotator")
        .get(f"/projects/{personas.project.id}/timing-studies/{study_id}/report/")
        .status_code
        == 403
    )
    # The task list, the CSV exports and the dashboard carry the same active times
    tasks_csv = (
        personas.client_for("owner")
        .get(f"/api/projects/{personas.project.id}/timing/tasks.csv")
        .content.decode()
    )
    assert tasks_csv.count(",60.0,") == 2 and tasks_csv.count(",15.0,") == 2
    listed = personas.client_for("owner").get(f"/api/projects/{personas.project.id}/tasks/").json()
    times = sorted(a["progress"]["active_seconds"] for task in listed for a in task["assignments"])
    assert times == [15.0, 15.0, 60.0, 60.0]
    assert {a["study"]["condition"] for task in listed for a in task["assignments"]} == {"manual", "assisted"}
    masks_csv = (
        personas.client_for("owner")
        .get(f"/api/projects/{personas.project.id}/timing/masks.csv")
        .content.decode()
    )
    assert len(masks_csv.splitlines()) == 5
    dashboard = timing_report.model_version_dashboard(personas.project)
    assert {row["model_version"]: row["masks"] for row in dashboard} == {MODEL: 2, "no model": 2}
    model_row = next(r for r in dashboard if r["model_version"] == MODEL)
    assert (
        model_row["mean_active_s"] == pytest.approx(15.0) and model_row["mean_corrections"] == 2.0
    )  # two strokes
    # dice / clicks (a prompt, an accept, two strokes)
    assert model_row["mean_dice_per_click"] == pytest.approx(np.mean([2 * 30 / 66, 2 * 36 / 78]) / 4)
