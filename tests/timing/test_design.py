"""The counterbalanced plan of a timing study: its invariants hold for every seed and size tried."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from annotator.timing.design import ASSISTED, MANUAL, CaseRef, plan

SIZES = [(n, p) for n in range(1, 9) for p in range(2, 9)]
SEEDS = range(40)


def cases_on(n: int, series_of=lambda i: i) -> list[CaseRef]:
    return [CaseRef(series=series_of(i), label=i) for i in range(n)]


def people(p: int) -> list[int]:
    return [100 + i for i in range(p)]


@pytest.mark.parametrize("n, p", SIZES)
def test_every_participant_does_every_case_once_and_every_case_is_done_in_both_conditions(n, p):
    for seed in SEEDS:
        result = plan(cases_on(n), people(p), seed)
        for person in people(p):
            sequence = result.sequence(person)
            assert sorted(t.case for t in sequence) == list(range(n))
            assert [t.position for t in sequence] == list(range(n))
            counts = Counter(t.condition for t in sequence)
            assert abs(counts[MANUAL] - counts[ASSISTED]) <= 1
        for case in range(n):
            conditions = {t.condition for t in result.tasks if t.case == case}
            assert conditions == {MANUAL, ASSISTED}, (n, p, seed, case)


@pytest.mark.parametrize("n, p", SIZES)
def test_no_two_participants_are_on_the_same_case_at_the_same_step_while_there_are_enough_cases(n, p):
    for seed in SEEDS:
        result = plan(cases_on(n), people(p), seed)
        steps = Counter((t.position, t.case) for t in result.tasks)
        worst = max(steps.values())
        if p <= n:
            assert worst == 1 and result.report["same_case_same_step"] == 0
        else:  # more participants than cases: at least ceil(p / n) share a step, and no more than that
            assert worst == -(-p // n)


@pytest.mark.parametrize("n", [4, 6, 8])
def test_with_an_even_number_of_cases_conditions_alternate_and_half_start_manual(n):
    for seed, p in itertools.product(SEEDS, range(2, n + 1, 2)):
        result = plan(cases_on(n), people(p), seed)
        starts = Counter()
        for person in people(p):
            sequence = [t.condition for t in result.sequence(person)]
            assert all(a != b for a, b in zip(sequence, sequence[1:], strict=False)), sequence
            starts[sequence[0]] += 1
        assert starts[MANUAL] == starts[ASSISTED] == p // 2


def test_the_same_seed_gives_the_same_plan_and_other_seeds_other_plans():
    cases, participants = cases_on(6), people(4)
    assert plan(cases, participants, 7).tasks == plan(cases, participants, 7).tasks
    distinct = {tuple(plan(cases, participants, seed).tasks) for seed in range(20)}
    assert len(distinct) > 15


def test_cases_on_the_same_images_are_kept_apart_by_the_washout_where_the_study_allows():
    # Given 8 cases on 4 series (two labels each), a washout of 2 other tasks
    cases = cases_on(8, series_of=lambda i: i // 2)
    for seed in SEEDS:
        result = plan(cases, people(4), seed, washout=2)
        assert result.report["same_series_spaced"] is True
        for person in people(4):
            seen: dict[int, int] = {}
            for t in result.sequence(person):
                series = cases[t.case].series
                if series in seen:
                    assert t.position - seen[series] >= 3
                seen[series] = t.position
    # Three cases on one series among four cannot be three steps apart: the plan says so
    crowded = [CaseRef(1, 1), CaseRef(1, 2), CaseRef(1, 3), CaseRef(2, 1)]
    report = plan(crowded, people(2), 3, washout=2).report
    assert report["same_series_spaced"] is False and report["same_series_min_gap"] == 1


@pytest.mark.parametrize(
    "cases, participants, words",
    [
        ([], [1, 2], "at least one case"),
        ([CaseRef(1, 1)], [1], "at least two participants"),
        ([CaseRef(1, 1), CaseRef(1, 1)], [1, 2], "only once"),
        ([CaseRef(1, 1)], [1, 1], "only once"),
    ],
)
def test_an_impossible_study_is_refused_with_a_reason(cases, participants, words):
    with pytest.raises(ValueError, match=words):
        plan(cases, participants, 1)
