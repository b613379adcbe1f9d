"""A project's active-learning settings (issue 11), kept in ``Project.settings["active_learning"]`` and
validated by one schema: which masks train the model, how the held-out set is drawn, the recipe's
knobs an owner may change, the promotion rule, and the strategy that orders the "Next case" queue.

The queue strategy is also written to ``Project.settings["queue_ordering"]`` (annotator/actions/tasks.py
reads that key), so the team workflow's Next case uses it without knowing about active learning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from annotator.errors import InvalidInput
from annotator.models import Project
from ml_worker.active_learning.selection import QUEUE_STRATEGIES
from ml_worker.active_learning.selection import TRAINING_STRATEGIES as TRAINING_STRATEGIES
from ml_worker.training.recipe import Recipe

SETTINGS_KEY = "active_learning"
QUEUE_ORDERING_KEY = "queue_ordering"
# "priority" is the team workflow's own ordering (the owner's priorities); the others are model strategies.
QUEUE_ORDERINGS = ("priority", *QUEUE_STRATEGIES)


def _training_strategy(value: str) -> str:
    if value not in TRAINING_STRATEGIES:
        raise ValueError(f"must be one of {', '.join(TRAINING_STRATEGIES)}")
    return value


class PromotionRuleSettings(BaseModel):
    """ml_worker.active_learning.promotion.PromotionRule, as a project stores it (default: held-out DSC not
    lower and Dice after 3 clicks higher than the active version's)."""

    model_config = ConfigDict(extra="forbid")

    dsc_margin: float = Field(default=0.0, ge=-1.0, le=1.0)
    clicks: int = Field(default=3, ge=0, le=10)
    click_margin: float = Field(default=0.0, ge=-1.0, le=1.0)
    min_cases: int = Field(default=1, ge=1, le=10_000)


class RecipeSettings(BaseModel):
    """The knobs of ml_worker.training.recipe.Recipe an owner may set; the rest keep their defaults.

    The defaults are the Recipe's own (one source of truth: the recipe ``make bench-al`` measured)."""

    model_config = ConfigDict(extra="forbid")

    max_epochs: int = Field(default=Recipe.max_epochs, ge=1, le=200)
    lr: float = Field(default=Recipe.lr, gt=0.0, le=1e-2)
    batch_size: int = Field(default=Recipe.batch_size, ge=1, le=256)
    max_clicks: int = Field(default=Recipe.max_clicks, ge=0, le=20)
    max_seconds: float | None = Field(default=Recipe.max_seconds, gt=0.0)


class ActiveLearningSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # approved: only masks a reviewer approved (and consensus masks); saved: every track's latest revision.
    training_masks: Literal["approved", "saved"] = "approved"
    training_strategy: Annotated[str, AfterValidator(_training_strategy)] = "hardest-corrected"
    heldout_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    max_cases: int = Field(default=400, ge=1, le=20_000)
    min_area: int = Field(default=20, ge=1)  # pixels of a mask on a slice for the slice to be a case
    recipe: RecipeSettings = Field(default_factory=RecipeSettings)
    promotion: PromotionRuleSettings = Field(default_factory=PromotionRuleSettings)
    # Promote a candidate that passes the rule as soon as it is evaluated (else an owner clicks Promote).
    auto_promote: bool = False
    # Series fixed in the held-out set: recorded at the first run that needed them, never moved back.
    heldout_series: list[int] = Field(default_factory=list)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())


def load(project: Project) -> tuple[ActiveLearningSettings, str | None]:
    """The project's settings and, when the stored value no longer validates (written by an older version,
    or edited by hand), the defaults in their place with a warning naming what was invalid. The frozen
    held-out series survive the fallback when they are themselves valid: forgetting them would let a later
    run train on series earlier versions were measured on."""
    raw = project.settings.get(SETTINGS_KEY) or {}
    try:
        return ActiveLearningSettings.model_validate(raw), None
    except ValidationError as exc:
        problems = _problems(exc)
    fallback = ActiveLearningSettings()
    if isinstance(raw, dict):
        try:
            fallback = ActiveLearningSettings(heldout_series=raw.get("heldout_series", []))
        except ValidationError:
            pass
    warning = (
        f"The stored active-learning settings are invalid ({problems}); the defaults are in use until an "
        "owner saves the settings."
    )
    return fallback, warning


def al_settings(project: Project) -> ActiveLearningSettings:
    """The project's settings; a stored value that no longer validates falls back to the defaults (:func:`load`
    says so)."""
    return load(project)[0]


def queue_ordering(project: Project) -> str:
    value = project.settings.get(QUEUE_ORDERING_KEY, "priority")
    return value if value in QUEUE_ORDERINGS else "priority"


def queue_ordering_warning(project: Project) -> str | None:
    value = project.settings.get(QUEUE_ORDERING_KEY, "priority")
    if value in QUEUE_ORDERINGS:
        return None
    return (
        f"The stored queue ordering {value!r} is not one of {', '.join(QUEUE_ORDERINGS)}; priority is in use."
    )


def check_update(current: ActiveLearningSettings, changes: dict[str, Any]) -> ActiveLearningSettings:
    """``current`` with ``changes`` (a partial object; nested objects are merged), or InvalidInput naming the
    first bad field. ``heldout_series`` is the server's record and cannot be set."""
    if "heldout_series" in changes:
        raise InvalidInput("The held-out series are fixed by the server and cannot be changed.")
    merged = current.model_dump()
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        return ActiveLearningSettings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}") from exc


def check_queue_ordering(value: object) -> str:
    if value not in QUEUE_ORDERINGS:
        raise InvalidInput(f"The queue ordering must be one of {', '.join(QUEUE_ORDERINGS)}.")
    return str(value)
