"""The dependency rule, checked: webapp → annotator → ml_worker, and ml_worker is plain model code (the
import-linter contracts in .importlinter, which `make lint` and `make test` also run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / ".importlinter"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_code_keeps_every_import_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


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
    assert "0 kept, 2 broken" in result.stdout
    for imported in ("annotator.models", "celery", "django"):
        assert f"ml_worker.leak -> {imported}" in result.stdout, result.stdout
