"""A project's model versions: start a training run, promote a candidate by the project's rule, roll back,
and the active-learning settings (issue 11).

The training run itself (cases from saved revisions, fine-tuning, held-out evaluation) runs on a worker:
annotator/learning/training.py, started here through ``start_job("train")``. Promotion and rollback only
move the ``active`` flag between rows, in one transaction; workers read the active version per prompt
(annotator/model_serving.py), so they pick it up without a restart.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotator import access, al_settings, events
from annotator.access import AnyUser
from annotator.actions.jobs import start_job
from annotator.errors import Conflict, InvalidInput, NotFound
from annotator.messages_al import LossPoint, ModelVersionChanged, ModelVersionInfo
from annotator.models import Job, ModelVersion, Project

TRAIN_KIND = "train"
SCORE_KIND = "queue-scores"
# The loss curve sent to the versions page: every step up to this many points, then evenly thinned.
MAX_CURVE_POINTS = 400


def versions_of(project: Project) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project=project).order_by("number")


def active_version(project: Project) -> ModelVersion | None:
    """The project's active version, or None while the project is on the base model with no run yet."""
    return ModelVersion.objects.filter(project=project, active=True).first()


def get_version(project: Project, version_id: int) -> ModelVersion:
    version = ModelVersion.objects.filter(project=project, pk=version_id).first()
    if version is None:
        raise NotFound("No such model version.")
    return version


def thin_curve(curve: list[dict[str, Any]], limit: int = MAX_CURVE_POINTS) -> list[LossPoint]:
    points = [
        LossPoint(step=int(p["step"]), epoch=int(p["epoch"]), loss=float(p["loss"]))
        for p in curve
        if p.get("loss") is not None
    ]
    if len(points) <= limit:
        return points
    stride = len(points) / limit
    return [points[int(i * stride)] for i in range(limit - 1)] + [points[-1]]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def version_info(version: ModelVersion) -> ModelVersionInfo:
    training = version.training or {}
    return ModelVersionInfo(
        id=version.pk,
        number=version.number,
        project=version.project_id,
        parent=version.parent_id,
        replaced=version.replaced_id,
        state=version.state,  # type: ignore[arg-type]
        active=version.active,
        model_name=version.model_name,
        version=version.version_string,
        sha256=version.sha256,
        encoder_sha256=version.encoder_sha256,
        created_at=_iso(version.created_at) or "",
        promoted_at=_iso(version.promoted_at),
        rolled_back_at=_iso(version.rolled_back_at),
        job=version.job_id,
        cases_train=len(training.get("case_ids", [])),
        cases_heldout=len(training.get("heldout_case_ids", [])),
        recipe=version.recipe,
        metrics=version.metrics,
        decision=version.decision,
        loss_curve=thin_curve(version.loss_curve),
        validation_curve=version.validation_curve,
    )


def announce(version: ModelVersion) -> None:
    """Tell the project's members (their open tabs) about the version, once the transaction commits."""
    active = active_version(version.project)
    message = ModelVersionChanged(
        project=version.project_id, version=version_info(version), active=active.pk if active else None
    )
    for user_id in version.project.memberships.values_list("user_id", flat=True):
        events.send_on_commit(events.user_group(user_id), message)


# -- training ------------------------------------------------------------------------------------------


def running_training(project: Project) -> Job | None:
    return Job.objects.filter(
        project=project, kind=TRAIN_KIND, state__in=[Job.State.PENDING, Job.State.RUNNING]
    ).first()


@transaction.atomic
def do_start_training(user: AnyUser, project: Project) -> Job:
    """Queue a fine-tuning run of the project's active version on the ``train`` queue. Single-flight: while
    one is pending or running, another is refused (409) with the running job's id."""
    Project.objects.select_for_update().get(pk=project.pk)  # two clicks at once: one of them waits here
    running = running_training(project)
    if running is not None:
        raise Conflict(
            "A training run of this project is already under way; wait for it or cancel it.",
            details={"job": running.pk},
        )
    settings = al_settings.al_settings(project)
    return start_job(
        TRAIN_KIND,
        project=project,
        user=user,
        payload={"training_masks": settings.training_masks},
        message="Waiting for a training worker.",
    )


# -- promotion and rollback ----------------------------------------------------------------------------


def check_promotable(version: ModelVersion, active: ModelVersion | None) -> None:
    if version.state != ModelVersion.State.CANDIDATE:
        raise Conflict(f"Version {version.number} is {version.get_state_display().lower()}, not a candidate.")
    evaluated_against = (version.metrics or {}).get("active_version")
    if active is not None and evaluated_against != active.pk:
        raise Conflict(
            f"Version {version.number} was compared with another version than the active one "
            f"(v{active.number}); train again to compare it with the active version."
        )
    decision = version.decision or {}
    if not decision.get("promote"):
        reasons = "; ".join(decision.get("reasons") or ["it was not evaluated"])
        raise Conflict(
            f"Version {version.number} is not better than the active version by the project's rule: {reasons}.",
            details={"reasons": decision.get("reasons") or []},
        )


