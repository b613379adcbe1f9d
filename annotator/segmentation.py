"""The web side of interactive segmentation: the model's input window, rate limits, and handing a checked
prompt to the interactive workers. The decoding itself is ``annotator.inference`` on a worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import current_app as celery_app
from django.conf import settings

from annotator.errors import InvalidInput
from annotator.messages import DecodeRequest, PromptMessage, ProtocolError
from annotator.queues import QUEUE_INTERACTIVE
from annotator.ratelimit import InFlight, take
from annotator.scheduling import redis_client
from ml_worker.sam.build import get_spec, registered_clicks_trained
from ml_worker.sam.errors import SamError
from ml_worker.windows import DEFAULT_CT_WINDOW

if TYPE_CHECKING:
    from annotator.models import Label, Series

# A person clicks a few times a second; a client previewing masks while a box is dragged sends up to
# ~20 prompts/s. 30/s sustained with bursts of 60 leaves room for that and still stops floods. Per user,
# over all their sockets and web processes (annotator.ratelimit; it was per socket: probe finding 15).
PROMPT_RATE_PER_S = 30.0
PROMPT_BURST = 60
# Prompts of one user queued or decoding at once. A dragged box on a loaded worker (p99 ~200 ms at 20
# users, make bench-ws) keeps about 4 in flight; 8 leaves room, and bounds what each user's prompt waits
# behind on the shared interactive queue to 8 prompts of each other user. An entry whose worker died
# expires after 20 s.
PROMPTS_IN_FLIGHT = InFlight("prompt", cap=8, ttl_s=20.0)
LATEST_TTL_S = 600
# The decode task (annotator/tasks.py), sent by name so the web process never imports the worker side.
DECODE_TASK = "annotator.tasks.decode_prompt"


def serving_model() -> dict[str, Any]:
    """The model prompts are decoded with (``DEFAULT_MODEL``) as the browser describes it: its name and
    whether it follows corrective clicks (else points are guarded, ml_worker/click_guard.py)."""
    name = settings.DEFAULT_MODEL
    try:
        clicks_trained = registered_clicks_trained(name)
    except SamError:  # an unreadable registry: the workers will say so; describe the model by its spec
        clicks_trained = get_spec(name).clicks_trained
    return {"name": name, "clicks_trained": clicks_trained}


def latest_key(user_id: int, series_id: int) -> str:
    """Redis key of a user's latest prompt on a series: an older one still queued is superseded."""
    return f"prompt:latest:{user_id}:{series_id}"


def model_preset(series: Series, label: Label | None = None, requested: str | None = None) -> str:
    """The window the *model* sees: the label's, else the project's, else the series' default.

    The display window is free; the model's input window is a per-label or per-project preset, so that
    dragging window/level in the browser never recomputes an embedding.
    """
    if series.is_rgb:
        return "rgb"
    names = {w["name"] for w in series.window_presets}
    if requested and requested not in names:
        raise InvalidInput(
            f"Series {series.id} has no window preset {requested!r} (it has {', '.join(sorted(names))})."
        )
    for candidate in (
        requested,
        getattr(label, "window_preset", "") or None,
        series.study.project.settings.get("model_window"),
        DEFAULT_CT_WINDOW if series.modality == "CT" else None,
        series.default_window,
    ):
        if candidate and candidate in names:
            return candidate
    if not names:
        raise InvalidInput(f"Series {series.id} has no window preset to show the model.")
    return sorted(names)[0]


def decode_request(
    message: PromptMessage, info: dict[str, Any], *, request_id: str, user_id: int, reply_channel: str
) -> DecodeRequest:
    """The worker's request for a prompt on a subscribed series (``info``: its shape, plane grids and model
    preset); refuses a plane, slice, box or point outside the series with :class:`ProtocolError`. On a
    coronal or sagittal plane the image is the plane resampled to square pixels."""
    grid = info.get("planes", {}).get(message.plane)
    if grid is None:
        raise ProtocolError("invalid_message", f"This series has no {message.plane} plane to prompt on.")
    depth, height, width = grid.depth, grid.display_rows, grid.display_cols
    if message.slice_index >= depth:
        where = "the series" if message.plane == "axial" else f"the {message.plane} plane"
        raise ProtocolError(
            "invalid_message", f"Slice {message.slice_index} is outside {where} (0–{depth - 1})."
        )
    if message.box is not None:
        x0, y0, x1, y1 = message.box
        if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
            raise ProtocolError("invalid_prompt", f"The box lies outside the {width}×{height} image.")
    for x, y in message.points or []:
        if not (0 <= x <= width and 0 <= y <= height):
            raise ProtocolError(
                "invalid_prompt", f"The point ({x:g}, {y:g}) lies outside the {width}×{height} image."
            )
    return DecodeRequest(
        **message.model_dump(exclude={"type", "request_id", "preset"}),
        request_id=request_id,
        user_id=user_id,
        reply_channel=reply_channel,
        preset=message.preset or info["preset"],
        image_shape=(height, width),
    )


def admit(request: DecodeRequest) -> None:
    """The user's prompt budget allows this one (rate and prompts in flight), else ``ProtocolError``."""
    if take("prompt", request.user_id, rate=PROMPT_RATE_PER_S, burst=PROMPT_BURST) > 0:
        raise ProtocolError("rate_limited", "Too many prompts at once; wait a moment.")
    if not PROMPTS_IN_FLIGHT.claim(request.user_id, request.request_id):
        raise ProtocolError("rate_limited", "Your earlier prompts are still being decoded; wait a moment.")


def submit(request: DecodeRequest) -> None:
    """Admit a checked prompt and hand it to the interactive workers (the worker releases it when done)."""
    admit(request)
    send_decode(request)


def prompt_done(request: DecodeRequest) -> None:
    """On the worker, after the prompt was decoded, superseded or failed: it no longer counts in flight."""
    PROMPTS_IN_FLIGHT.release(request.user_id, request.request_id)


def send_decode(request: DecodeRequest) -> None:
    """Hand a prompt to the interactive queue; it supersedes this user's earlier prompt on the series."""
    redis_client().set(latest_key(request.user_id, request.series_id), request.request_id, ex=LATEST_TTL_S)
    celery_app.send_task(DECODE_TASK, args=[request.model_dump(mode="json")], queue=QUEUE_INTERACTIVE)
