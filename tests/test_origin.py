"""The WebSocket Origin check agrees with HTTP CSRF on scheme, host and port (probe finding 11)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from webapp.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEF"  # a well-formed CSRF secret, sent as cookie and header


def http_accepts(user, host: str, origin: str, extra: dict | None = None) -> bool:
    """Does Django's CSRF check let a state-changing request from ``origin`` through?"""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.cookies["csrftoken"] = TOKEN
    response = client.post(
        "/api/projects/",
        {"name": ""},  # invalid on purpose: 400 once CSRF passes, nothing is created either way
        content_type="application/json",
        headers={"host": host, "origin": origin, "x-csrftoken": TOKEN, **(extra or {})},
    )
    assert response.status_code in (400, 403), response.content
    return response.status_code != 403


def socket_accepts(user, host: str, origin: str, extra: dict | None = None) -> bool:
    headers = [(b"host", host.encode()), (b"origin", origin.encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]

    async def connect() -> bool:
        communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
        communicator.scope["user"] = user
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    return async_to_sync(connect)()


SITE = "localhost:8000"  # the site is http://localhost:8000


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:8000", True),
        ("http://localhost:9999", False),  # another port on the same host
        ("https://localhost", False),  # another scheme
        ("https://localhost:8000", False),
        ("http://localhost", False),
        ("http://127.0.0.1:8000", False),  # an allowed host, but not the one the page was loaded from
        ("http://evil.example", False),
        ("null", False),
    ],
)
def test_a_socket_is_accepted_from_exactly_the_origins_csrf_accepts(personas, settings, origin, allowed):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    user = personas.annotator
    assert http_accepts(user, SITE, origin) is allowed
    assert socket_accepts(user, SITE, origin) is allowed


def test_trusted_origins_and_their_wildcards_count_for_both(personas, settings):
    settings.ALLOWED_HOSTS = ["delineate.example.org"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org", "https://viewer.example.com"]
    user = personas.annotator
    host = "delineate.example.org"
    for origin, allowed in [
        ("https://app.example.org", True),
        ("https://viewer.example.com", True),
        ("http://app.example.org", False),
        ("https://app.example.org.evil.example", False),
    ]:
        assert http_accepts(user, host, origin) is allowed, origin
        assert socket_accepts(user, host, origin) is allowed, origin


def test_behind_a_tls_proxy_the_site_is_https_for_both(personas, settings):
    settings.ALLOWED_HOSTS = ["delineate.example.org"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    user = personas.annotator
    host, proxied = "delineate.example.org", {"x-forwarded-proto": "https"}
    assert http_accepts(user, host, "https://delineate.example.org", proxied)
    assert socket_accepts(user, host, "https://delineate.example.org", proxied)
    assert not http_accepts(user, host, "http://delineate.example.org", proxied)
    assert not socket_accepts(user, host, "http://delineate.example.org", proxied)
    # Without the proxy's header the same request is plain http
    assert socket_accepts(user, host, "http://delineate.example.org")


def test_a_socket_with_a_host_outside_allowed_hosts_is_refused(personas, settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    assert not socket_accepts(personas.annotator, "attacker.example:8000", "http://attacker.example:8000")
