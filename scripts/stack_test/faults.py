"""The faults, injected while the annotators work, and whether every client recovered from each."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field

from scripts.stack_test.clients import Annotator, Stats
from scripts.stack_test.common import RECOVERY_S, log
from scripts.stack_test.processes import Cluster


# The run --------------------------------------------------------------------------------------------------
@dataclass
class Fault:
    name: str
    at: float  # seconds since the start of the load
    done_at: float | None = None
    detail: dict = field(default_factory=dict)


async def inject(
    faults: list[Fault], cluster: Cluster, stats: Stats, owner: Annotator, seeded: dict, celery
) -> None:
    for fault in faults:
        await asyncio.sleep(max(0.0, fault.at - stats.now()))
        if fault.name == "interactive_kill":
            deadline = time.monotonic() + 10
            while not stats.in_flight and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            fault.detail["prompts_in_flight"] = len(stats.in_flight)
            fault.detail["in_flight_since"] = sorted(stats.in_flight.values())
            cluster.procs["worker-interactive-1"].kill()
            log(f"SIGKILL worker-interactive-1 with {len(stats.in_flight)} prompts in flight")
        elif fault.name == "embed_kill":
            # Series B is never embedded before: its propagation computes embeddings slice by slice, so it
            # is certainly running when the worker is killed.
            await owner.subscribe(seeded["b"]["series"])
            job = await owner.propagate(seeded["b"], wait_running=True)
            status, reply = await asyncio.to_thread(
                owner.http.request,
                "POST",
                f"/api/projects/{seeded['b']['project']}/imports/",
                None,
                data=seeded["upload"][0],
                headers={"Content-Type": seeded["upload"][1]},
            )
            import_job = reply["job"]["id"] if isinstance(reply, dict) and "job" in reply else None
            cluster.procs["worker-embed"].kill()
            fault.detail.update(
                propagation_job=job,
                import_job=import_job,
                import_status=status,
                slices_before_kill=len(owner.jobs.get(job, {}).get("slices", [])) if job else 0,
            )
            log(
                f"SIGKILL worker-embed during propagation job {job} (and import job {import_job}, HTTP {status})"
            )
        elif fault.name == "redis_restart":
            cluster.procs["redis"].kill()
            log("SIGKILL redis (restarted by the monitor)")
        elif fault.name == "asgi_restart":
            cluster.procs["web-1"].kill(signal.SIGTERM)
            log("SIGTERM web-1 (restarted by the monitor)")
        fault.done_at = stats.now()


def recovered_after(stats: Stats, at: float, users: int) -> tuple[bool, float | None]:
    """Did every client get a prompt result sent after ``at`` within RECOVERY_S? (and the slowest's delay)"""
    worst = 0.0
    for client in range(users):
        firsts = [
            p["sent"] + p["ms"] / 1000
            for p in stats.prompts
            if p["client"] == client and p["outcome"] == "result" and p["sent"] >= at
        ]
        if not firsts:
            return False, None
        worst = max(worst, min(firsts) - at)
    return worst <= RECOVERY_S, round(worst, 2)
