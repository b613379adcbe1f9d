"""The counterbalanced, reproducible plan of a timing study: which participant does which case, in which
condition, at which step of their sequence. Pure; the study action stores the plan as tasks.

The design (``ALGORITHM``), from a seed:

1. The cases are put in a random *base order*, chosen among seeded shuffles so that cases on the same
   series (the same images, another label) are at least ``washout + 1`` steps apart around the circle of
   the base order (the first shuffle that does it; else the one that comes closest).
2. The participants are put in a random order, p = 0, 1, 2, …
3. A case at base position k is in half k mod 2. A participant does the cases of their group's half
   manually and the others with the model: each participant does every case once, in one condition, about
   half in each. Participants 0 and 1 are in different groups, so with two or more participants every case
   is done in both conditions.
4. Participant p's sequence is the base order rotated by a shift s_p (step j shows base position
   (j + s_p) mod n). The shifts are distinct for up to n participants, so two participants are never on
   the same case at the same step. For an even number of cases the conditions alternate step by step and
   the groups are set (:func:`group`) so that even participants start manual and odd ones with the model:
   learning during the study falls on both conditions alike. (Two cases and two participants are the one
   exception: both start manual, or they would meet the same case at the same step.)

The washout rule, in full: (a) a participant never meets the same case twice (by 3); (b) a participant's
cases on the same images are at least ``washout`` other tasks apart where the number of cases allows (by
1 and 4: a rotation keeps circular distances); (c) a case's runs in its two conditions are spaced in the
study order: no two participants work on the same case at the same step (by 4, for up to n participants),
since at the same time they would see each other's presence and live saves on that series.
``Plan.report`` says how far each rule was met.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

ALGORITHM = "delineate-crossover-v1"
MANUAL: Literal["manual"] = "manual"
ASSISTED: Literal["assisted"] = "assisted"
Condition = Literal["manual", "assisted"]
# Shuffles tried for the washout of same-series cases (each is cheap; 500 finds a spacing whenever one
# exists for the study sizes people run, which are tens of cases).
SHUFFLES = 500


@dataclass(frozen=True)
class CaseRef:
    series: int
    label: int


@dataclass(frozen=True)
class Planned:
    participant: int
    case: int  # index into the cases given to plan()
    condition: Condition
    position: int  # 0-based step in the participant's sequence


@dataclass
class Plan:
    tasks: list[Planned]
    base_order: list[int]
    participant_order: list[int]
    report: dict[str, object] = field(default_factory=dict)

    def sequence(self, participant: int) -> list[Planned]:
        return sorted((t for t in self.tasks if t.participant == participant), key=lambda t: t.position)


def circular_gap(a: int, b: int, n: int) -> int:
    d = abs(a - b) % n
    return min(d, n - d)


def same_series_gap(order: Sequence[int], cases: Sequence[CaseRef]) -> int | None:
    """The smallest circular distance in ``order`` between two cases on the same series (None: no pair)."""
    where: dict[int, list[int]] = {}
    for position, case in enumerate(order):
        where.setdefault(cases[case].series, []).append(position)
    gaps = [
        circular_gap(a, b, len(order))
        for positions in where.values()
        for i, a in enumerate(positions)
        for b in positions[i + 1 :]
    ]
    return min(gaps) if gaps else None


def base_order(cases: Sequence[CaseRef], rng: random.Random, washout: int) -> list[int]:
    order = list(range(len(cases)))
    best, best_gap = list(order), -1
    for _ in range(SHUFFLES):
        rng.shuffle(order)
        gap = same_series_gap(order, cases)
        if gap is None or gap > washout:
            return list(order)
        if gap > best_gap:
            best, best_gap = list(order), gap
    return best


def shift(p: int, n: int) -> int:
    """Distinct shifts for p < n: even ones first (alternating conditions), then odd ones for an even n."""
    if n % 2:
        return (2 * p) % n
    return (2 * p + (2 * p) // n) % n


def group(p: int, n: int) -> int:
    """Participant p's group (0 or 1): p mod 2, flipped for the odd shifts so that the start alternates."""
    flip = (2 * p) // n if n % 2 == 0 and n >= 4 else 0
    return (p + flip) % 2


def plan(cases: Sequence[CaseRef], participants: Sequence[int], seed: int, washout: int = 1) -> Plan:
    """The study's plan. ``participants`` are user ids; raises ValueError for an impossible study."""
    if len(cases) < 1:
        raise ValueError("A study needs at least one case.")
    if len(participants) < 2:
        raise ValueError("A study needs at least two participants: each case is done in both conditions.")
    if len(set(cases)) != len(cases) or len(set(participants)) != len(participants):
        raise ValueError("Each case and each participant can be in a study only once.")
    if washout < 0:
        raise ValueError("The washout is a number of tasks, 0 or more.")
    rng = random.Random(seed)
    order = base_order(cases, rng, washout)
    people = list(participants)
    rng.shuffle(people)
    n = len(order)
    tasks = []
    for p, person in enumerate(people):
        s = shift(p, n)
        for j in range(n):
            k = (j + s) % n
            condition = MANUAL if k % 2 == group(p, n) else ASSISTED
            tasks.append(Planned(person, order[k], condition, j))
    result = Plan(tasks, order, people)
    result.report = describe(result, cases, washout, seed)
    return result


def describe(result: Plan, cases: Sequence[CaseRef], washout: int, seed: int) -> dict[str, object]:
    """How far the washout and balance rules were met (stored with the study, shown on its page)."""
    at_step: dict[tuple[int, int], int] = {}
    for t in result.tasks:
        at_step[(t.position, t.case)] = at_step.get((t.position, t.case), 0) + 1
    collisions = sum(count - 1 for count in at_step.values() if count > 1)
    starts = [result.sequence(p)[0].condition for p in result.participant_order]
    gap = same_series_gap(result.base_order, cases)
    return {
        "algorithm": ALGORITHM,
        "seed": seed,
        "washout": washout,
        "cases": len(cases),
        "participants": len(result.participant_order),
        "same_case_same_step": collisions,
        "same_series_min_gap": gap,
        "same_series_spaced": gap is None or gap > washout,
        "start_manual": starts.count(MANUAL),
        "start_assisted": starts.count(ASSISTED),
    }
