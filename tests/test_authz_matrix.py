"""The authorisation matrix (tests/authz_matrix.py) exercised for real: every route and method of the URL conf
and every socket message type, as each persona, against objects of two projects (tests/authz_world.py).

A route, a method or a message type without a row fails ``test_every_...``; every row is then requested as
owner, annotator, reviewer, outsider and anonymous (CSRF enforced, with a valid token), and as A's owner with
B's ids (404). A refused request changes nothing (``fingerprint``).
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from annotator import consumers, scheduling, segmentation
from annotator.actions import jobs
from annotator.messages import CLIENT_MESSAGES
from tests.authz_matrix import MESSAGES, ROWS, MessageRow, Row
from tests.authz_world import PERSONAS, World, build_world, fingerprint
from webapp.asgi import application

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# URL keywords that name no object of a project (cross-project substitution leaves them alone)
NOT_OBJECTS = {"index", "handle", "action", "token"}


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    kwargs: tuple[str, ...]
    methods: frozenset[str] | None  # None: a function view (the table says which methods it serves)


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[Route]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":  # Django's admin: one row for all of it (staff only)
                yield Route("admin:index", prefix + str(entry.pattern), (), frozenset({"GET"}))
                continue
            yield from _walk(entry, prefix + str(entry.pattern))
            continue
        assert isinstance(entry, URLPattern)
        view_class = getattr(entry.callback, "view_class", None)
        methods = None
        if view_class is not None:
            allowed = set(view_class.http_method_names)
            methods = frozenset(m.upper() for m in HTTP_METHODS if m in allowed and hasattr(view_class, m))
        assert entry.name, f"every route has a name (the matrix refers to it): {prefix}{entry.pattern}"
        yield Route(entry.name, prefix + str(entry.pattern), tuple(entry.pattern.converters), methods)


def routes() -> dict[str, Route]:
    return {route.name: route for route in _walk(get_resolver())}


def test_every_route_and_method_of_the_url_conf_has_a_row_and_every_row_a_route():
    known = routes()
    rows = {(row.route, row.method) for row in ROWS}
    missing = sorted(
        f"{route.name} {method}"
        for route in known.values()
        for method in (route.methods or ())
        if (route.name, method) not in rows
    )
    missing += sorted(name for name, route in known.items() if not any(r == name for r, _ in rows))
    stray = sorted(
        f"{name} {method}"
        for name, method in rows
        if name not in known or (known[name].methods is not None and method not in known[name].methods)
    )
    assert missing == [] and stray == []
    assert len(known) > 55


def test_every_client_message_type_has_a_row():
    assert sorted(row.type for row in MESSAGES) == sorted(CLIENT_MESSAGES)


# -- REST and pages -------------------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def world(db, media) -> World:
    return build_world()


def client_for(world: World, persona: str, *, csrf: bool = True) -> Client:
    """A browser of the persona: CSRF checks enforced, and (``csrf``) the token sent as the page's script does."""
    client = Client(enforce_csrf_checks=True)
    user = world.user(persona)
    if user is not None:
        client.force_login(user)
    if csrf:
        token = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
        client.cookies["csrftoken"] = token
        client.defaults["HTTP_X_CSRFTOKEN"] = token
    return client


def url_of(row: Row, world: World, *, foreign: str | None = None) -> str:
    route = routes()[row.route]
    ids = {**world.a.ids(), **{k: world.a.alternatives()[v] for k, v in row.objects.items()}}
    if foreign is not None:
        theirs = {**world.b.ids(), **{k: world.b.alternatives()[v] for k, v in row.objects.items()}}
        ids[foreign] = theirs[foreign]
    kwargs = {name: row.kwargs.get(name, ids.get(name)) for name in route.kwargs}
    return reverse(row.route, kwargs=kwargs)


