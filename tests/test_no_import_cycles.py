"""The import contracts in .importlinter hold, and the no-cycle contract does catch a cycle."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from importlinter import api

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_projects_import_contracts_are_kept():
    contracts = api.read_configuration(str(ROOT / ".importlinter"))["contracts_options"]
    assert {"annotator-acyclic"} <= {c["id"] for c in contracts}
    result = lint_imports(ROOT, ".importlinter")
    assert result.returncode == 0, result.stdout + result.stderr


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
    result = lint_imports(tmp_path, "contracts.ini")
    assert result.returncode == 1
    assert "No cycles BROKEN" in result.stdout and "No cycles are allowed in app." in result.stdout
