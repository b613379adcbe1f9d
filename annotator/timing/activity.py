"""Active time from a stream of interaction events: the one definition (docs/timing.md states it in words;
frontend/src/viewer/activeTime.ts is its port for the viewer's running clock, checked on the same cases).

Within one client session, take the events that are the user acting (every kind but the passive ones,
``save`` and ``prompt.result``) in sequence order, e_1 … e_n, at client times t_i; an event with a duration
(a stroke, a drag) covers [t_i − d_i, t_i].

1. Each event's own span [t_i − d_i, t_i] is active.
2. The gap from t_i to the start of the next event, s_{i+1} = t_{i+1} − d_{i+1}, is active when it is at
   most the idle threshold T. A longer gap is cut entirely: the person is taken to have stopped at t_i.
3. After a ``hidden`` event (the tab went to the background) and after ``page.close``, the gap to the next
   event is never active: time in a hidden tab is excluded, whatever its length.
4. Nothing after a session's last event counts (the page sends ``page.close`` on pagehide).
5. A gap belongs to the context of the event that opens it (e_i: the series, label and task on screen
   while the person thought about their next action); a span to its own event's context.
6. Replayed events (the same session and sequence number sent twice after a reconnect) count once.
7. Across sessions (two tabs), active time is the union of the intervals per context: never counted twice.
8. Per mask revision: a mask's intervals are split at its ``save`` events; the time up to a save belongs to
   the revision that save created, the time after the last save to no revision yet.

Times are milliseconds; the functions are pure and need no Django.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from annotator.timing.schema import MODEL_KINDS, PASSIVE_KINDS

# A project's default idle threshold (Project.settings["idle_threshold_s"]). CVAT drops gaps of 100 s or
# more; 30 s is the choice: long enough to look at a slice, short enough that a coffee is not work.
DEFAULT_IDLE_THRESHOLD_S = 30.0
# Kinds after which the following gap is never active.
GAP_CLOSERS = frozenset({"hidden", "page.close"})

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Context:
    """What an event was about: whose work, on which series and label, for which task assignment."""

    user: int
    series: int | None
    label: int | None
    assignment: int | None


@dataclass(frozen=True)
class Event:
    session: str
    seq: int
    t: float
    kind: str
    user: int = 0
    series: int | None = None
    label: int | None = None
    assignment: int | None = None
    revision: int | None = None
    duration: float = 0.0
    model_version: str = ""

    @property
    def start(self) -> float:
        return self.t - self.duration

    @property
    def context(self) -> Context:
        return Context(self.user, self.series, self.label, self.assignment)


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    context: Context

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass
class Summary:
    """Derived facts about a piece of work (a mask, a revision of it, a task)."""

    active_ms: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    model_versions: set[str] = field(default_factory=set)

    @property
    def model_used(self) -> bool:
        return any(self.counts[kind] for kind in MODEL_KINDS)

    def as_dict(self) -> dict[str, object]:
        return {
            "active_ms": round(self.active_ms, 3),
            "counts": dict(sorted(self.counts.items())),
            "model_versions": sorted(self.model_versions),
            "model_used": self.model_used,
        }


def unique(events: Iterable[Event]) -> list[Event]:
    """Each (user, session, seq) once (the first copy: a replay repeats the same event), in session and
    sequence order."""
    seen: dict[tuple[int, str, int], Event] = {}
    for event in events:
        seen.setdefault((event.user, event.session, event.seq), event)
    return sorted(seen.values(), key=lambda e: (e.user, e.session, e.seq))


def session_intervals(events: list[Event], idle_ms: float) -> list[Interval]:
    """Rules 1–5 for one session's events, given in sequence order."""
    acts = [e for e in events if e.kind not in PASSIVE_KINDS]
    out: list[Interval] = []
    for i, event in enumerate(acts):
        if event.duration > 0:
            out.append(Interval(event.start, event.t, event.context))
        if i + 1 == len(acts) or event.kind in GAP_CLOSERS:
            continue
        gap_end = acts[i + 1].start
        if event.t < gap_end and gap_end - event.t <= idle_ms:
            out.append(Interval(event.t, gap_end, event.context))
    return out


