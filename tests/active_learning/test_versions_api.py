"""Model versions over the REST API (issue 11): promotion refuses a worse candidate, rollback restores the exact
previous checkpoint, training is single-flight per project, and only owners change anything. Rows are made
directly here; tests/active_learning/test_training_job.py makes them by training on real data."""

from __future__ import annotations

import pytest

from annotator import al_settings, model_serving
from annotator.learning.training import recipe_for
from annotator.models import Job, ModelVersion
from ml_worker.training.recipe import Recipe
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

BASE_SHA = "b" * 64


def version(project, number: int, sha: str, *, parent=None, state="candidate", active=False, decision=None):
    return ModelVersion.objects.create(
        project=project,
        number=number,
        parent=parent,
        state=state,
        active=active,
        model_name="lite_medsam",
        checkpoint=f"versions/project-{project.pk}/v{number}.pt" if parent else "/models/lite_medsam.pth",
        sha256=sha,
        encoder_sha256="e" * 64,
        decision=decision or {},
        metrics={"active_version": parent.pk if parent else None},
    )


@pytest.fixture
def base(personas):
    return version(personas.project, 0, BASE_SHA, state="promoted", active=True)


def better(personas, base, number=1, sha="c" * 64):
    return version(personas.project, number, sha, parent=base, decision={"promote": True, "reasons": []})


def url(personas, tail=""):
    return f"/api/projects/{personas.project.pk}/model-versions/{tail}"


def test_promotion_refuses_a_candidate_the_rule_found_worse(personas, base):
    # Given a candidate whose held-out evaluation failed the project's rule
    worse = version(
        personas.project,
        1,
        "d" * 64,
        parent=base,
        decision={"promote": False, "reasons": ["Dice after 3 clicks -0.0400 vs the active version"]},
    )
    # When the owner asks to promote it
    response = personas.client_for("owner").post(url(personas, f"{worse.pk}/promote/"))
    # Then it is refused with the rule's reason, and the base model stays active
    assert response.status_code == 409
    assert "Dice after 3 clicks -0.0400" in response.json()["error"]["message"]
    worse.refresh_from_db()
    assert worse.state == "candidate" and not worse.active
    assert ModelVersion.objects.get(active=True).sha256 == BASE_SHA


