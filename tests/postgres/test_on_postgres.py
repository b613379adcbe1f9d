"""Production-like: the database-facing suites pass on a real PostgreSQL server, and two simultaneous saves
on the same base revision cannot both win (row locks, not just SQLite's single writer)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scripts.livestack import ROOT
from scripts.postgres import temporary_postgres

pytestmark = pytest.mark.integration

SUITES = [
    "tests/test_foundation.py",
    "tests/segmentation/test_mask_revisions.py",
    "tests/segmentation/test_race.py",
    "tests/test_jobs.py",
    "tests/test_access.py",
    "tests/test_review.py",
    "tests/test_tasks_team.py",
    "tests/test_labels_and_invitations.py",
]


def test_the_database_suites_pass_on_postgresql():
    with temporary_postgres() as url:
        env = {**os.environ, "DATABASE_URL": url, "DELINEATE_POSTGRES": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout.splitlines()[-1]
