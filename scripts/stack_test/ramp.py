"""`make bench-load`: the load the production stack holds, found by a ramp (issue 13: "prompts per second
at p99 ≤ 250 ms").

The same stack and the same 20 simulated annotators as `make test-stack` (PostgreSQL, Redis, nginx over
TLS, two ASGI servers, two interactive workers, one embed worker), no faults. The annotators offer prompts
at a rising total rate, one step after another: each annotator draws its next box after an exponential
pause (a Poisson arrival of rate ``rate / users``) and has at most one prompt in flight, as the viewer does
(a box drawn while the last one is still out waits for it: then the offered rate is not reached and the
step says so); about one result in ten is saved, in the background, as the autosave does. Per step it prints
prompts/s offered (the arrivals drawn), sent and answered, p50/p99 of the round trip (from the send to the
mask, as the viewer sees it) and the workers' own time per prompt (the reply's ``timings.total_ms``: the
reference measured in the same run). A step "holds" when its p99 ≤ 250 ms, no prompt goes unanswered and
at least 95% of the offered rate is answered; the load held is the highest step that holds with every
lower step holding too. The last line is JSON.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from scripts.stack_test.checks import percentile
from scripts.stack_test.clients import Annotator, Stats
from scripts.stack_test.common import log

P99_TARGET_MS = 250.0
ANSWERED_SHARE = 0.95  # of the offered rate: below it the step did not keep up, whatever its latency
SAVE_SHARE = 0.1


@dataclass
class Step:
    rate: float
    start: float  # seconds since the load started
    end: float
    offered: int = 0
    saves: int = 0
    records: list[dict] = field(default_factory=list)

    def report(self) -> dict:
        seconds = self.end - self.start
        results = [r for r in self.records if r["outcome"] == "result"]
        ms = [r["ms"] for r in results]
        worker = [r["worker_ms"] for r in results if r.get("worker_ms") is not None]
        p99 = percentile(ms, 99)
        answered_per_s = len(results) / seconds
        unanswered = sum(r["outcome"] != "result" for r in self.records)
        return {
            "rate": self.rate,
            "offered_per_s": round(self.offered / seconds, 2),
            "sent_per_s": round(len(self.records) / seconds, 2),
            "answered_per_s": round(answered_per_s, 2),
            "unanswered": unanswered,
            "retried": sum(r["retried"] for r in self.records),
            "saves": self.saves,
            "p50_ms": percentile(ms, 50),
            "p99_ms": p99,
            "worker_p50_ms": percentile(worker, 50),
            "worker_p99_ms": percentile(worker, 99),
            "holds": bool(
                ms
                and p99 is not None
                and p99 <= P99_TARGET_MS
                and unanswered == 0
                and answered_per_s >= ANSWERED_SHARE * self.offered / seconds
            ),
        }


def load_held(reports: list[dict]) -> dict | None:
    """The highest step that holds with every lower step holding too (a step that holds above one that did
    not is luck, not capacity); None when the lowest does not hold."""
    held = None
    for report in reports:
        if not report["holds"]:
            break
        held = report
    return held


async def annotate(client: Annotator, steps: list[Step], stats: Stats, users: int) -> None:
    """One annotator over every step: Poisson arrivals of the step's rate / users, one prompt in flight."""
    saving: asyncio.Task | None = None
    for step in steps:
        gap = users / step.rate
        due = step.start + random.expovariate(1 / gap)
        while due < step.end:
            await asyncio.sleep(max(0.0, due - stats.now()))
            step.offered += 1
            result = await client.prompt()
            step.records.append(client.last_record)
            if result is not None and random.random() < SAVE_SHARE and (saving is None or saving.done()):
                step.saves += 1
                saving = asyncio.create_task(client.save(result["z"], result["rle"]))
            # Arrivals that fell while the prompt was out are offered all the same (counted, then sent
            # one after another as soon as the last answer comes: the viewer's queue of one).
            due += random.expovariate(1 / gap)
            while due < stats.now() and due < step.end:
                step.offered += 1
                due += random.expovariate(1 / gap)
    if saving is not None:
        await saving


async def ramp(clients: list[Annotator], stats: Stats, rates: list[float], step_s: float) -> dict:
    users = len(clients)
    steps = [Step(rate, n * step_s, (n + 1) * step_s) for n, rate in enumerate(rates)]
    log(f"{users} annotators, {len(steps)} steps of {step_s:.0f} s at {rates} prompts/s in total")
    stats.started = time.monotonic()
    # Records are kept by the step that sent them (a prompt sent late in a step and answered in the next
    # belongs to the step that offered it).
    await asyncio.gather(*(annotate(client, steps, stats, users) for client in clients))
    reports = [step.report() for step in steps]
    held = load_held(reports)
    for report in reports:
        log(
            f"step {report['rate']:5.1f}/s: offered {report['offered_per_s']:5.2f}/s, "
            f"sent {report['sent_per_s']:5.2f}/s, answered {report['answered_per_s']:5.2f}/s, "
            f"unanswered {report['unanswered']}, p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, "
            f"workers' own p50 {report['worker_p50_ms']} / p99 {report['worker_p99_ms']} ms"
            f"{'' if report['holds'] else '  (does not hold)'}"
        )
    log(
        f"load held at p99 <= {P99_TARGET_MS:.0f} ms: "
        + (f"{held['answered_per_s']} prompts/s (step {held['rate']}/s)" if held else "none of the steps")
        + f"; most answered in a step: {max(r['answered_per_s'] for r in reports)} prompts/s"
    )
    return {
        "users": users,
        "step_s": step_s,
        "p99_target_ms": P99_TARGET_MS,
        "steps": reports,
        "held_prompts_per_s": held["answered_per_s"] if held else 0.0,
        "held_step_rate": held["rate"] if held else None,
        "held_p99_ms": held["p99_ms"] if held else None,
        "held_worker_p50_ms": held["worker_p50_ms"] if held else None,
        # the stack's throughput whatever the latency: what it answers once offered more than it can
        "max_answered_per_s": max(r["answered_per_s"] for r in reports),
        "worker_p50_ms_lowest_step": reports[0]["worker_p50_ms"],
    }