def request(client: Client, row: Row, url: str, world: World, persona: str) -> Any:
    body = row.body(world, persona) if callable(row.body) else row.body
    if row.method == "GET":
        return client.get(url)
    if row.multipart:
        return client.generic(row.method, url, encode_multipart(BOUNDARY, body or {}), MULTIPART_CONTENT)
    if not row.route.startswith("api-"):  # the HTML forms
        return client.generic(row.method, url, urlencode(body or {}), "application/x-www-form-urlencoded")
    return client.generic(row.method, url, json.dumps(body or {}), "application/json")


REFUSED = {401, 403, 404, 405}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.key)
def test_each_persona_gets_what_the_matrix_says(world, row, persona):
    # Given the two projects, when the persona makes the request
    before = fingerprint()
    response = request(client_for(world, persona), row, url_of(row, world), world, persona)
    # Then the outcome is the matrix's, and a refused request changed nothing
    assert response.status_code in row.outcomes()[persona], getattr(response, "content", b"")[:300]
    if response.status_code in REFUSED:
        assert fingerprint() == before
        json_answer = response.get("Content-Type", "").startswith("application/json")
        if row.route.startswith("api-") and response.status_code != 405 and json_answer:
            assert set(response.json()["error"]) == {"code", "message", "details"}


def cross_cases() -> list[tuple[Row, str]]:
    known = routes()
    return [
        (row, name)
        for row in ROWS
        if row.cross is not None
        for name in known[row.route].kwargs
        if name not in NOT_OBJECTS and name not in row.kwargs
    ]


@pytest.mark.parametrize(("row", "foreign"), cross_cases(), ids=lambda v: v.key if isinstance(v, Row) else v)
def test_an_id_of_another_project_is_not_found_even_beside_ones_own_ids(world, row, foreign):
    # Given A's owner, when one id of the URL names B's object
    before = fingerprint()
    url = url_of(row, world, foreign=foreign)
    response = request(client_for(world, "owner"), row, url, world, "owner")
    # Then it is not there, and nothing changed
    assert response.status_code == row.cross, response.content[:300]
    assert fingerprint() == before


def test_the_matrix_covers_its_rows_many_times_over():
    # 5 personas per row, plus each id of each row swapped for another project's
    assert len(ROWS) * len(PERSONAS) >= 300 and len(cross_cases()) >= 50


