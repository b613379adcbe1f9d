"""The fine-tuning job of a project (kind ``train``, on the ``train`` queue): the worker side of issue 11.

1. cases: the project's masks by its rule, their slices' embeddings through the active version's encoder,
   split into train and a frozen held-out set by series (annotator/learning/cases.py);
2. training: ml_worker.active_learning.loop.train_candidate on the active version (hard cases over-sampled,
   click-aware rounds on cached embeddings, image encoder frozen), its loss curve pushed to the project's
   members as it goes;
3. evaluating: the candidate and the active version on the same held-out cases (box DSC and NSD, Dice per
   corrective click), and the project's promotion rule;
4. saving: the candidate's row (and the base model's, at the first run), OpenVINO conversion of the decoder
   (the encoder export is the parent's), promotion when the project promotes automatically.

Nothing changes the active version before step 4, which runs in one transaction and only while the job is
still running: a run cancelled or killed at any point leaves the project's model as it was. A cancel is
noticed before every optimiser step; a killed worker stops beating and the reaper fails the job.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max

from annotator import al_settings, events, inference, model_serving
from annotator.actions import jobs, model_versions
from annotator.learning.cases import CasesError, ProjectCases, load_cases
from annotator.messages_al import LossPoint, TrainingProgressMessage
from annotator.models import Job, ModelVersion, Project, Series
from ml_worker import serving
from ml_worker.active_learning.loop import export_for_openvino, train_candidate
from ml_worker.active_learning.promotion import PromotionRule, compare_versions, decide
from ml_worker.evaluation.runner import EvalConfig, Report
from ml_worker.sam.predictor import SamPredictor
from ml_worker.training.trainer import Recipe, TrainingCancelled, TrainingError, TrainingProgress

log = logging.getLogger(__name__)

# Progress shares of the phases (the training share by optimiser steps).
CASES_END, TRAINING_END, EVALUATING_END = 0.15, 0.85, 0.97
# Progress is written to the job row and pushed at most this often (a step takes ~0.1–1 s on CPU).
REPORT_EVERY_S = 1.0
# How often the job row is read to notice a cancel between steps.
CANCEL_CHECK_S = 0.5
EVAL_CLICKS = 5
SUMMARY_KEYS = ("n", "mean_dsc", "median_dsc", "mean_nsd", "noc90", "reached90", "mean_dice_per_click")


class Reporter:
    """Progress of one run: the job row (throttled), the members' sockets, the cancel check."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.members = list(job.project.memberships.values_list("user_id", flat=True)) if job.project else []
        self.points: list[LossPoint] = []
        # Every point so far: kept on the job row, so a page opened (or reloaded) mid-run draws the curve.
        self.curve: list[dict[str, Any]] = []
        self.last_report = 0.0
        self.last_check = 0.0
        self.cancelled = False

    def phase(self, phase: str, progress: float, message: str, **extra: Any) -> None:
        if not jobs.report(self.job, progress, message):
            self.cancelled = True
            raise TrainingCancelled("the job is no longer running")
        self.last_report = time.monotonic()
        if self.points:
            self.curve.extend(p.model_dump() for p in self.points)
            stored = [p.model_dump() for p in model_versions.thin_curve(self.curve)]
            Job.objects.filter(pk=self.job.pk, state=Job.State.RUNNING).update(result={"loss_curve": stored})
        update = TrainingProgressMessage(
            project=self.job.project_id or 0,
            job_id=self.job.pk,
            phase=phase,
            progress=round(progress, 4),
            message=message,
            points=self.points,
            **extra,
        )
        self.points = []
        for user_id in self.members:
            try:
                events.send_to_group(events.user_group(user_id), update)
            except Exception as exc:  # noqa: BLE001 - a missing channel layer must not stop the training
                log.warning("could not push training progress: %s", exc)

    def training(self, p: TrainingProgress) -> None:
        if p.loss is not None:
            self.points.append(LossPoint(step=p.step, epoch=p.epoch, loss=round(float(p.loss), 5)))
        due = time.monotonic() - self.last_report >= REPORT_EVERY_S
        if p.validation is None and not due:
            return
        total = max(1, p.steps_per_epoch * p.max_epochs)
        share = CASES_END + (TRAINING_END - CASES_END) * min(1.0, p.step / total)
        message = f"Epoch {max(p.epoch, 1)} of {p.max_epochs}, step {p.step}"
        if p.loss is not None:
            message += f", loss {p.loss:.4f}"
        validation = None if p.validation is None else [float(v) for v in p.validation["dice_per_click"]]
        self.phase("training", share, message, epoch=p.epoch, max_epochs=p.max_epochs, validation=validation)

    def should_stop(self) -> bool:
        now = time.monotonic()
        if now - self.last_check >= CANCEL_CHECK_S:
            self.last_check = now
            self.cancelled = not Job.objects.filter(pk=self.job.pk, state=Job.State.RUNNING).exists()
        return self.cancelled


