"""A socket's right to act, kept current after it subscribed (probe finding 6).

Subscribing checks the membership in full (annotator.access). After that, every message that acts on a
subscription re-checks it cheaply: each user has an *access epoch* in Redis, a random token replaced whenever
one of their memberships changes (a new role, a removal). A socket keeps the epoch of its last check; one
Redis read per message tells it whether to reload its roles from the database (``AnnotatorConsumer``). A
random token rather than a counter: a Redis that lost the key (restart, expiry) reads as "" and still differs
from any token a socket saw, so a change is never mistaken for no change.

A removal also closes the removed member's open sockets at once (``CLOSE_ACCESS_REVOKED`` through their user
group); the browser reconnects and its subscriptions to the project are then refused like an outsider's.

Sessions: a socket knows until when its login session is valid (``session_valid_until``: the session row's
expiry) and re-reads it after that, so an expired session's next message is refused and the socket closed;
a logout closes the sockets of that session at once (``session_group``, from the ``user_logged_out`` signal).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from annotator.scheduling import redis_client

log = logging.getLogger(__name__)

# Close codes: the browser reconnects after 4403 (and is then refused what it lost), and asks to sign in
# again after 4401 (frontend/src/socket.ts).
CLOSE_ACCESS_REVOKED = 4403
CLOSE_SESSION_ENDED = 4401
# A user's epoch outlives any socket that could have read it (sockets are re-checked in full when they
# reconnect); a key that expired reads as "", which differs from every token, so expiry is safe.
EPOCH_TTL_S = 7 * 24 * 3600
# Where the session store cannot say when a session ends, it is re-read this often.
SESSION_RECHECK_S = 60
# Channel-layer handler names on the consumer.
CLOSE_EVENT = "access.close"


def epoch_key(user_id: int) -> str:
    return f"access:epoch:{user_id}"


def current_epoch(user_id: int) -> str:
    """The user's access epoch ("" before any change)."""
    value = redis_client().get(epoch_key(user_id))
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _bump(user_id: int) -> None:
    try:
        redis_client().set(epoch_key(user_id), uuid.uuid4().hex, ex=EPOCH_TTL_S)
    except Exception:  # noqa: BLE001 - a Redis outage drops every socket anyway; they re-check in full
        log.warning("could not bump the access epoch of user %s", user_id, exc_info=True)


def user_group(user_id: int) -> str:
    from annotator.events import user_group as group

    return group(user_id)


def _send_close(group: str, code: int, reason: str) -> None:
    from annotator.events import channel_layer

    try:
        async_to_sync(channel_layer().group_send)(
            group, {"type": CLOSE_EVENT, "code": code, "reason": reason}
        )
    except Exception:  # noqa: BLE001 - the next message re-checks (epoch, session) and closes the socket
        log.warning("could not close the sockets of %s", group, exc_info=True)


def membership_changed(user_id: int) -> None:
    """A membership of the user changed (role): their sockets reload their roles at their next message."""
    transaction.on_commit(lambda: _bump(user_id))


def membership_removed(user_id: int, project_id: int) -> None:
    """The user left a project (or was removed): their sockets reload, and the open ones are closed now."""

    def after_commit() -> None:
        _bump(user_id)
        _send_close(
            user_group(user_id), CLOSE_ACCESS_REVOKED, f"You are no longer a member of project {project_id}."
        )

    transaction.on_commit(after_commit)


# -- sessions ---------------------------------------------------------------------------------------------------


def session_group(session_key: str) -> str:
    """The channel group of the sockets opened with one login session (the key itself is not put in Redis)."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def session_valid_until(session_key: str, user: Any) -> datetime | None:
    """Until when the login session ``session_key`` of ``user`` is valid: None when it has ended (expired,
    logged out, or the password changed since), else its expiry (or a time to re-read it)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()
    if str(data.get(SESSION_KEY, "")) != str(user.pk) or BACKEND_SESSION_KEY not in data:
        return None
    stored_hash = data.get(HASH_SESSION_KEY, "")
    if hasattr(user, "get_session_auth_hash") and not constant_time_compare(
        stored_hash, user.get_session_auth_hash()
    ):
        return None
    recheck = timezone.now() + timedelta(seconds=SESSION_RECHECK_S)
    row = store._get_session_from_db() if hasattr(store, "_get_session_from_db") else None
    return row.expire_date if row is not None else recheck


def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: close the sockets of that session now."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        _send_close(session_group(key), CLOSE_SESSION_ENDED, "You signed out.")


class SocketAccess:
    """What one socket last checked: its user's access epoch and until when its session is valid.

    ``recheck`` runs before every message that acts on a subscription: a clock comparison and one Redis read
    when nothing changed; the database only when the epoch moved or the session's time is up.
    """

    def __init__(self, user: Any, session_key: str | None) -> None:
        self.user = user
        self.session_key = session_key
        self.epoch = ""
        self.session_until: datetime | None = None

    def start(self) -> None:
        """At connect (sync): the epoch the subscribe checks will stand for, and the session's end."""
        self.epoch = self._read_epoch()
        if self.session_key:
            self.session_until = session_valid_until(self.session_key, self.user)

    def _read_epoch(self) -> str:
        try:
            return current_epoch(self.user.pk)
        except Exception:  # noqa: BLE001 - without Redis, reload every time (never trust a stale role)
            log.warning("access epoch unreadable; re-checking roles in the database", exc_info=True)
            return uuid.uuid4().hex

    def session_due(self) -> bool:
        """Whether the session must be read again (a clock comparison: no I/O)."""
        if not self.session_key:
            return False  # a socket given a user directly (tests); every browser socket has a session
        return self.session_until is None or timezone.now() >= self.session_until

    def session_ended(self) -> bool:
        """Read the session again (sync: the session store): True when it has ended."""
        if not self.session_key:
            return False
        self.session_until = session_valid_until(self.session_key, self.user)
        return self.session_until is None

    def epoch_moved(self) -> str | None:
        """The new epoch when the user's memberships changed since the last check, else None."""
        epoch = self._read_epoch()
        return None if epoch == self.epoch else epoch

    def reload_roles(self, series: dict[int, dict[str, Any]], epoch: str) -> list[int]:
        """Refresh each subscription's role from the database; returns the series whose project the user
        left (their subscriptions must go)."""
        from annotator.models import Membership

        projects = {info["project_id"] for info in series.values()}
        roles = dict(
            Membership.objects.filter(user_id=self.user.pk, project_id__in=projects).values_list(
                "project_id", "role"
            )
        )
        lost = []
        for series_id, info in series.items():
            role = roles.get(info["project_id"])
            if role is None:
                lost.append(series_id)
            else:
                info["role"] = role
        self.epoch = epoch
        return lost
