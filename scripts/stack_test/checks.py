"""After the run: every acknowledged save in the database exactly once and readable, jobs settled, every
fault recovered; the summary (the last line of the run is its JSON) and the failed checks."""

from __future__ import annotations

import json
import time
from pathlib import Path

from scripts.stack_test.clients import Http, Stats
from scripts.stack_test.common import PROMPT_TIMEOUT_S, RECOVERY_S, SETTLE_S, duration, log
from scripts.stack_test.faults import Fault, recovered_after
from scripts.stack_test.processes import Cluster, django_json


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 1)


VERIFY = """
import json, sys
from annotator.actions.masks import mask_shape, read_volume
from annotator import rle
from annotator.models import Job, MaskRevision
acks = json.load(open(sys.argv[1]))
lost = []
for ack in acks:
    found = list(MaskRevision.objects.filter(model_version=ack["marker"]).select_related("track__series"))
    problem = None
    if len(found) != 1:
        problem = f"{len(found)} revisions carry it"
    elif found[0].id != ack["revision"]:
        problem = f"acknowledged as revision {ack['revision']}, stored as {found[0].id}"
    else:
        try:
            volume = read_volume(found[0], mask_shape(found[0].track.series))
            if not (volume[ack["z"]] == rle.decode(ack["rle"], expected_shape=volume.shape[1:])).all():
                problem = "the stored slice differs from the mask sent"
        except Exception as exc:
            problem = f"unreadable: {type(exc).__name__}: {exc}"
    if problem:
        lost.append({"marker": ack["marker"], "problem": problem})
jobs = {j.pk: {"kind": j.kind, "state": j.state, "error": j.error, "attempts": j.attempts, "requeues": j.requeues}
        for j in Job.objects.all()}
print(json.dumps({"lost": lost, "jobs": jobs}))
"""


