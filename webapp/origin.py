"""The WebSocket Origin check: the same rule Django's CSRF check applies to HTTP requests.

A handshake is accepted when its Origin is exactly the site's own origin (scheme, host and port, as the
browser reached the site: ``https`` when the connection is TLS or, with TRUST_X_FORWARDED_PROTO, when the
proxy says so) with a host in ALLOWED_HOSTS, or when it is listed in CSRF_TRUSTED_ORIGINS (``*.`` entries
match subdomains, as for CSRF). Channels' AllowedHostsOriginValidator compares host names only, so it
accepted ``http://localhost:9999`` and ``https://localhost`` for a site at ``http://localhost:8000`` while
the HTTP side refused them (probe finding 11).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain


def _headers(scope) -> dict[str, str]:
    return {name.decode("latin1").lower(): value.decode("latin1") for name, value in scope.get("headers", [])}


def _is_secure(scope, headers: dict[str, str]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower()
        return headers.get(header, "").split(",")[0].strip() == value
    return False


def _trusted(origin: str) -> bool:
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        "*" in trusted
        and urlsplit(trusted).scheme == parsed.scheme
        and is_same_domain(parsed.netloc, urlsplit(trusted).netloc.lstrip("*"))
        for trusted in settings.CSRF_TRUSTED_ORIGINS
    )


def origin_allowed(scope) -> bool:
    headers = _headers(scope)
    origin = headers.get("origin")
    if not origin:
        return False  # browsers always send one on a WebSocket handshake
    scheme = "https" if _is_secure(scope, headers) else "http"
    host = headers.get("host")
    if host:
        domain, _ = split_domain_port(host)
        if domain and validate_host(domain, settings.ALLOWED_HOSTS) and origin == f"{scheme}://{host}":
            return True
    else:
        # No Host header: only in-process test clients (every real HTTP/1.1 handshake has one). The
        # Origin must then be an allowed host on its scheme's default port.
        try:
            parsed = urlsplit(origin)
            port = parsed.port
        except ValueError:
            return False
        if (
            parsed.scheme == scheme
            and port is None
            and validate_host(parsed.hostname or "", settings.ALLOWED_HOSTS)
        ):
            return True
    return _trusted(origin)


class SameOriginValidator:
    """ASGI middleware: a WebSocket handshake from any other origin is refused before the app sees it."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
