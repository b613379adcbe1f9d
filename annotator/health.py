"""Health of every part of the stack, for GET /healthz."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from asgiref.sync import async_to_sync
from celery import current_app as celery_app
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from annotator.queues import QUEUES
from annotator.scheduling import as_text

INSPECT_TIMEOUT_S = 1.0
# A message through this process's own channel layer and back; the layer retries a dead connection for ~6 s
# (webapp/settings.py), so an answer not back by then means the sockets of this server cannot work.
CHANNEL_LAYER_TIMEOUT_S = 2.0
# Where `make run`'s embedded Redis holds its install token (the same key as webapp/stack.py's).
INSTALL_TOKEN_KEY = "delineate:install-token"


def database_status() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def redis_status() -> dict[str, Any]:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        if settings.REDIS_INSTALL_TOKEN:
            found = client.get(INSTALL_TOKEN_KEY)
            if found is None or as_text(found) != settings.REDIS_INSTALL_TOKEN:
                return {
                    "ok": False,
                    "error": "the Redis on the embedded port does not hold this install's token: it is "
                    "another program's (or was just restarted and is not marked yet)",
                }
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def _round_trip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.check"})
    message = await layer.receive(channel)
    if message.get("type") != "health.check":
        raise RuntimeError(f"the channel layer answered {message.get('type')!r}")


def channel_layer_status() -> dict[str, Any]:
    """Whether this server's channel layer (the one its sockets use) delivers a message to itself: what
    sockets, prompt results and live updates need, which a fresh Redis client's PING does not prove."""
    try:
        async_to_sync(asyncio.wait_for)(_round_trip(), CHANNEL_LAYER_TIMEOUT_S)
        return {"ok": True}
    except Exception as exc:
        detail = str(exc) or "no answer within " + f"{CHANNEL_LAYER_TIMEOUT_S:.0f} s"
        return {"ok": False, "error": f"{type(exc).__name__}: {detail}"}


def worker_status() -> dict[str, Any]:
    """Live workers per queue and the model each has loaded, asked of the workers over the broker."""
    try:
        control = celery_app.control
        active = control.inspect(timeout=INSPECT_TIMEOUT_S).active_queues() or {}
        models = {}
        for reply in control.broadcast("model_info", reply=True, timeout=INSPECT_TIMEOUT_S) or []:
            models.update(reply)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "queues": {q: [] for q in QUEUES}}
    queues: dict[str, list[str]] = {q: [] for q in QUEUES}
    for worker, worker_queues in active.items():
        for queue in worker_queues:
            if queue["name"] in queues:
                queues[queue["name"]].append(worker)
    missing = [q for q, workers in queues.items() if not workers]
    status: dict[str, Any] = {"ok": not missing, "queues": queues, "models": models}
    if missing:
        status["error"] = f"no live worker for queue(s): {', '.join(missing)}"
    return status


def model_status(workers: dict[str, Any]) -> dict[str, Any]:
    loaded = [
        dict(info, worker=name) for name, info in workers.get("models", {}).items() if info.get("loaded")
    ]
    if not loaded:
        errors = [info.get("error") for info in workers.get("models", {}).values()]
        return {"ok": False, "error": "no worker has a model loaded", "worker_errors": errors}
    first = loaded[0]
    return {
        "ok": True,
        "name": first.get("name"),
        "checkpoint_sha256": first.get("checkpoint_sha256"),
        "device": first.get("device"),
        "backend": first.get("backend"),
        "workers": loaded,
    }


def stack_health() -> tuple[bool, dict[str, Any]]:
    report: dict[str, Any] = {
        "database": database_status(),
        "redis": redis_status(),
        "channel_layer": channel_layer_status(),
    }
    if report["redis"]["ok"]:
        report["workers"] = worker_status()
    else:
        report["workers"] = {"ok": False, "error": "Redis is down", "queues": {q: [] for q in QUEUES}}
    report["model"] = model_status(report["workers"])
    healthy = all(part["ok"] for part in report.values())
    report["status"] = "ok" if healthy else "unavailable"
    return healthy, report
