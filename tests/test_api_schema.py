"""The REST API described (drf-spectacular: /api/schema/, Swagger UI at /api/docs/ from the sidecar package)
and fuzzed: schemathesis generates requests from the schema against a live server, as a signed-in owner of a
project with one of every object (tests/authz_world.py), and finds no 5xx and no answer that violates the
schema."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from django.test import Client
from django.urls import URLPattern, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from tests.authz_world import World, build_world

# Examples per operation: enough to reach past validation into the actions on a 2-core machine (~93
# operations × 12 ≈ 1100 requests, a minute or two).
EXAMPLES_PER_OPERATION = 12


def api_schema() -> dict[str, Any]:
    GENERATOR_STATS.reset()
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_schema_describes_every_api_route_without_warnings():
    # When the schema is generated
    schema = api_schema()
    # Then no view was left for drf-spectacular to guess, and every API route is in it
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache
    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/")
    routes = [
        p for p in api.url_patterns if isinstance(p, URLPattern) and p.name not in ("api-schema", "api-docs")
    ]
    assert len(schema["paths"]) == len(routes) > 50
    # and each operation documents the error body
    saves = schema["paths"]["/api/series/{series_id}/masks/{label_id}/revisions/"]["post"]
    assert saves["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "SaveRevisionBody" in str(saves["requestBody"])


def test_the_schema_and_the_docs_page_are_served_to_signed_in_users_without_a_cdn(personas):
    client = personas.client_for("annotator")
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Delineate API"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page


@pytest.mark.parametrize("accept", ["", "application/vnd.oai.openapi", "application/vnd.oai.openapi+json"])
def test_an_anonymous_request_for_the_schema_gets_the_apis_json_error_whatever_it_accepts(personas, accept):
    # Given a visitor who is not signed in
    anonymous = personas.client_for("anonymous")
    # When they ask for the schema (as YAML, the default, or as JSON)
    response = anonymous.get("/api/schema/", HTTP_ACCEPT=accept) if accept else anonymous.get("/api/schema/")
    # Then they get a 403 in the API's JSON error body, not a YAML one
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "details": {},
        }
    }


def test_an_anonymous_visitor_of_the_docs_page_is_sent_to_the_login_page_like_every_page(personas):
    response = personas.client_for("anonymous").get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/api/docs/"


# -- schemathesis against a live server ---------------------------------------------------------------------------


def request_threads() -> list[threading.Thread]:
    """The live server's threads serving a connection (socketserver names them by their target)."""
    return [t for t in threading.enumerate() if t.name.endswith("(process_request_thread)")]


@pytest.fixture
def sessions(live_server) -> Iterator[list[requests.Session]]:
    """The HTTP sessions a test opens on the live server, closed when it ends, and no thread of the server
    left serving them afterwards.

    Django's test server serves each kept-alive connection in a thread of its own until the client hangs
    up, then closes its database connections. When the test database exists before the (session-scoped)
    live server starts, which it does after any other database test, the server's threads share the test's
    in-memory SQLite connection. The fuzz run's session, held by hypothesis' closures until some garbage
    collection, was closed only after the live server had stopped sharing that connection: its thread's
    close raised DatabaseError ("created in a thread can only be used in that same thread"), reported as
    PytestUnhandledThreadExceptionWarning. Closing the sessions ends the threads while the server still
    shares the connection; waiting for them makes a thread that would outlive the test fail here instead."""
    opened: list[requests.Session] = []
    yield opened
    for session in opened:
        session.close()
    deadline = time.monotonic() + 30
    while request_threads() and time.monotonic() < deadline:
        for thread in request_threads():
            thread.join(timeout=0.5)
    assert request_threads() == [], "a request thread of the live server outlived its test"


def signed_in(live_url: str, user: Any, sessions: list[requests.Session]) -> requests.Session:
    """A browser session of ``user`` on the live server: its session cookie and the CSRF token."""
    client = Client()
    client.force_login(user)
    session = requests.Session()
    sessions.append(session)
    token = "a" * 32
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.cookies.set("csrftoken", token)
    session.headers["X-CSRFToken"] = token
    return session


def real_ids(world: World) -> dict[str, list[int | str]]:
    """Ids that exist (project A's), for half of the generated path parameters; the rest stay random."""
    ids = world.a.ids()
    return {
        **{name: [value] for name, value in ids.items()},
        "job_id": [ids["job_id"], world.a.export.pk],
        "assignment_id": [ids["assignment_id"], world.a.todo.pk, world.a.study_case.pk],
        "study_id": [ids["study_id"], world.a.timing_study.pk],  # an imaging study, a timing study
    }


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def upstream_failed(response: requests.Response) -> bool:
    """A 502 that says the project's PACS did not answer (documented; the world's PACS listens nowhere)."""
    if response.status_code != 502:
        return False
    return response.json().get("error", {}).get("code") == "upstream_failed"


@pytest.fixture
def no_queue(monkeypatch, redis_url) -> None:
    """The web side only: jobs are not sent to Celery workers (the broker is not under test here)."""
    from annotator.actions import jobs

    class Queue:
        def send_task(self, *args: Any, **kwargs: Any) -> None:
            return None

    monkeypatch.setattr(jobs, "celery_app", Queue())


@pytest.mark.django_db(transaction=True)
def test_fuzzing_the_api_finds_no_server_error_and_no_answer_outside_the_schema(
    live_server, sessions, media, no_queue
):
    # Given a live server with a project holding one of every object, and its owner signed in
    world = build_world()
    session = signed_in(live_server.url, world.a.owner, sessions)
    schema = schemathesis.openapi.from_dict(api_schema())
    ids = real_ids(world)
    pick = random.Random(13)
    failures: list[str] = []
    statuses: Counter[int] = Counter()

    # When schemathesis sends generated requests to every operation
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            for name in list(case.path_parameters or {}):
                if name in ids and pick.random() < 0.5:
                    case.path_parameters[name] = pick.choice(ids[name])
            # the schema's cookieAuth would have schemathesis make up a session cookie: send the real one
            case.cookies = {**(case.cookies or {}), "sessionid": session.cookies["sessionid"]}
            response = case.call(base_url=live_server.url, session=session, timeout=30)
            statuses[response.status_code] += 1
            checks = [response_schema_conformance, content_type_conformance]
            if not upstream_failed(response):
                checks.append(not_a_server_error)
            try:
                case.validate_response(response, checks=checks)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together below
                failures.append(f"{case.method} {case.formatted_path} → {response.status_code}: {exc}"[:1500])

        exercise()

    # Then no request got a 5xx (other than a PACS that does not answer: 502) or an answer outside the schema
    print("answers by status:", dict(sorted(statuses.items())))
    assert failures == [], "\n\n".join(failures)
    # and the requests reached the actions, not only the validation (successes and refusals alike)
    assert sum(statuses.values()) > 400
    assert sum(n for status, n in statuses.items() if status < 300) > 100
