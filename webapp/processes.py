"""Every long-running process of Delineate, in one table.

This is the source of truth for what runs: ``make run`` (webapp/stack.py) starts these, and the deployment
files start the same ones — deploy/Procfile, deploy/systemd/*.service and deploy/compose.yaml.
tests/test_deploy.py parses each of those files and compares it with this table (process names, queues,
concurrency, pool, prefetch, CPU priority, the ASGI application), so they cannot drift apart.

Why these processes (measured with ``make bench-ws``; see the note on issue 5):

* ``web``: Daphne serving HTTP, the WebSockets and the static files (WhiteNoise). Any number of them may
  run behind a proxy: the channel layer (Redis) carries every message between them.
* ``worker-interactive``: prompt decoding (and the encoder for a prompt on a slice not yet embedded),
  two threads, so interactive decoding never waits behind slow work.
* ``worker-embed``: the background encoder, imports, exports, propagation, training, at lower CPU priority
  (nice 10), so on a 2-core CPU the encoder uses both cores when nobody prompts and yields them when
  somebody does. It also runs the job reaper (annotator/workers.py).
* ``worker-gpu`` (deployments with a GPU): the encoder and training on one GPU, one process per GPU,
  one task at a time (concurrency 1), so a GPU is never shared by two tasks that each expect all of it.
  Interactive decoding stays on CPU workers (the decoder takes ~20 ms there): a training step must
  never hold a prompt back.

Every worker reserves one message per process at a time (prefetch multiplier 1): a worker busy with a
long task never holds further messages that a free worker could run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from annotator.queues import QUEUE_EMBED, QUEUE_INTERACTIVE, QUEUE_TRAIN

ASGI_APPLICATION = "webapp.asgi:application"
PREFETCH_MULTIPLIER = 1
# Workers neither gossip nor mingle (exchange state with every other worker at start and after each broker
# reconnect): nothing here uses it, and it lengthened the reconnect after a Redis restart and flooded the
# logs with errors while the broker was away (`make test-stack`).
WORKER_FLAGS = ("--without-gossip", "--without-mingle")


@dataclass(frozen=True)
class Worker:
    name: str  # process name (Procfile entry, systemd unit, compose service)
    node: str  # Celery node name: <node>@<host>
    queues: tuple[str, ...]
    concurrency: int
    pool: str = "threads"
    nice: int = 0
    gpu: bool = False

    def celery_args(self, node: str | None = None) -> list[str]:
        """The arguments after ``python -m``."""
        return [
            "celery",
            "-A",
            "webapp",
            "worker",
            "-l",
            "info",
            "-P",
            self.pool,
            "-c",
            str(self.concurrency),
            "-Q",
            ",".join(self.queues),
            "-n",
            f"{node or self.node}@%h",
            "--prefetch-multiplier",
            str(PREFETCH_MULTIPLIER),
            *WORKER_FLAGS,
        ]


WEB = "web"
ASGI_SERVER = "webapp.server"
WORKERS: tuple[Worker, ...] = (
    Worker("worker-interactive", "interactive", (QUEUE_INTERACTIVE,), concurrency=2),
    Worker("worker-embed", "embed", (QUEUE_EMBED, QUEUE_TRAIN), concurrency=2, nice=10),
)
# Deployments with GPUs add one of these per GPU (compose profile "gpu", systemd worker-gpu@<index>).
GPU_WORKER = Worker("worker-gpu", "gpu", (QUEUE_EMBED, QUEUE_TRAIN), concurrency=1, gpu=True)


def web_args(bind: str, port: int | str) -> list[str]:
    """The ASGI server's arguments after ``python -m``: Daphne with uploads streamed (webapp/server.py).
    ``--proxy-headers``: behind nginx, the client's address comes from X-Forwarded-For."""
    return [ASGI_SERVER, "-b", bind, "-p", str(port), "--proxy-headers", ASGI_APPLICATION]


def command(args: list[str], *, nice: int = 0, python: str = sys.executable) -> list[str]:
    """A full command line: ``[nice -n N] python -m <args>``."""
    return [*(["nice", "-n", str(nice)] if nice else []), python, "-m", *args]


def worker_command(worker: Worker, node: str | None = None, python: str = sys.executable) -> list[str]:
    return command(worker.celery_args(node), nice=worker.nice, python=python)