# -- the socket -----------------------------------------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch, redis_url) -> list[dict[str, Any]]:
    """Prompts handed to the workers; job and embedding tasks are not sent (everything before is real)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(segmentation, "send_decode", lambda req: calls.append(req.model_dump(mode="json")))
    monkeypatch.setattr(consumers, "start_embedding_runners", lambda: None)
    monkeypatch.setattr(scheduling, "embeddings_key", lambda name=None: "test-model")

    class NoCelery:
        def send_task(self, *args: Any, **kwargs: Any) -> None:
            return None

    monkeypatch.setattr(jobs, "celery_app", NoCelery())
    return calls


async def open_socket(user: Any) -> WebsocketCommunicator | None:
    communicator = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", b"http://localhost")])
    if user is not None:
        communicator.scope["user"] = user
    else:
        from django.contrib.auth.models import AnonymousUser

        communicator.scope["user"] = AnonymousUser()
    connected, code = await communicator.connect()
    if not connected:
        assert code == consumers.CLOSE_UNAUTHENTICATED
        return None
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


async def drain(communicator: WebsocketCommunicator, timeout: float = 0.3) -> list[dict[str, Any]]:
    replies = []
    while not await communicator.receive_nothing(timeout=timeout):
        output = await communicator.receive_output()
        if output["type"] == "websocket.close":
            replies.append({"type": "closed", "code": output.get("code")})
            break
        replies.append(json.loads(output["text"]))
    return replies


async def settle(communicator: WebsocketCommunicator, barrier: str) -> list[dict[str, Any]]:
    """Everything the messages sent so far were answered with: the socket handles its messages in order, so
    once the pong of a ping sent after them is in, their replies are too (however slow a loaded machine
    is: a fixed quiet time of 0.3 s once missed a cancel_job's reply); then a short quiet time for the
    channel layer's group messages (presence)."""
    await communicator.send_json_to({"type": "ping", "request_id": barrier})
    replies: list[dict[str, Any]] = []
    while True:
        output = await communicator.receive_output(timeout=60)
        if output["type"] == "websocket.close":
            return [*replies, {"type": "closed", "code": output.get("code")}]
        reply = json.loads(output["text"])
        if reply.get("request_id") == barrier:
            return [*replies, *await drain(communicator)]
        replies.append(reply)


def outcome(replies: list[dict[str, Any]], sent: list[dict[str, Any]]) -> str:
    for reply in replies:
        if reply.get("request_id") == "m" or reply["type"] == "closed":
            return str(reply["code"] if reply["type"] in ("error",) else reply["type"])
    if any(reply["type"] == "presence" for reply in replies):
        return "presence"
    return "sent" if sent else "nothing"


async def exchange(user: Any, world: World, row: MessageRow, message: dict[str, Any], sent: list) -> str:
    communicator = await open_socket(user)
    if communicator is None:
        return "closed"
    if row.type not in ("ping", "subscribe", "unsubscribe", "cancel_job"):
        await communicator.send_json_to(
            {"type": "subscribe", "request_id": "s", "scope": {"kind": "series", "id": world.a.series.pk}}
        )
        await settle(communicator, "s-done")
    await communicator.send_json_to({"type": row.type, "request_id": "m", **message})
    result = outcome(await settle(communicator, "m-done"), sent)
    await communicator.disconnect()
    return result


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("row", MESSAGES, ids=lambda row: row.type)
async def test_each_persona_gets_what_the_matrix_says_on_the_socket(media, sent, row, persona):
    world = await database_sync_to_async(build_world)()
    got = await exchange(world.user(persona), world, row, row.message(world), sent)
    assert got == row.outcomes()[persona]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("row", "variant"),
    [(row, n) for row in MESSAGES for n in range(len(row.cross))],
    ids=lambda v: v.type if isinstance(v, MessageRow) else str(v),
)
async def test_a_message_naming_another_projects_object_is_refused(media, sent, row, variant):
    world = await database_sync_to_async(build_world)()
    got = await exchange(world.a.owner, world, row, row.cross[variant](world), sent)
    assert got == row.cross_expect and sent == []


# -- CSRF -------------------------------------------------------------------------------------------------------


def state_changing() -> list[tuple[Row, str]]:
    """Each state-changing row with the first persona it lets through (the one a forged request would use)."""
    cases = []
    for row in ROWS:
        if row.method in ("GET", "HEAD", "OPTIONS"):
            continue
        allowed = [p for p, codes in row.outcomes().items() if not codes & REFUSED]
        cases.append((row, (allowed or ["owner"])[0]))
    return cases


@pytest.mark.parametrize(
    ("row", "persona"), state_changing(), ids=lambda v: v.key if isinstance(v, Row) else v
)
def test_a_state_changing_request_without_the_csrf_token_is_refused_and_changes_nothing(world, row, persona):
    # Given a persona the request is allowed to, when another site makes their browser send it (no token)
    before = fingerprint()
    client = client_for(world, persona, csrf=False)
    response = request(client, row, url_of(row, world), world, persona)
    # Then it is refused as a CSRF failure and nothing changed
    assert response.status_code == 403, response.content[:300]
    assert b"CSRF" in response.content
    assert fingerprint() == before


def test_every_state_changing_route_is_in_the_csrf_test():
    assert {(row.route, row.method) for row, _ in state_changing()} >= {
        (route.name, method)
        for route in routes().values()
        for method in (route.methods or ())
        if method not in ("GET", "HEAD", "OPTIONS")
    }
