"""Active-learning messages of the WebSocket protocol (issue 11): a training run's progress and loss curve,
and model versions that appear, are promoted, rejected or rolled back. Part of the one protocol:
``annotator.messages`` includes them in ``ServerMessage``. Sent to the members of the project."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from annotator.messages_base import ServerMessageBase

ModelVersionStateName = Literal["candidate", "promoted", "rejected", "rolled_back"]


class LossPoint(BaseModel):
    """One optimiser step of a training run."""

    step: int
    epoch: int
    loss: float


class ModelVersionInfo(BaseModel):
    """A model version as the versions page shows it (annotator/actions/model_versions.py version_info)."""

    id: int
    number: int
    project: int
    parent: int | None
    replaced: int | None
    state: ModelVersionStateName
    active: bool
    model_name: str
    # "lite_medsam@<first 12 of the checkpoint SHA-256>": what saved masks record as their model
    version: str
    sha256: str
    encoder_sha256: str
    created_at: str
    promoted_at: str | None = None
    rolled_back_at: str | None = None
    job: int | None = None
    cases_train: int = 0
    cases_heldout: int = 0
    recipe: dict[str, Any] = Field(default_factory=dict)
    # held-out summaries of this version and of the version active when it was evaluated, same cases
    metrics: dict[str, Any] = Field(default_factory=dict)
    # the promotion rule's verdict: {"promote", "reasons", "deltas"}
    decision: dict[str, Any] = Field(default_factory=dict)
    loss_curve: list[LossPoint] = Field(default_factory=list)
    validation_curve: list[dict[str, Any]] = Field(default_factory=list)


class TrainingProgressMessage(ServerMessageBase):
    """A training run moved on: its phase, progress, and the loss of the steps since the last message."""

    type: Literal["training.progress"] = "training.progress"
    project: int
    job_id: int
    # cases (collecting masks and embeddings), training, evaluating, saving
    phase: str
    progress: float
    message: str
    epoch: int = 0
    max_epochs: int = 0
    points: list[LossPoint] = Field(default_factory=list)
    # Dice per click on the validation split after an epoch (epoch 0: before training), when there is one
    validation: list[float] | None = None


class ModelVersionChanged(ServerMessageBase):
    """A version was created (a candidate), promoted, rejected or rolled back; ``active`` is the project's
    active version after the change (null: the base model, before any run)."""

    type: Literal["model_version.changed"] = "model_version.changed"
    project: int
    version: ModelVersionInfo
    active: int | None


# Every active-learning server message (a member of annotator.messages.ServerMessage).
ActiveLearningMessage = TrainingProgressMessage | ModelVersionChanged
