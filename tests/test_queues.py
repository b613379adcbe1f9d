"""Routing: a task sent to one queue reaches that queue only (on a real Redis, as the workers see it)."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection

from webapp.celery import QUEUES
from webapp.celery import app as celery_app


@pytest.mark.parametrize("target", QUEUES)
def test_a_task_sent_to_one_queue_is_delivered_to_that_queue_only(redis_server, target):
    redis.Redis.from_url(redis_server).flushdb()
    with Connection(redis_server) as connection:
        for name in QUEUES:  # declare and bind every queue, as the workers do
            celery_app.amqp.queues[name](connection.default_channel).declare()
        celery_app.send_task(
            "annotator.tasks.ping", args=["x"], queue=target, connection=connection, ignore_result=True
        )
    lengths = {name: redis.Redis.from_url(redis_server).llen(name) for name in QUEUES}
    assert lengths == {name: int(name == target) for name in QUEUES}
