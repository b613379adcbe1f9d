"""The import contracts in .importlinter (which `make lint` and `make test` also run), checked and shown to
bite: webapp → annotator → ml_worker, ml_worker is plain model code, and annotator has no import cycles."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(config or cwd / ".importlinter"), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_code_keeps_every_import_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 kept, 0 broken" in result.stdout


def test_model_code_that_reaches_into_the_web_side_breaks_the_contracts(tmp_path):
    # Given the same contracts over a tree where a model module imports the app, Celery and Django in a function
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    for package in ("webapp", "annotator", "ml_worker"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "annotator" / "models.py").write_text("from ml_worker import leak\n")
    (tmp_path / "ml_worker" / "leak.py").write_text(
        "def run():\n    import celery\n    import django\n\n    from annotator import models\n"
    )
    # When the contracts are checked
    result = lint_imports(tmp_path)
    # Then both are broken, naming each forbidden import
    assert result.returncode != 0
    assert "1 kept, 2 broken" in result.stdout  # the cycle contract holds: there is no cycle
    for imported in ("annotator.models", "celery", "django"):
        assert f"ml_worker.leak -> {imported}" in result.stdout, result.stdout


def test_a_cycle_through_a_function_local_import_breaks_the_contract(tmp_path):
    # Given a package whose actions start a job by importing the tasks module inside a function,
    # while the tasks module imports the actions (the circle annotator had before start_job)
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("from app import actions\n")
    (package / "actions.py").write_text(
        textwrap.dedent(
            """
            def start():
                from app import tasks

                return tasks
            """
        )
    )
    (tmp_path / "contracts.ini").write_text(
        textwrap.dedent(
            """
            [importlinter]
            root_packages =
                app

            [importlinter:contract:app-acyclic]
            name = No cycles
            type = acyclic_siblings
            ancestors =
                app
            """
        )
    )
    # When the same kind of contract is checked, then it is broken
    result = lint_imports(tmp_path, tmp_path / "contracts.ini")
    assert result.returncode == 1
    assert "No cycles BROKEN" in result.stdout and "No cycles are allowed in app." in result.stdout
