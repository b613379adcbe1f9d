"""Active time on scripted event streams, with the exact numbers the rules of annotator/timing/activity.py
give (idle gaps, a hidden tab, replays after a reconnect, two tabs, attribution to labels and revisions)."""

from __future__ import annotations

from annotator.timing.activity import Event, per_assignment, per_mask, per_revision

T = 30_000.0  # the default idle threshold, ms
S = 1000.0  # one second, ms
A, B = 11, 12  # two labels of series 5


def stream(*items: tuple, session: str = "tab-one-1", user: int = 1, start_seq: int = 0) -> list[Event]:
    """(seconds, kind[, label[, extra fields]]) → events of one session on series 5."""
    events = []
    for n, item in enumerate(items):
        seconds, kind, *rest = item
        label = rest[0] if rest else A
        extra = rest[1] if len(rest) > 1 else {}
        events.append(
            Event(session, start_seq + n, seconds * S, kind, user=user, series=5, label=label, **extra)
        )
    return events


def active_s(events: list[Event], label: int = A, user: int = 1, threshold: float = T) -> float:
    summary = per_mask(events, threshold).get((user, 5, label))
    return summary.active_ms / S if summary else 0.0


def test_steady_work_counts_from_the_first_to_the_last_event():
    events = stream((0, "page.open"), (1, "tool"), (3, "prompt"), (4, "accept"))
    assert active_s(events) == 4.0


def test_a_gap_longer_than_the_idle_threshold_is_cut_entirely():
    # Given 10 s of work, 40 s of nothing, then 5 s more
    events = stream((0, "page.open"), (10, "slice"), (50, "prompt"), (55, "accept"))
    assert active_s(events) == 15.0


def test_a_gap_of_exactly_the_threshold_still_counts():
    events = stream((0, "page.open"), (30, "prompt"), (31, "accept"))
    assert active_s(events) == 31.0


def test_the_threshold_is_the_projects_setting():
    events = stream((0, "page.open"), (10, "slice"), (50, "prompt"), (55, "accept"))
    assert active_s(events, threshold=60 * S) == 55.0
    assert active_s(events, threshold=5 * S) == 5.0


def test_time_in_a_hidden_tab_is_excluded_even_when_short():
    # 5 s of work, 15 s in another tab (under the threshold), 5 s more
    events = stream((0, "page.open"), (5, "hidden"), (20, "visible"), (25, "brush"))
    assert active_s(events) == 10.0


def test_a_stroke_counts_from_press_to_release_and_the_gap_before_it_ends_at_the_press():
    events = stream((0, "tool"), (10, "brush", A, {"duration": 4 * S}))
    assert active_s(events) == 10.0  # 6 s thinking + 4 s drawing
    # After a long pause the drawing itself still counts, the pause does not
    events = stream((0, "tool"), (50, "brush", A, {"duration": 4 * S}))
    assert active_s(events) == 4.0


def test_passive_events_do_not_keep_an_idle_person_active():
    # An autosave 20 s after the last stroke does not bridge the 45 s pause
    events = stream((0, "brush"), (20, "save", A, {"revision": 3}), (45, "brush"))
    assert active_s(events) == 0.0
    # while a click would have
    events = stream((0, "brush"), (20, "slice"), (45, "brush"))
    assert active_s(events) == 45.0


def test_replayed_sequence_numbers_after_a_reconnect_are_counted_once():
    first = stream((0, "page.open"), (2, "prompt"), (3, "accept"))
    # The socket dropped before the acknowledgement: the same three are sent again, then new ones
    replay = stream((0, "page.open"), (2, "prompt"), (3, "accept"))
    later = stream((6, "brush"), (8, "undo"), start_seq=3)
    events = first + replay + later
    assert active_s(events) == 8.0
    summary = per_mask(events, T)[(1, 5, A)]
    assert summary.counts == {"page.open": 1, "prompt": 1, "accept": 1, "brush": 1, "undo": 1}


def test_two_tabs_on_the_same_mask_are_not_counted_twice():
    one = stream((0, "page.open"), (10, "brush"), session="tab-one-1")
    two = stream((5, "page.open"), (15, "brush"), session="tab-two-2")
    assert active_s(one + two) == 15.0  # [0, 10] ∪ [5, 15]


def test_sessions_are_not_bridged_across_a_page_reload():
    before = stream((0, "page.open"), (4, "brush"), (5, "page.close"), session="before-reload")
    after = stream((8, "page.open"), (10, "brush"), session="after-reload1")
    assert active_s(before + after) == 7.0  # 5 s, then 2 s; the 3 s reload is between sessions


def test_a_gap_belongs_to_the_label_on_screen_while_it_passed():
    events = stream((0, "page.open"), (5, "brush"), (8, "label", B), (10, "brush", B))
    assert active_s(events, A) == 8.0
    assert active_s(events, B) == 2.0


def test_each_revision_gets_the_time_up_to_its_save():
    events = stream(
        (0, "prompt"),
        (1, "prompt.result", A, {"model_version": "lite_medsam@79d8c9dca6db"}),
        (2, "accept"),
        (10, "brush"),
        (11, "save", A, {"revision": 7}),
        (20, "brush"),
        (21, "save", A, {"revision": 8}),
        (25, "brush"),
    )
    parts = per_revision(events, T)[(1, 5, A)]
    assert [(p.revision, p.summary.active_ms / S) for p in parts] == [(7, 11.0), (8, 10.0), (None, 4.0)]
    first, second, pending = (p.summary for p in parts)
    assert first.counts == {"prompt": 1, "prompt.result": 1, "accept": 1, "brush": 1, "save": 1}
    assert first.model_used and first.model_versions == {"lite_medsam@79d8c9dca6db"}
    assert not second.model_used and second.counts == {"brush": 1, "save": 1}
    assert pending.counts == {"brush": 1}


def test_per_task_time_is_the_union_over_its_labels_and_sessions():
    mine = stream((0, "page.open", A, {"assignment": 40}), (6, "label", B, {"assignment": 40}))
    mine += stream((9, "brush", B, {"assignment": 40}), start_seq=2)
    other = stream((0, "page.open", A, {"assignment": 41}), (3, "brush", A, {"assignment": 41}), user=2)
    tasks = per_assignment(mine + other, T)
    assert tasks[40].active_ms == 9 * S and tasks[41].active_ms == 3 * S
    assert not tasks[40].model_used


def test_nothing_after_the_last_event_counts_and_an_empty_stream_is_zero():
    assert active_s(stream((0, "page.open"))) == 0.0
    assert per_mask([], T) == {}