def verify(args, cluster: Cluster, env: dict, info: dict, stats: Stats, faults: list[Fault], clients) -> dict:
    from celery import Celery

    users = len(clients)
    acks = Path(cluster.workdir / "acks.json")
    acks.write_text(json.dumps(stats.saves_acknowledged))
    # Jobs get SETTLE_S to end (the reaper's heartbeat timeout, a re-send, the work itself).
    deadline = time.monotonic() + SETTLE_S
    while True:
        report = django_json(env, VERIFY, str(acks))
        unsettled = [j for j in report["jobs"].values() if j["state"] in ("pending", "running")]
        if not unsettled or time.monotonic() > deadline:
            break
        time.sleep(3)
    jobs = {int(k): v for k, v in report["jobs"].items()}
    by_name = {f.name: f for f in faults}
    celery = Celery("test-stack", broker=env["REDIS_URL"], backend=env["REDIS_URL"])
    nodes = set()
    for reply in celery.control.ping(timeout=3) or []:
        nodes.update(node.split("@")[0] for node in reply)

    results = [p for p in stats.prompts if p["outcome"] == "result"]
    errors = [p for p in stats.prompts if p["outcome"] == "error"]
    unanswered = [p for p in stats.prompts if p["outcome"] == "lost"]
    killed_at = by_name["interactive_kill"].done_at or 0
    in_flight = [
        p
        for p in stats.prompts
        if p["sent"] <= killed_at and (p["ms"] is None or p["sent"] + p["ms"] / 1000 >= killed_at)
    ]
    interactive_ok = (
        cluster.procs["worker-interactive-1"].starts >= 2
        and "interactive1" in nodes
        and all(p["outcome"] in ("result", "error") for p in in_flight)
        and recovered_after(stats, killed_at, users)[0]
    )
    embed = by_name["embed_kill"].detail
    killed_jobs = [embed.get("propagation_job"), embed.get("import_job")]
    killed_states = {j: jobs.get(j, {}) for j in killed_jobs if j}
    embed_ok = (
        cluster.procs["worker-embed"].starts >= 2
        and "embed" in nodes
        and len(killed_states) == 2
        and all(
            s.get("state") == "done" or (s.get("state") == "failed" and s.get("error"))
            for s in killed_states.values()
        )
    )
    redis_ok, redis_s = recovered_after(stats, by_name["redis_restart"].done_at or 0, users)
    asgi_ok, asgi_s = recovered_after(stats, by_name["asgi_restart"].done_at or 0, users)
    asgi_ok = asgi_ok and cluster.procs["web-1"].starts >= 2
    # Prompts in flight at a fault or sent during its recovery are not "steady".
    windows = [((f.done_at or f.at) - PROMPT_TIMEOUT_S, (f.done_at or f.at) + RECOVERY_S) for f in faults]

    def near_fault(t: float) -> bool:
        return any(a <= t <= b for a, b in windows)

    # Propagations away from the faults must end done; the killed one is judged with the killed jobs.
    propagations = [
        {
            **p,
            "state": jobs.get(p.get("job"), {}).get("state"),
            "error": (jobs.get(p.get("job"), {}).get("error") or "")[:160],
        }
        for p in stats.propagations
    ]
    bad_propagations = [
        p
        for p in propagations
        if p.get("job") not in killed_jobs and not near_fault(p.get("at", 0)) and p["state"] != "done"
    ]
    steady = [p["ms"] for p in results if not near_fault(p["sent"])]
    worker_ms = [
        p["worker_ms"] for p in results if p.get("worker_ms") is not None and not near_fault(p["sent"])
    ]
    load_s = duration(args)
    static_status, _ = Http(info["https"]).request("GET", "/static/admin/css/base.css")
    stuck = [j for j in jobs.values() if j["state"] in ("pending", "running")]
    summary = {
        "users": users,
        "prompts": len(stats.prompts),
        "prompt_results": len(results),
        "prompt_errors": len(errors),
        "prompt_error_codes": sorted({p.get("code") for p in errors}),
        "prompts_unanswered": len(unanswered),
        "prompts_retried": sum(p["retried"] for p in stats.prompts),
        "saves_acknowledged": len(stats.saves_acknowledged),
        "saves_refused": stats.saves_refused,
        "saves_retried": stats.saves_retried,
        "saves_lost": len(report["lost"]),
        "worker_kill_recovered": interactive_ok and embed_ok,
        "interactive_kill_recovered": interactive_ok,
        "prompts_in_flight_at_kill": len(in_flight),
        "embed_kill_recovered": embed_ok,
        "killed_jobs": {
            str(k): {
                "state": v.get("state"),
                "error": (v.get("error") or "")[:120],
                "requeues": v.get("requeues"),
            }
            for k, v in killed_states.items()
        },
        "redis_restart_recovered": redis_ok,
        "redis_recovery_s": redis_s,
        "asgi_restart_recovered": asgi_ok,
        "asgi_recovery_s": asgi_s,
        "jobs_stuck": len(stuck),
        "propagations": propagations,
        "socket_reconnects": stats.reconnects,
        "connect_failures": stats.connect_failures,
        "web_processes_with_sockets": len(stats.web_processes),
        "cross_process_events": stats.cross_process_events,
        "static_ok": static_status == 200,
        "p50_ms": percentile([p["ms"] for p in results], 50),
        "p99_ms_steady": percentile(steady, 99),
        "worker_p50_ms_steady": percentile(worker_ms, 50),
        "worker_p99_ms_steady": percentile(worker_ms, 99),
        "load_generator_cpu_s": round(time.process_time(), 1),
        "prompts_per_s": round(len(results) / load_s, 2),
        "p99_ms": percentile([p["ms"] for p in results], 99),
    }
    (cluster.workdir / "prompts.json").write_text(json.dumps(stats.prompts))
    for p in stats.prompts:
        if p["retried"] or p["outcome"] != "result":
            log(f"prompt of client {p['client']} sent at {p['sent']:.1f} s: {p['outcome']}, {p.get('why')}")
    for start in range(0, int(load_s) + 1, 10):
        window = [p["ms"] for p in results if start <= p["sent"] < start + 10]
        log(
            f"prompts sent {start:3d}-{start + 10:3d} s: n={len(window):4d} p50 {percentile(window, 50)} ms, p99 {percentile(window, 99)} ms"
        )
    failures = []
    failed_saves = {status: n for status, n in stats.saves_refused.items() if status not in ("409",)}
    if failed_saves:
        failures.append(f"saves answered with neither 201 nor 409: {failed_saves}")
    if summary["saves_lost"]:
        failures.append(f"saves lost: {report['lost'][:5]}")
    if unanswered:
        failures.append(f"{len(unanswered)} prompts got neither a result nor an error, e.g. {unanswered[:3]}")
    for key in (
        "interactive_kill_recovered",
        "embed_kill_recovered",
        "redis_restart_recovered",
        "asgi_restart_recovered",
        "static_ok",
    ):
        if not summary[key]:
            failures.append(f"{key} is false")
    if stuck:
        failures.append(f"jobs stuck: {stuck}")
    if bad_propagations:
        failures.append(f"propagations away from any fault that did not end done: {bad_propagations}")
    for client in sorted({p["client"] for p in unanswered}):
        timeline = [e for e in stats.events if e[1] == client]
        log(f"client {client} timeline: {timeline[-12:]}")
    if summary["cross_process_events"] == 0 or summary["web_processes_with_sockets"] < 2:
        failures.append("no socket message crossed between the two web servers")
    if not stats.saves_acknowledged:
        failures.append("no save was acknowledged")
    return {"summary": summary, "failures": failures, "faults": [f.__dict__ for f in faults]}
