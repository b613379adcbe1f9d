"""The training job on real data and real weights (issue 11), kept tiny: two lung CT series of three slices
(pyradiomics lung1 and lung2, scripts/seed_al.py) whose nodule masks a reviewer approved, one epoch.

A run makes a candidate with its metrics beside the active version's on the same held-out cases; promoting
it makes workers serve its exact checkpoint while the cached embeddings stay valid (the encoder is the
parent's); rolling back serves the base model again. A run cancelled or killed mid-way leaves the active
version, the version rows and MODEL_DIR as they were."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from annotator import al_settings, inference, model_serving
from annotator.actions import model_versions, reaper
from annotator.learning import training
from annotator.models import Job, ModelVersion, Project, Series
from ml_worker import serving
from ml_worker.training import trainer
from ml_worker.weights import sha256_of
from scripts.seed_al import seed
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(scope="module")
def embedding_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embeddings")  # the slices are embedded once for the module


@pytest.fixture
def project(settings, tmp_path, monkeypatch, embedding_dir) -> Project:
    # Versions are written under a temporary MODEL_DIR; serving in torch keeps the shared OpenVINO export
    # folder (the real MODEL_DIR) free of test candidates' conversions.
    settings.MODEL_DIR = tmp_path / "models"
    settings.EMBEDDING_DIR = embedding_dir
    monkeypatch.setenv("INFERENCE_BACKEND", "torch")
    serving.reset_predictors()
    inference.embeddings.cache_clear()
    model_serving.forget()
    owner, annotator, reviewer = (UserFactory(username=n) for n in ("olivia", "anna", "rui"))
    ids = seed(owner, annotator, reviewer, slices=3)
    yield Project.objects.get(pk=ids["project"])
    inference.embeddings.cache_clear()
    model_serving.forget()
    serving.reset_predictors()


def start(project: Project) -> Job:
    return model_versions.do_start_training(project.created_by, project)


def test_a_run_makes_a_candidate_measured_beside_the_active_version(project):
    job = training.run_training_job(start(project).pk)
    assert job.state == "done", job.error
    base, candidate = ModelVersion.objects.filter(project=project).order_by("number")
    served = serving.get_predictor()
    # The base model is version 0 and stays active; the candidate is version 1 with its own file
    assert base.active and base.is_base and base.sha256 == served.checkpoint_sha256
    assert candidate.state == "candidate" and not candidate.active and candidate.parent == base
    path = Path(django_settings.MODEL_DIR) / candidate.checkpoint
    assert sha256_of(path) == candidate.sha256 != base.sha256
    assert candidate.encoder_sha256 == base.encoder_sha256  # decoder-only: the encoder bytes are kept
    # Trained on one series, measured on the other, both versions on the same held-out cases
    heldout_series = candidate.training["heldout_series"]
    assert len(heldout_series) == 1
    assert all(not c.startswith(f"series{heldout_series[0]}:") for c in candidate.training["case_ids"])
    assert all(c.startswith(f"series{heldout_series[0]}:") for c in candidate.training["heldout_case_ids"])
    n = len(candidate.training["heldout_case_ids"])
    assert n > 0
    assert candidate.metrics["candidate"]["n"] == candidate.metrics["active"]["n"] == n
    assert len(candidate.metrics["candidate"]["mean_dice_per_click"]) == 6  # box + 5 clicks
    assert candidate.metrics["active_version"] == base.pk
    assert candidate.loss_curve and all(p["loss"] > 0 for p in candidate.loss_curve)
    assert candidate.recipe["max_epochs"] == 1
    # The seed's permissive rule lets it through; the held-out series is now fixed for later runs
    assert candidate.decision["promote"] is True
    project.refresh_from_db()
    assert al_settings.al_settings(project).heldout_series == heldout_series


def test_embeddings_survive_a_decoder_only_promotion_and_rollback_serves_the_base_again(project):
    job = training.run_training_job(start(project).pk)
    candidate = ModelVersion.objects.get(project=project, number=1)
    series = Series.objects.get(pk=candidate.training["heldout_series"][0])
    before = inference.project_embeddings(project.pk)
    embedding_before, computed = before.get(series, 1, "lung")
    assert not computed  # embedded for the run
    signature_before = before.signature(series, 1, "lung")
    # When the owner promotes the candidate
    model_versions.do_promote(project.created_by, project, candidate.pk)
    model_serving.forget()  # a worker's cached lookup expires (ACTIVE_TTL_S)
    # Then workers serve the candidate's exact checkpoint ...
    predictor = model_serving.predictor_for(project.pk)
    assert predictor.checkpoint_sha256 == candidate.sha256
    assert predictor.model_version == candidate.version_string
    # ... and the slice's embedding is found, not recomputed: same signature, same numbers
    after = inference.project_embeddings(project.pk)
    assert after.predictor is predictor
    assert after.signature(series, 1, "lung") == signature_before
    embedding_after, computed = after.get(series, 1, "lung")
    assert not computed and (embedding_after == embedding_before).all()
    # When the owner rolls back, the base model's exact checkpoint serves again
    model_versions.do_rollback(project.created_by, project)
    model_serving.forget()
    base = ModelVersion.objects.get(project=project, number=0)
    served = model_serving.predictor_for(project.pk)
    assert served is serving.get_predictor() and served.checkpoint_sha256 == base.sha256
    assert job.result["version"] == candidate.pk


def no_new_versions(project: Project) -> None:
    assert not ModelVersion.objects.filter(project=project).exists()
    folder = Path(django_settings.MODEL_DIR) / "versions"
    assert not folder.exists() or not any(p.suffix == ".pt" for p in folder.rglob("*"))
    model_serving.forget()
    assert model_serving.predictor_for(project.pk) is serving.get_predictor()


def test_a_run_cancelled_mid_training_leaves_the_active_version_untouched(project, monkeypatch):
    job = start(project)
    original = training.Reporter.training

    def cancel_after_first_step(self, progress):
        Job.objects.get(pk=job.pk).cancel()  # the owner presses Cancel while the first step runs
        original(self, progress)

    monkeypatch.setattr(training.Reporter, "training", cancel_after_first_step)
    finished = training.run_training_job(job.pk)
    assert finished.state == "cancelled"
    no_new_versions(project)


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing after the current step runs, no handler sees it."""


def test_a_run_killed_mid_training_leaves_the_active_version_untouched(project, monkeypatch):
    job = start(project)

    def die(self, data, idx, rng):
        raise WorkerKilled

    monkeypatch.setattr(trainer.Trainer, "step", die)
    with pytest.raises(WorkerKilled):
        training.run_training_job(job.pk)
    job.refresh_from_db()
    assert job.state == "running"  # the dead worker never said anything more
    # The reaper notices the silence and fails the job with the reason; the active version is the base still
    later = timezone.now() + timedelta(seconds=django_settings.JOB_HEARTBEAT_TIMEOUT_S + 1)
    assert reaper.reap_stale_jobs(later, send=lambda job: None)["failed"] == [job.pk]
    job.refresh_from_db()
    assert job.state == "failed" and "start the job again" in job.error
    no_new_versions(project)
