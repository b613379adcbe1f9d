"""mypy ([tool.mypy] in pyproject.toml, which `make lint` and `make test` also run) over annotator/ and
ml_worker/, checked and shown to bite: the Django plugin knows the models and the strict options hold."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MYPY = [sys.executable, "-m", "mypy"]


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    # From the repository root, so that the configuration and its cache (.mypy_cache) are the project's.
    return subprocess.run([*MYPY, *args], cwd=ROOT, capture_output=True, text=True)


def test_the_app_and_the_model_code_type_check():
    result = mypy()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout


def test_untyped_code_and_a_nullable_relation_used_as_present_are_reported(tmp_path):
    # Given a module that leaves a function unannotated and reads a nullable foreign key without a check
    module = tmp_path / "careless.py"
    module.write_text(
        textwrap.dedent(
            """
            from annotator.models import Job


            def creator_name(job: Job) -> str:
                return job.created_by.username


            def untyped(value):
                return value
            """
        )
    )
    # When it is checked with the project's configuration
    result = mypy(str(module))
    # Then both are errors: the plugin knows created_by may be None, and every function needs annotations
    assert result.returncode == 1, result.stdout
    assert 'Item "None" of "User | None" has no attribute "username"  [union-attr]' in result.stdout
    assert "Function is missing a type annotation  [no-untyped-def]" in result.stdout
