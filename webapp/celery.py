"""The one Celery app. Three queues keep interactive decoding from waiting behind slow work."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from annotator.queues import QUEUE_EMBED, QUEUE_INTERACTIVE, QUEUE_TRAIN, QUEUES

__all__ = ["QUEUES", "QUEUE_EMBED", "QUEUE_INTERACTIVE", "QUEUE_TRAIN", "app"]

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
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks(["annotator", "annotator.pacs"])
