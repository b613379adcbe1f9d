"""The base of every server message (its own module so that feature modules of the protocol, such as
``annotator.messages_review``, build on it while ``annotator.messages`` gathers them all)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


def _type_is_required(schema: dict[str, Any]) -> None:
    """Builders may leave out ``type`` (it has its one value as default), but every message carries it."""
    schema["required"] = ["type", *(name for name in schema.get("required", []) if name != "type")]


class ServerMessageBase(BaseModel):
    model_config = ConfigDict(json_schema_extra=_type_is_required)


class ClientMessageBase(BaseModel):
    request_id: str | None = None


# Planes (issue 15): a slice index counts along the plane's normal; box and points are pixels of the plane
# resampled to square pixels (ml_worker.planes), masks come back on the plane's voxel grid. Default axial:
# the stored slices, as before planes existed.
PlaneName = Literal["axial", "coronal", "sagittal"]
