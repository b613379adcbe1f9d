"""dciodvfy (Debian's dicom3tools) as a test oracle: every DICOM object Delineate writes must pass it with no
errors. Warnings are collected and listed at the end of the test run (tests/conftest.py prints them)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Filled by validate(): what each checked object was warned about, printed in the terminal summary.
WARNINGS: dict[str, list[str]] = {}


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output: str = ""


def dciodvfy_path() -> str:
    path = shutil.which("dciodvfy")
    if path is None:
        pytest.skip(
            "dciodvfy is not installed: Debian's dicom3tools package (scripts/ensure_pacs_tools.sh, run by "
            "make test, installs it)"
        )
    return path


def validate(data: bytes, name: str) -> Report:
    """Run dciodvfy on a DICOM file's bytes; ``name`` labels its warnings in the summary."""
    with tempfile.TemporaryDirectory(prefix="delineate-dciodvfy-") as tmp:
        path = Path(tmp) / "object.dcm"
        path.write_bytes(data)
        result = subprocess.run([dciodvfy_path(), str(path)], capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    report = Report(output=output)
    for line in output.splitlines():
        if line.startswith("Error"):
            report.errors.append(line)
        elif line.startswith("Warning"):
            report.warnings.append(line)
    WARNINGS[name] = report.warnings
    return report


def assert_valid(data: bytes, name: str) -> Report:
    report = validate(data, name)
    assert not report.errors, f"dciodvfy found errors in {name}:\n" + "\n".join(report.errors)
    return report