def summary(report: Report) -> dict[str, Any]:
    return {key: report.summary.get(key) for key in SUMMARY_KEYS}


def recipe_for(config: al_settings.ActiveLearningSettings) -> Recipe:
    r = config.recipe
    return Recipe(
        lr=r.lr,
        batch_size=r.batch_size,
        max_epochs=r.max_epochs,
        max_clicks=r.max_clicks,
        max_seconds=r.max_seconds,
    )


def torch_predictor(model_name: str, model: Any) -> SamPredictor:
    """Held-out decodes in torch fp32 on the worker's CPU: the same arithmetic for both versions."""
    return SamPredictor(model_name, backend="torch", device="cpu", model=model)


def run_training_job(job_id: int) -> Job:
    job = Job.objects.select_related("project").get(pk=job_id)
    if not job.claim():
        return job
    reporter = Reporter(job)
    try:
        train(job, reporter)
    except TrainingCancelled:
        job.refresh_from_db()
        log.info("training job %s stopped: %s", job.pk, job.state)
        return job
    except (CasesError, TrainingError) as exc:
        job.fail(str(exc))
    except Exception as exc:
        log.exception("training job %s failed", job_id)
        job.fail(f"{type(exc).__name__}: {exc}")
    jobs.push_progress(job)
    return job


def train(job: Job, reporter: Reporter) -> None:
    project: Project = job.project  # type: ignore[assignment]
    config = al_settings.al_settings(project)
    parent_row = model_versions.active_version(project)
    parent_served = model_serving.served_version(parent_row)
    parent_predictor = model_serving.predictor_of(parent_served)
    embeddings = inference.project_embeddings(project.pk)
    reporter.phase("cases", 0.01, "Collecting masks and their slices' embeddings.")

    def embed(series: Series, index: int, preset: str) -> np.ndarray:
        embedding, _ = embeddings.get(series, index, preset)
        if reporter.should_stop():
            raise TrainingCancelled("cancelled while embedding")
        return embedding

    def on_case(done: int, total: int) -> None:
        if time.monotonic() - reporter.last_report >= REPORT_EVERY_S or done == total:
            reporter.phase("cases", CASES_END * done / total, f"Embedded {done} of {total} slices.")

    cases = load_cases(
        project,
        rule=config.training_masks,
        min_area=config.min_area,
        max_cases=config.max_cases,
        fraction=config.heldout_fraction,
        fixed_heldout=config.heldout_series,
        embed=embed,
        progress=on_case,
    )
    folder = Path(settings.MODEL_DIR) / "versions" / f"project-{project.pk}"
    # Unique even when two databases share MODEL_DIR (a test stack beside `make run`): never overwritten.
    output = folder / f"job-{job.pk}-{uuid.uuid4().hex[:12]}.pt"
    result = train_candidate(
        parent_predictor.model,
        cases.train,
        output,
        recipe_for(config),
        strategy=config.training_strategy,
        device="cpu" if settings.DEVICE == "cpu" else "auto",
        on_progress=reporter.training,
        should_stop=reporter.should_stop,
    )
    try:
        save(job, reporter, project, config, cases, result, parent_row, parent_predictor, output)
    except BaseException:
        output.unlink(missing_ok=True)
        raise