def test_a_better_candidate_is_promoted_and_workers_serve_it(personas, base):
    candidate = better(personas, base)
    model_serving.forget()
    assert model_serving.active_for(personas.project.pk).is_base
    response = personas.client_for("owner").post(url(personas, f"{candidate.pk}/promote/"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active"] == candidate.pk
    promoted = next(v for v in body["versions"] if v["id"] == candidate.pk)
    assert promoted["state"] == "promoted" and promoted["replaced"] == base.pk
    # A worker's next lookup (once its cache entry expires) names the new checkpoint
    model_serving.forget()
    served = model_serving.active_for(personas.project.pk)
    assert served.sha256 == candidate.sha256 and served.version_id == candidate.pk


def test_rollback_restores_the_exact_previous_checkpoint(personas, base):
    # Given two promotions in a row: base → v1 → v2
    client = personas.client_for("owner")
    v1 = better(personas, base, 1, "1" * 64)
    assert client.post(url(personas, f"{v1.pk}/promote/")).status_code == 200
    v2 = version(personas.project, 2, "2" * 64, parent=v1, decision={"promote": True})
    assert client.post(url(personas, f"{v2.pk}/promote/")).status_code == 200
    # When the owner rolls back once, then again
    first = client.post(url(personas, "rollback/")).json()
    model_serving.forget()
    after_first = model_serving.active_for(personas.project.pk)
    second = client.post(url(personas, "rollback/")).json()
    model_serving.forget()
    after_second = model_serving.active_for(personas.project.pk)
    # Then v1's exact checkpoint is served again, then the base model's; the rolled-back ones say so
    assert first["active"] == v1.pk and after_first.sha256 == "1" * 64
    assert second["active"] == base.pk and after_second.is_base
    states = {v["number"]: v["state"] for v in second["versions"]}
    assert states == {0: "promoted", 1: "rolled_back", 2: "rolled_back"}
    # And the base model has nothing to roll back to
    third = client.post(url(personas, "rollback/"))
    assert third.status_code == 409
    assert "base model" in third.json()["error"]["message"]


def test_a_candidate_compared_with_another_version_than_the_active_one_is_refused(personas, base):
    v1 = better(personas, base, 1, "1" * 64)
    v2 = better(personas, base, 2, "2" * 64)  # also trained from the base
    client = personas.client_for("owner")
    assert client.post(url(personas, f"{v1.pk}/promote/")).status_code == 200
    response = client.post(url(personas, f"{v2.pk}/promote/"))
    assert response.status_code == 409
    assert "train again" in response.json()["error"]["message"]


def test_training_is_single_flight_per_project(personas):
    client = personas.client_for("owner")
    first = client.post(url(personas, "train/"))
    assert first.status_code == 202
    job_id = first.json()["job"]["id"]
    assert Job.objects.get(pk=job_id).kind == "train"
    # A second start while the first is pending is refused, naming the running job
    second = client.post(url(personas, "train/"))
    assert second.status_code == 409
    assert second.json()["error"]["details"]["job"] == job_id
    # Another project trains independently
    other = ProjectFactory(created_by=personas.owner)
    other.memberships.create(user=personas.owner, role="owner")
    assert client.post(f"/api/projects/{other.pk}/model-versions/train/").status_code == 202
    # Once the first is cancelled, the project can train again
    assert client.post(f"/api/jobs/{job_id}/cancel/").status_code == 200
    assert client.post(url(personas, "train/")).status_code == 202


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_only_owners_train_promote_or_roll_back(personas, base, persona):
    candidate = better(personas, base)
    client = personas.client_for(persona)
    assert client.get(url(personas)).status_code == 200  # members see the versions
    assert client.post(url(personas, "train/")).status_code == 403
    assert client.post(url(personas, f"{candidate.pk}/promote/")).status_code == 403
    assert client.post(url(personas, "rollback/")).status_code == 403
    assert personas.client_for("outsider").get(url(personas)).status_code == 404
    assert not Job.objects.filter(kind="train").exists()


def test_settings_are_validated_and_the_held_out_series_cannot_be_set(personas):
    client = personas.client_for("owner")
    endpoint = f"/api/projects/{personas.project.pk}/active-learning/"
    ok = client.patch(
        endpoint, {"changes": {"training_masks": "saved", "recipe": {"max_epochs": 2}}}, "application/json"
    )
    assert ok.status_code == 200
    assert ok.json()["training_masks"] == "saved" and ok.json()["recipe"]["max_epochs"] == 2
    assert ok.json()["recipe"]["lr"] == 5e-5  # the rest of the recipe kept
    bad = client.patch(endpoint, {"changes": {"training_masks": "all"}}, "application/json")
    assert bad.status_code == 400 and "training_masks" in bad.json()["error"]["message"]
    fixed = client.patch(endpoint, {"changes": {"heldout_series": [1]}}, "application/json")
    assert fixed.status_code == 400
    ordering = client.patch(endpoint, {"queue_ordering": "lowest-iou"}, "application/json")
    assert ordering.json()["queue_ordering"] == "lowest-iou"
    assert Job.objects.filter(kind="queue-scores", project=personas.project).count() == 1


def test_stored_settings_that_no_longer_validate_are_named_and_a_save_writes_a_valid_whole(personas):
    # Given settings stored by hand (or an older release) that no longer validate, with held-out series fixed
    project = personas.project
    project.settings = {
        **project.settings,
        "active_learning": {"training_masks": "all", "recipe": {"lr": -1}, "heldout_series": [7, 9]},
        "queue_ordering": "newest-first",
    }
    project.save()
    owner, annotator = personas.client_for("owner"), personas.client_for("annotator")
    endpoint = f"/api/projects/{project.pk}/active-learning/"
    # When anyone on the project reads them, they get the defaults in use and a warning naming each bad field
    shown = annotator.get(endpoint).json()
    assert shown["training_masks"] == "approved" and shown["queue_ordering"] == "priority"
    assert "training_masks" in shown["warning"] and "recipe.lr" in shown["warning"]
    assert "newest-first" in shown["warning"] and "defaults are in use" in shown["warning"]
    assert shown["heldout_series"] == [7, 9]  # the frozen held-out set is not forgotten
    assert "warning" in owner.get(f"/api/projects/{project.pk}/model-versions/").json()["settings"]
    # When the owner saves one change, a valid whole is written and the warning is gone
    saved = owner.patch(endpoint, {"changes": {"auto_promote": True}}, "application/json")
    assert saved.status_code == 200 and saved.json()["warning"] is None
    project.refresh_from_db()
    stored = project.settings["active_learning"]
    assert stored["training_masks"] == "approved" and stored["recipe"]["lr"] > 0 and stored["auto_promote"]
    assert stored["heldout_series"] == [7, 9] and project.settings["queue_ordering"] == "priority"
    # A bad change on top of valid settings is refused with the field named, and nothing changes
    refused = owner.patch(endpoint, {"changes": {"heldout_fraction": 1.5}}, "application/json")
    assert refused.status_code == 400 and "heldout_fraction" in refused.json()["error"]["message"]
    project.refresh_from_db()
    assert project.settings["active_learning"] == stored


def test_a_page_opened_mid_run_gets_the_loss_curve_so_far_and_a_finished_run_keeps_it(personas, base):
    from annotator.learning.training import Reporter
    from ml_worker.training.trainer import TrainingProgress

    owner = personas.client_for("owner")
    # Given a training run that has made three steps and reported them
    assert owner.post(url(personas, "train/")).status_code == 202
    job = Job.objects.get(kind="train", project=personas.project)
    assert job.claim()
    reporter = Reporter(job)
    for step, loss in enumerate([0.9, 0.7, 0.6], start=1):
        reporter.training(TrainingProgress(1, 1, step, 3, 0.1, loss))
    reporter.phase("training", 0.5, "Epoch 1 of 1, step 3")
    # When a member opens (or reloads) the versions page, the running job carries the curve so far
    body = personas.client_for("annotator").get(url(personas)).json()
    assert body["training"]["id"] == job.pk
    assert [(p["step"], p["loss"]) for p in body["training"]["result"]["loss_curve"]] == [
        (1, 0.9),
        (2, 0.7),
        (3, 0.6),
    ]
    # And a finished run's curve is the version row's, in the versions list
    finished = better(personas, base)
    finished.loss_curve = [{"step": 1, "epoch": 1, "loss": 0.5}, {"step": 2, "epoch": 1, "loss": 0.4}]
    finished.save()
    listed = {v["number"]: v for v in owner.get(url(personas)).json()["versions"]}
    assert [p["loss"] for p in listed[1]["loss_curve"]] == [0.5, 0.4]


def test_a_saved_mask_names_the_version_that_made_it(personas, base):
    import numpy as np

    from annotator.actions.masks import SaveRequest, do_save_revision
    from annotator.models import Role
    from ml_worker.sam.build import LITE_MEDSAM_SHA256
    from tests.factories import LabelFactory
    from tests.segmentation.conftest import make_series

    project = personas.project
    better(personas, base, number=3, sha="c" * 64)
    series = make_series(project, np.zeros((2, 8, 8), dtype=np.int16))
    label = LabelFactory(project=project)
    square = np.zeros((8, 8), dtype=bool)
    square[2:5, 2:5] = True

    head: list[int | None] = [None]

    def saved_with(model: str) -> dict:
        request = SaveRequest(head[0], "model", {0: square}, model, {0: square})
        saved = do_save_revision(personas.annotator, series, label, Role.ANNOTATOR, request)
        head[0] = (saved[0] if isinstance(saved, tuple) else saved).pk
        history = personas.client_for("annotator").get(f"/api/series/{series.pk}/masks/{label.pk}/revisions/")
        return history.json()[0]

    # A mask made by trained version 3 says "v3", the full model string beside it
    latest = saved_with("lite_medsam@" + "c" * 12)
    assert latest["model_label"] == "v3" and latest["model_version"] == "lite_medsam@" + "c" * 12
    # The project's base row, and the shipped checkpoint before any run, are "base LiteMedSAM"
    assert saved_with("lite_medsam@" + "b" * 12)["model_label"] == "base LiteMedSAM"
    assert saved_with(f"lite_medsam@{LITE_MEDSAM_SHA256[:12]}")["model_label"] == "base LiteMedSAM"
    # A model the project does not know keeps its string
    assert saved_with("other@123456789abc")["model_label"] == "other@123456789abc"


def test_a_project_left_at_the_defaults_trains_with_the_recipe_make_bench_al_measured():
    # Given a project whose owner never changed the active-learning settings
    project = ProjectFactory()
    # When a training run builds its recipe, then it is the recipe's own defaults, nothing else
    assert recipe_for(al_settings.al_settings(project)) == Recipe()
