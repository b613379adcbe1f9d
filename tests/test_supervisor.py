"""`make run`'s supervisor: a child that keeps crashing is restarted with a back-off, never given up on."""

from __future__ import annotations

import sys
import time

import pytest

from webapp import stack


def crashing_child() -> stack.Child:
    return stack.Child("crashy", [sys.executable, "-c", "raise SystemExit(3)"])


def wait_exit(child: stack.Child) -> None:
    assert child.process is not None
    child.process.wait(10)


def test_a_child_that_crashes_over_and_over_keeps_being_restarted_with_growing_pauses():
    # Given a child that exits at once, every time
    child = crashing_child()
    now = time.monotonic()
    child.start(now)
    starts, delays = 1, []
    # When it has crashed ten times in quick succession (the probe needed six in 22 s to stop the stack)
    for _ in range(10):
        wait_exit(child)
        crashed = child.process
        child.supervise(now)  # notices the crash: restarts at once, or schedules the restart
        if child.restart_at is None:
            delays.append(0.0)
        else:
            delays.append(child.restart_at - now)
            assert child.process is crashed  # not before its pause is over
            now = child.restart_at
            child.supervise(now)  # the pause is over: started again
        assert child.process is not crashed and child.restart_at is None
        starts += 1
    wait_exit(child)
    # Then it is still being restarted, after pauses that grow to the cap instead of stopping
    assert starts == 11
    # (approx: the pauses are differences of large monotonic clock values)
    assert delays[:6] == pytest.approx([0.0, 1.0, 2.0, 4.0, 8.0, 16.0])
    assert delays[6:] == pytest.approx([stack.BACKOFF_MAX_S] * 4)


def test_a_crashed_child_is_not_restarted_before_its_pause_is_over():
    child = crashing_child()
    child.start()
    wait_exit(child)
    now = time.monotonic()
    child.supervise(now)  # first crash: at once
    wait_exit(child)
    child.supervise(now + 0.1)  # second crash, quickly: one second of pause
    first_process = child.process
    child.supervise(now + 0.5)
    assert child.process is first_process and child.restart_at is not None
    child.supervise(now + 1.2)
    assert child.process is not first_process
    wait_exit(child)


def test_a_child_that_stayed_up_long_enough_is_restarted_at_once_after_its_next_crash():
    child = crashing_child()
    child.start()
    for _ in range(4):  # a run of crashes builds up the back-off
        wait_exit(child)
        child.supervise(time.monotonic())
        child.supervise(child.restart_at or 0.0)
    wait_exit(child)
    # When it crashes after having run for longer than STABLE_AFTER_S
    later = child.started_at + stack.STABLE_AFTER_S + 1
    child.supervise(later)
    # Then the back-off starts over
    assert child.crashes == 1 and child.restart_at is None
    wait_exit(child)
