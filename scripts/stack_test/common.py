"""Settings of the run, shared by its parts: timings and the log line."""

from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PASSWORD = "stack-pass"
PROMPT_TIMEOUT_S = 10.0  # a prompt with no answer by then is sent once more
RECOVERY_S = 30.0  # every client must get a prompt result again within this long after a fault
RESTART_AFTER_S = 1.0  # a crashed process is started again after this long (systemd RestartSec=1)
SETTLE_S = 120.0  # after the run, jobs have this long to reach a final state
FAULT_SPACING_S = 32.0  # between two faults (the recovery window must fit)
TAIL_S = 40.0  # load after the last fault


def duration(args) -> float:
    return args.steady + 3 * FAULT_SPACING_S + TAIL_S


def log(message: str) -> None:
    print(f"[test-stack {time.strftime('%H:%M:%S')}] {message}", flush=True)
