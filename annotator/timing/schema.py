"""One interaction event and a batch of them, as the viewer (frontend/src/viewer/interactionLog.ts) or a
simulated participant sends them, over the socket (``log`` in annotator/messages.py) or over REST.

Times are the client's: ``t`` is milliseconds since the Unix epoch on the client's clock (the browser's
``performance.timeOrigin + performance.now()``, monotonic within a page), so batching and network delays do
not change the gaps between events. The server stamps its own receive time beside it. A simulated
participant's events carry its *simulated* clock (annotator/management/commands/simulate_study.py).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr

# What the user did (or, for the passive kinds, what happened to their work).
EventKind = Literal[
    "page.open",  # the viewer opened (a session starts)
    "page.close",  # pagehide: nothing after it in this session
    "focus",
    "blur",
    "visible",  # the tab became visible again
    "hidden",  # the tab went to the background (time until the next event is excluded)
    "prompt",  # a box or a point given to the model
    "prompt.result",  # passive: the model's answer arrived (model_version, latency)
    "candidate",  # another of the model's candidate masks shown
    "accept",  # the model's mask accepted into the label
    "brush",  # one brush stroke (duration_ms: from press to release)
    "eraser",  # one eraser stroke
    "fill",
    "clear",
    "undo",
    "redo",
    "save",  # passive: a revision was saved (revision_id)
    "slice",  # another slice shown
    "tool",  # another tool chosen
    "label",  # another label chosen
    "view",  # zoom, pan, window/level, opacity (coalesced while continuous: duration_ms)
    "propagate",  # a 3D propagation asked of the model
    "propagate.cancel",
    "conflict",  # a conflicting save resolved
    "submit",  # the case handed in (Submit and next, a study's Done: next task)
    "review",  # a reviewer's act on a case: a layer, a comment, approval, a consensus, a restored revision
]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)

# Kinds that are not the user acting: they never keep a session "active" (an autosave while the person is
# away is not work), but they are counted and they mark revisions and model versions.
PASSIVE_KINDS = frozenset({"prompt.result", "save"})
# Asking the model: "was the model used at all" for a mask.
MODEL_KINDS = frozenset({"prompt", "propagate"})
# Changes a person makes to a mask by hand after (or instead of) the model: corrections.
CORRECTION_KINDS = frozenset({"brush", "eraser", "fill", "clear"})
# Clicks that shape a mask: prompts, accepting, strokes, fills (for Dice-per-click).
CLICK_KINDS = frozenset({"prompt", "accept", "brush", "eraser", "fill", "clear", "propagate"})

# 100 000 000 000 000 ms is the year 5138; anything outside [0, that] is not a clock reading.
MAX_EPOCH_MS = 1e14
MAX_BATCH = 500
# What the columns hold (annotator.models.timing): a larger number was a 500 from the database (found by
# sending out-of-range ids and seq to the REST API); refused here as bad input, on the socket and over REST.
MAX_ID = 2**63 - 1  # a BigAutoField key
MAX_COUNT = 2**31 - 1  # a PositiveIntegerField (PostgreSQL's integer)
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _clock(value: float) -> float:
    if not (math.isfinite(value) and 0 <= value <= MAX_EPOCH_MS):
        raise ValueError("t must be milliseconds since the Unix epoch")
    return value


Scalar = StrictStr | StrictInt | StrictFloat | StrictBool | None
Detail = Annotated[dict[str, Scalar | list[StrictFloat | StrictInt]], Field(max_length=16)]


class LoggedEvent(BaseModel):
    """One event of a client session; ``seq`` numbers a session's events from 0 without gaps."""

    seq: int = Field(ge=0, le=MAX_COUNT)
    kind: EventKind
    t: Annotated[float, AfterValidator(_clock)]
    # Continuous activity that ended at t (a stroke, a drag): [t - duration_ms, t] was work.
    duration_ms: float = Field(default=0.0, ge=0.0, le=3_600_000.0)
    series_id: Id | None = None
    label_id: Id | None = None
    assignment_id: Id | None = None
    slice_index: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    # save: the revision it created
    revision_id: Id | None = None
    # prompt.result, accept: the model behind the mask
    model_version: str = Field(default="", max_length=100)
    # small facts worth keeping (the tool chosen, the box, the latency of a model answer)
    detail: Detail = Field(default_factory=dict)


Session = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class EventBatch(BaseModel):
    """What the REST endpoint (and sendBeacon on pagehide) receives: a client session's events."""

    session: Session
    events: list[LoggedEvent] = Field(min_length=1, max_length=MAX_BATCH)
