"""What a Celery worker process does beside running tasks: heartbeats and the reaper timer.

* While a job task runs (any task of ``annotator.actions.jobs.JOB_ROUTES``; its argument is the job id), a
  daemon thread records the job's heartbeat every JOB_HEARTBEAT_S, so a long step that reports no
  progress (a 2-minute encoder call, a large zip) still proves its worker is alive, and a worker that dies
  stops beating at once. Wired through Celery's task signals, so no task module needs to know.
* Every worker that consumes the ``embed`` queue runs the reaper (every REAPER_INTERVAL_S) and the
  retention sweep (every RETENTION_INTERVAL_S) on a timer thread. There is always at least one embed
  worker (it runs the jobs being reaped), so no extra process (celery beat) is needed; with several, each
  reaps, and the conditional updates make that harmless.

Django is set up by Celery's Django fixup before any of these handlers runs, so models are imported
inside them, not at module import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from celery import Task
from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown
from django.conf import settings

from annotator.queues import QUEUE_EMBED

log = logging.getLogger(__name__)


class Heartbeat:
    """Records job ``job_id``'s heartbeat every ``interval`` seconds until stopped (a daemon thread)."""

    def __init__(self, job_id: int, interval: float) -> None:
        self.job_id, self.interval = job_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-job-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from django.db import close_old_connections, connection

        from annotator.models import Job

        try:
            while not self._stop.wait(self.interval):
                try:
                    Job(pk=self.job_id).heartbeat()
                except Exception:  # noqa: BLE001 - a database hiccup must not kill the beat for good
                    log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()


def job_task_names() -> set[str]:
    from annotator.actions.jobs import JOB_ROUTES

    return {route.task for route in JOB_ROUTES.values()}


_beats: dict[str, Heartbeat] = {}
_beats_lock = threading.Lock()


@task_prerun.connect
def start_heartbeat(task_id: str, task: Task, args: Sequence[Any] | None = None, **_: object) -> None:
    if task.name not in job_task_names() or not args:
        return
    try:
        job_id = int(args[0])
    except (TypeError, ValueError):
        return
    beat = Heartbeat(job_id, settings.JOB_HEARTBEAT_S)
    with _beats_lock:
        _beats[task_id] = beat
    beat.start()


@task_postrun.connect
def stop_heartbeat(task_id: str, **_: object) -> None:
    with _beats_lock:
        beat = _beats.pop(task_id, None)
    if beat is not None:
        beat.stop()


class ReaperTimer:
    """Runs the reaper every ``interval`` seconds and the retention sweep every ``retention_interval``."""

    def __init__(self, interval: float, retention_interval: float) -> None:
        self.interval, self.retention_interval = interval, retention_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import time

        from django.db import close_old_connections, connection
        from django.utils import timezone

        from annotator.actions import reaper

        next_retention = time.monotonic()  # once at start: a worker restarted after a crash cleans up
        try:
            while True:
                try:
                    reaper.reap_stale_jobs(timezone.now())
                    if time.monotonic() >= next_retention:
                        reaper.apply_retention(timezone.now())
                        next_retention = time.monotonic() + self.retention_interval
                except Exception:  # noqa: BLE001 - log and try again next round
                    log.exception("the job reaper failed")
                finally:
                    close_old_connections()
                if self._stop.wait(self.interval):
                    return
        finally:
            connection.close()


_timer: ReaperTimer | None = None


@worker_ready.connect
def start_reaper(sender: object = None, **_: object) -> None:
    global _timer
    app = getattr(sender, "app", None)
    consumed = set(app.amqp.queues.consume_from or {}) if app is not None else set()
    if QUEUE_EMBED not in consumed or settings.REAPER_INTERVAL_S <= 0 or _timer is not None:
        return
    log.info(
        "running the job reaper every %s s and retention every %s s",
        settings.REAPER_INTERVAL_S,
        settings.RETENTION_INTERVAL_S,
    )
    _timer = ReaperTimer(settings.REAPER_INTERVAL_S, settings.RETENTION_INTERVAL_S)
    _timer.start()


@worker_shutdown.connect
def stop_reaper(**_: object) -> None:
    global _timer
    if _timer is not None:
        _timer.stop()
        _timer = None
