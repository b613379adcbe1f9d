"""The channel layer survives a Redis restart: the first message after it is delivered, not lost.

Every pooled connection dies with the server; without retries the first command on each failed, so a
worker's prompt result or propagation slice vanished and sockets closed with 1011 (seen in
`make test-stack`). The settings' layer retries on a fresh connection.
"""

from __future__ import annotations

import asyncio
import copy
import signal

import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from scripts.livestack import LiveStack, port_open, wait_until

pytestmark = pytest.mark.integration


def restart(redis: LiveStack) -> None:
    redis.processes["redis"].send_signal(signal.SIGKILL)
    redis.processes["redis"].wait(10)
    wait_until(lambda: not port_open(redis.redis_port), "Redis down", 10)
    redis.start_redis()


def layer_config(url: str, *, with_retries: bool) -> dict:
    from webapp import (
        settings as project_settings,
    )  # the production configuration, not the tests' in-memory one

    config = copy.deepcopy(project_settings.CHANNEL_LAYERS["default"]["CONFIG"])
    config["hosts"][0]["address"] = url
    if not with_retries:
        for key in ("retry", "retry_on_error", "health_check_interval"):
            config["hosts"][0].pop(key)
    return config


async def send_across_a_restart(redis: LiveStack, config: dict) -> dict:
    """A worker's pattern: one layer that only sends (its pooled connection outlives the restart)."""
    sender = RedisChannelLayer(**config)
    await sender.send("results", {"type": "before"})
    await asyncio.get_running_loop().run_in_executor(None, restart, redis)
    await sender.send("results", {"type": "after"})  # the first command on a connection to a dead server
    receiver = RedisChannelLayer(**config)
    received = await asyncio.wait_for(receiver.receive("results"), 10)
    await receiver.flush()
    return received


def test_a_message_sent_right_after_a_redis_restart_is_delivered():
    assert settings.CHANNEL_LAYERS  # (the tests' own layer is in-memory; the production one is checked)
    redis = LiveStack()
    try:
        redis.start_redis()
        received = asyncio.run(send_across_a_restart(redis, layer_config(redis.redis_url, with_retries=True)))
        assert received["type"] == "after"
    finally:
        redis.stop_all()


def test_without_the_retries_the_first_message_after_a_restart_fails():
    """The control: the same exchange with the library's defaults (no retries) loses the message."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    redis = LiveStack()
    try:
        redis.start_redis()
        with pytest.raises(RedisConnectionError):
            asyncio.run(send_across_a_restart(redis, layer_config(redis.redis_url, with_retries=False)))
    finally:
        redis.stop_all()