def active_intervals(events: Iterable[Event], idle_ms: float) -> list[Interval]:
    """Every session's active intervals (rules 1–6), not yet merged across sessions."""
    by_session: dict[tuple[int, str], list[Event]] = {}
    for event in unique(events):
        by_session.setdefault((event.user, event.session), []).append(event)
    return [i for session in by_session.values() for i in session_intervals(session, idle_ms)]


def union(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping or touching spans merged; sorted."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def total(spans: Iterable[tuple[float, float]]) -> float:
    return sum(end - start for start, end in spans)


def summarise(
    events: Iterable[Event], idle_ms: float, key: Callable[[Context], K | None]
) -> dict[K, Summary]:
    """Active time (rule 7: the union of intervals per key), counts by kind and model versions, grouped by
    ``key(context)``; events whose key is None are left out."""
    events = unique(events)
    spans: dict[K, list[tuple[float, float]]] = {}
    for interval in active_intervals(events, idle_ms):
        k = key(interval.context)
        if k is not None:
            spans.setdefault(k, []).append((interval.start, interval.end))
    out: dict[K, Summary] = {k: Summary(active_ms=total(union(v))) for k, v in spans.items()}
    for event in events:
        k = key(event.context)
        if k is None:
            continue
        summary = out.setdefault(k, Summary())
        summary.counts[event.kind] += 1
        if event.model_version:
            summary.model_versions.add(event.model_version)
    return out


MaskKey = tuple[int, int, int]  # (user, series, label)


def mask_key(context: Context) -> MaskKey | None:
    if context.series is None or context.label is None:
        return None
    return (context.user, context.series, context.label)


def per_mask(events: Iterable[Event], idle_ms: float) -> dict[MaskKey, Summary]:
    return summarise(events, idle_ms, mask_key)


def per_assignment(events: Iterable[Event], idle_ms: float) -> dict[int, Summary]:
    return summarise(events, idle_ms, lambda c: c.assignment)


@dataclass
class RevisionPart:
    """The work that led to one saved revision of a mask (``revision`` None: not saved yet)."""

    revision: int | None
    saved_at: float | None
    summary: Summary


def per_revision(events: Iterable[Event], idle_ms: float) -> dict[MaskKey, list[RevisionPart]]:
    """Rule 8: each mask's active time and events split at its save events, in save order."""
    events = unique(events)
    intervals: dict[MaskKey, list[tuple[float, float]]] = {}
    for interval in active_intervals(events, idle_ms):
        k = mask_key(interval.context)
        if k is not None:
            intervals.setdefault(k, []).append((interval.start, interval.end))
    by_mask: dict[MaskKey, list[Event]] = {}
    for event in events:
        k = mask_key(event.context)
        if k is not None:
            by_mask.setdefault(k, []).append(event)
    out: dict[MaskKey, list[RevisionPart]] = {}
    for k in set(intervals) | set(by_mask):
        saves = sorted((e.t, e.revision) for e in by_mask.get(k, []) if e.kind == "save")
        parts = [RevisionPart(revision, t, Summary()) for t, revision in saves]
        parts.append(RevisionPart(None, None, Summary()))
        bounds = [t for t, _ in saves]
        for start, end in union(intervals.get(k, [])):
            for n, part in enumerate(parts):
                lo = bounds[n - 1] if n else float("-inf")
                hi = bounds[n] if n < len(bounds) else float("inf")
                part.summary.active_ms += max(0.0, min(end, hi) - max(start, lo))
        for event in by_mask.get(k, []):
            n = next((n for n, t in enumerate(bounds) if event.t <= t), len(bounds))
            parts[n].summary.counts[event.kind] += 1
            if event.model_version:
                parts[n].summary.model_versions.add(event.model_version)
        out[k] = [p for p in parts if p.revision is not None or p.summary.counts or p.summary.active_ms]
    return out