def promote(version: ModelVersion, user: AnyUser | None) -> ModelVersion:
    """Make ``version`` active (call inside a transaction holding the project's lock)."""
    active = active_version(version.project)
    check_promotable(version, active)
    if active is not None:
        active.active = False
        active.save(update_fields=["active"])
    version.active = True
    version.state = ModelVersion.State.PROMOTED
    version.replaced = active
    version.promoted_at = timezone.now()
    version.promoted_by = access.signed_in(user) if user is not None and user.is_authenticated else None
    version.save(update_fields=["active", "state", "replaced", "promoted_at", "promoted_by"])
    announce(version)
    after_model_change(version.project, user)
    return version


@transaction.atomic
def do_promote(user: AnyUser, project: Project, version_id: int) -> ModelVersion:
    """Promote a candidate: refused (409, with the rule's reasons) unless it beat the active version on the
    held-out cases by the project's rule."""
    Project.objects.select_for_update().get(pk=project.pk)
    return promote(get_version(project, version_id), user)


@transaction.atomic
def do_reject(user: AnyUser, project: Project, version_id: int) -> ModelVersion:
    Project.objects.select_for_update().get(pk=project.pk)
    version = get_version(project, version_id)
    if version.state != ModelVersion.State.CANDIDATE:
        raise Conflict(f"Version {version.number} is not a candidate.")
    version.state = ModelVersion.State.REJECTED
    version.save(update_fields=["state"])
    announce(version)
    return version


@transaction.atomic
def do_rollback(user: AnyUser, project: Project) -> ModelVersion:
    """Make the version that the active one replaced active again (its exact checkpoint); the rolled-back
    version keeps its files and metrics. Returns the version active now."""
    Project.objects.select_for_update().get(pk=project.pk)
    current = active_version(project)
    if current is None or current.replaced_id is None:
        raise Conflict("The project is on its base model: there is no earlier version to roll back to.")
    previous = ModelVersion.objects.get(pk=current.replaced_id)
    current.active = False
    current.state = ModelVersion.State.ROLLED_BACK
    current.rolled_back_at = timezone.now()
    current.save(update_fields=["active", "state", "rolled_back_at"])
    previous.active = True
    previous.save(update_fields=["active"])
    announce(current)
    announce(previous)
    after_model_change(project, user)
    return previous


def after_model_change(project: Project, user: AnyUser | None) -> None:
    """The active model changed: a project whose queue is ordered by the model scores its queue again."""
    if al_settings.queue_ordering(project) != "priority" and user is not None:
        start_scoring(user, project)


# -- queue scores --------------------------------------------------------------------------------------


def start_scoring(user: AnyUser, project: Project) -> Job | None:
    """Queue a run of the project's queue strategy over its open tasks, unless one is already waiting."""
    if Job.objects.filter(
        project=project, kind=SCORE_KIND, state__in=[Job.State.PENDING, Job.State.RUNNING]
    ).exists():
        return None
    strategy = al_settings.queue_ordering(project)
    if strategy == "priority":
        raise InvalidInput("The queue is ordered by priority; choose a model strategy first.")
    return start_job(SCORE_KIND, project=project, user=user, payload={"strategy": strategy})


@transaction.atomic
def do_score_queue(user: AnyUser, project: Project) -> Job | None:
    Project.objects.select_for_update().get(pk=project.pk)
    return start_scoring(user, project)


# -- settings ------------------------------------------------------------------------------------------


def settings_info(project: Project) -> dict[str, Any]:
    """The settings in use; ``warning`` names what was stored invalid (the defaults stand in for it) or is
    None."""
    current, warning = al_settings.load(project)
    warnings = [w for w in (warning, al_settings.queue_ordering_warning(project)) if w]
    return {
        **current.model_dump(),
        "queue_ordering": al_settings.queue_ordering(project),
        "queue_orderings": list(al_settings.QUEUE_ORDERINGS),
        "training_strategies": list(al_settings.TRAINING_STRATEGIES),
        "warning": " ".join(warnings) or None,
    }


@transaction.atomic
def do_update_settings(
    user: AnyUser, project: Project, changes: dict[str, Any], queue_ordering: str | None = None
) -> Project:
    """Change the project's active-learning settings (owner); choosing a model strategy for the queue
    scores the open tasks in the background (when it changes: the form sends every field). Always writes a valid whole: settings stored invalid are
    replaced by the defaults in use with ``changes`` applied."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    updated = al_settings.check_update(al_settings.al_settings(project), changes)
    previous = ordering = al_settings.queue_ordering(project)
    if queue_ordering is not None:
        ordering = al_settings.check_queue_ordering(queue_ordering)
    project.settings = {
        **project.settings,
        al_settings.SETTINGS_KEY: updated.model_dump(),
        al_settings.QUEUE_ORDERING_KEY: ordering,
    }
    project.save(update_fields=["settings"])
    if ordering not in (previous, "priority"):
        start_scoring(user, project)
    return project


def record_heldout_series(project: Project, series_ids: list[int]) -> None:
    """Add series to the project's frozen held-out set (the training run, once it has chosen them)."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        current = al_settings.al_settings(project)
        fixed = sorted(set(current.heldout_series) | set(series_ids))
        if fixed == current.heldout_series:
            return
        updated = current.model_copy(update={"heldout_series": fixed})
        project.settings = {**project.settings, al_settings.SETTINGS_KEY: updated.model_dump()}
        project.save(update_fields=["settings"])