def evaluate(
    reporter: Reporter,
    config: al_settings.ActiveLearningSettings,
    cases: ProjectCases,
    parent: Any,
    candidate: Any,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    reporter.phase(
        "evaluating",
        TRAINING_END,
        f"Comparing with the active version on {len(cases.heldout)} held-out cases.",
    )
    rule = PromotionRule(**config.promotion.model_dump())
    eval_config = EvalConfig(model=parent.model_name, clicks=max(EVAL_CLICKS, rule.clicks))
    reports = compare_versions(
        torch_predictor(parent.model_name, parent),
        torch_predictor(parent.model_name, candidate),
        cases.heldout,
        eval_config,
    )
    active, trained = summary(reports["parent"]), summary(reports["candidate"])
    decision = decide(reports["parent"].summary, reports["candidate"].summary, rule).to_dict()
    decision["rule"] = rule.to_dict()
    return active, trained, decision


def save(
    job: Job,
    reporter: Reporter,
    project: Project,
    config: al_settings.ActiveLearningSettings,
    cases: ProjectCases,
    result: Any,
    parent_row: ModelVersion | None,
    parent_predictor: SamPredictor,
    output: Path,
) -> None:
    from ml_worker.sam.build import build_model_version

    candidate = build_model_version(result.model_name, output, result.sha256)
    active_summary, candidate_summary, decision = evaluate(
        reporter, config, cases, parent_predictor.model, candidate
    )
    reporter.phase("saving", EVALUATING_END, "Converting the new decoder for serving.")
    try:
        # Into the folder the workers' predictors convert into (ml_worker.serving), next to the parent's.
        export_for_openvino(candidate, parent_predictor, serving.settings_from_env().model_dir)
    except Exception:  # noqa: BLE001 - the first worker to serve it converts it then
        log.warning(
            "OpenVINO conversion of the candidate failed; workers convert on first use", exc_info=True
        )
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        if locked.state != Job.State.RUNNING:
            raise TrainingCancelled("cancelled before the candidate was saved")
        Project.objects.select_for_update().get(pk=project.pk)
        parent = parent_row or base_version(project, parent_predictor)
        version = ModelVersion.objects.create(
            project=project,
            number=next_number(project),
            parent=parent,
            state=ModelVersion.State.CANDIDATE,
            model_name=result.model_name,
            checkpoint=str(output.relative_to(Path(settings.MODEL_DIR))),
            sha256=result.sha256,
            encoder_sha256=result.encoder_sha256,
            job=job,
            training={
                "case_ids": result.case_ids + result.validation_case_ids,
                "validation_case_ids": result.validation_case_ids,
                "heldout_case_ids": [c.case_id for c in cases.heldout],
                "heldout_series": cases.heldout_series,
                "masks": config.training_masks,
                "masks_used": cases.masks_used,
                "epochs_run": result.epochs_run,
                "best_epoch": result.best_epoch,
                "stop_reason": result.stop_reason,
                "seconds": round(result.seconds, 2),
                "device": result.device,
                "precision": result.precision,
            },
            recipe=result.recipe,
            loss_curve=[
                {"step": p["step"], "epoch": p["epoch"], "loss": p["loss"]} for p in result.loss_curve
            ],
            validation_curve=result.validation_curve,
            metrics={
                "candidate": candidate_summary,
                "active": active_summary,
                "active_version": parent.pk,
                "cases": len(cases.heldout),
            },
            decision=decision,
            created_by=job.created_by,
        )
        model_versions.record_heldout_series(project, cases.heldout_series)
        model_versions.announce(version)
        if config.auto_promote and decision["promote"]:
            model_versions.promote(version, job.created_by)
        verdict = "better" if decision["promote"] else "not better"
        job.finish(
            {"version": version.pk, "number": version.number, "promote": decision["promote"]},
            message=f"Version {version.number} trained; {verdict} than the active version by the project's rule.",
        )
    jobs.push_progress(job)


def next_number(project: Project) -> int:
    top = ModelVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"]
    return 0 if top is None else top + 1


def base_version(project: Project, predictor: SamPredictor) -> ModelVersion:
    """The row of the base model (version 0, active), made at the project's first saved run."""
    return ModelVersion.objects.create(
        project=project,
        number=0,
        parent=None,
        state=ModelVersion.State.PROMOTED,
        active=True,
        model_name=predictor.model_name,
        checkpoint=str(getattr(predictor.model, "checkpoint_path", "")),
        sha256=predictor.checkpoint_sha256,
        encoder_sha256=predictor.encoder_sha256,
    )
