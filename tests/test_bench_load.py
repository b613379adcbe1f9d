"""`make bench-load`'s rule for the load held (scripts/stack_test/ramp.py): a step holds when its p99 is
within 250 ms, every prompt got its answer and the stack kept up with what was offered."""

from __future__ import annotations

from scripts.stack_test.ramp import Step, load_held


def answered(ms: float) -> dict:
    return {"outcome": "result", "ms": ms, "worker_ms": ms / 2, "retried": False}


def step(rate: float, ms: list[float], *, offered: int | None = None, lost: int = 0) -> Step:
    s = Step(rate, 0.0, 10.0, offered=len(ms) + lost if offered is None else offered)
    s.records = [answered(m) for m in ms] + [{"outcome": "lost", "ms": None, "retried": True}] * lost
    return s


def test_a_step_holds_only_with_p99_within_250_ms_every_prompt_answered_and_the_offered_rate_kept_up():
    fast = [100.0] * 98
    assert step(10, fast + [240.0, 240.0]).report()["holds"]
    assert not step(10, fast + [900.0, 900.0]).report()["holds"]  # p99 over 250 ms
    assert not step(10, fast + [100.0], lost=1).report()["holds"]  # a prompt got no answer
    assert not step(20, fast + [100.0], offered=200).report()["holds"]  # 10/s answered of 20/s offered


def test_the_load_held_is_the_highest_step_with_every_lower_one_holding():
    ok, slow = [100.0] * 50, [100.0] * 40 + [800.0] * 10
    reports = [step(r, ms).report() for r, ms in ((1, ok), (2, ok), (4, slow), (8, ok))]
    # Then 8/s, which held after 4/s did not, does not count: the load held is 2/s
    assert load_held(reports)["rate"] == 2
    assert load_held([step(1, slow).report()]) is None
