"""The one Celery app. Three queues keep interactive decoding from waiting behind slow work.

Delivery: work that must not vanish (imports, exports, propagation, training: ``LONG_WORK``, matched by
task name) is acknowledged only when it has run, so a worker that dies leaves the message in Redis to be
delivered again after the visibility timeout (set above the longest task, webapp/settings.py); its job
row is reaped meanwhile (annotator/actions/reaper.py). Interactive decodes stay fire-and-forget
(acknowledged on receipt): a prompt redelivered minutes later would be useless, and the browser times it
out and retries it instead. Each worker reserves one message per process at a time (prefetch 1), so a
slow task never holds others back in its prefetch buffer while another worker is free.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase

from celery import Celery, Task
from django.conf import settings
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import annotator.workers  # noqa: E402,F401  (heartbeats and the reaper timer: Celery signal handlers)
from annotator.queues import QUEUE_EMBED, QUEUE_INTERACTIVE, QUEUE_TRAIN, QUEUES  # noqa: E402

__all__ = ["LONG_WORK", "QUEUES", "QUEUE_EMBED", "QUEUE_INTERACTIVE", "QUEUE_TRAIN", "app"]

# Task names (shell patterns) of work that must survive a worker's death: every job task of
# annotator.actions.jobs.JOB_ROUTES (annotator.tasks.run_import_job, run_export_job, run_propagation_job,
# annotator.pacs.tasks.run_pacs_*_job; tests/test_reaper.py checks each) and training.
LONG_WORK = ("*.run_*_job", "*train*")


class LongWorkOptions:
    """Celery task annotations by name pattern: late acknowledgement, a lost worker's message put back,
    and the hard time limit the visibility timeout is checked against (enforced by the prefork pool).
    Applied when the tasks are bound, after Django's settings are loaded."""

    def annotate(self, task: Task) -> dict | None:
        if any(fnmatchcase(task.name, pattern) for pattern in LONG_WORK):
            return {"acks_late": True, "reject_on_worker_lost": True, "time_limit": settings.JOB_TIME_LIMIT_S}
        return None


app = Celery("delineate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    # Each queue has its own exchange and routing key: with defaults, all three would bind to the default
    # queue's exchange and key, and a task sent to one queue would be delivered to all of them.
    task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES],
    task_default_queue=QUEUE_EMBED,
    task_routes={
        "annotator.tasks.ping": {"queue": QUEUE_INTERACTIVE},
        "annotator.tasks.notify_group": {"queue": QUEUE_INTERACTIVE},
        "annotator.tasks.decode_prompt": {"queue": QUEUE_INTERACTIVE},
        "annotator.tasks.embed_runner": {"queue": QUEUE_EMBED},
        "annotator.tasks.run_propagation_job": {"queue": QUEUE_EMBED},
    },
    task_annotations=[LongWorkOptions()],
    task_acks_late=False,  # the default for everything not in LONG_WORK (interactive decodes)
    worker_prefetch_multiplier=1,
    # broker_transport_options (the visibility timeout) come from settings.CELERY_BROKER_TRANSPORT_OPTIONS:
    # read lazily, so importing this module never needs the settings loaded.
    # Keep reconnecting for as long as Redis is away (a restart), never give up after N tries.
    broker_connection_max_retries=None,
    # A long task keeps running through a lost broker connection and records its outcome in the database;
    # the message it could not acknowledge is delivered again later and finds its job finished (a no-op).
    worker_cancel_long_running_tasks_on_connection_loss=False,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks(["annotator", "annotator.pacs"])
