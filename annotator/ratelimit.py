"""Per-user limits kept in Redis, so that every socket and every web process of one user draws on one budget
(probe finding 15: with a bucket per socket, one user with 20 sockets pushed another user's slowest prompt to
7.8 s).

- ``take``: a token bucket per (user, kind): ``rate`` tokens a second up to ``burst``; atomic in one Lua
  script with Redis's own clock, so web processes on several machines agree.
- ``InFlight``: how many prompts of a user are queued or being decoded; over ``cap`` the next is refused,
  so on a shared interactive queue each user's prompt waits behind at most ``cap`` prompts of each other
  user, however many sockets they open. The worker releases a prompt when it is done (decoded, superseded
  or failed); an entry of a worker that died expires after ``ttl_s``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import RedisError

from annotator.errors import DomainError
from annotator.scheduling import redis_client

log = logging.getLogger(__name__)

# KEYS[1]: the bucket; ARGV: rate per second, burst, TTL seconds. Returns {1 | 0, seconds to wait}.
TOKEN_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(held[1]) or burst
local stamp = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
if ok == 1 then return {1, '0'} end
return {0, tostring((1 - tokens) / rate)}
"""


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, details={"retry_after_s": round(retry_after_s, 2)})
        self.retry_after_s = retry_after_s


def bucket_key(kind: str, user_id: int) -> str:
    return f"ratelimit:{kind}:{user_id}"


def take(kind: str, user_id: int, *, rate: float, burst: int) -> float:
    """Take one token from the user's ``kind`` bucket: 0.0 when granted, else the seconds until one is."""
    ttl = max(1, int(burst / rate) + 1)
    granted, wait = redis_client().eval(TOKEN_BUCKET, 1, bucket_key(kind, user_id), rate, burst, ttl)
    return 0.0 if int(granted) == 1 else float(wait)


# KEYS[1]: the user's set of in-flight requests; ARGV: expired-before score, cap, now, request id, TTL seconds.
CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return 1
"""


def check_upload(user_id: int) -> None:
    """An upload (import, reference labels) of this user may start now, else ``RateLimited`` (429)."""
    rate = settings.UPLOAD_RATE_PER_MINUTE / 60.0
    try:
        wait = take("upload", user_id, rate=rate, burst=settings.UPLOAD_BURST)
    except RedisError:  # uploads do not need Redis to work: without it they are not limited
        log.warning("upload rate limit unavailable (Redis)", exc_info=True)
        return
    if wait > 0:
        raise RateLimited(f"Too many uploads at once; try again in {max(1, round(wait))} s.", wait)


@dataclass(frozen=True)
class InFlight:
    kind: str
    cap: int
    ttl_s: float

    def key(self, user_id: int) -> str:
        return f"inflight:{self.kind}:{user_id}"

    def claim(self, user_id: int, request_id: str) -> bool:
        """Count ``request_id`` as in flight unless the user already has ``cap`` (then False)."""
        now = time.time()
        args = (now - self.ttl_s, self.cap, now, request_id, int(self.ttl_s) + 1)
        return int(redis_client().eval(CLAIM, 1, self.key(user_id), *args)) == 1

    def release(self, user_id: int, request_id: str) -> None:
        redis_client().zrem(self.key(user_id), request_id)
