"""The deployment files start the processes of webapp/processes.py, with the same queues, concurrency,
pool, prefetch and priority as `make run` (webapp/stack.py), so they cannot drift apart; the images run as
a non-root user with health checks and weights fetched at build; the nginx site passes `nginx -t`.

Images cannot be built here (no Docker engine): the files are parsed and compared instead.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from scripts import nginx_site
from webapp import processes, stack

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


@dataclass(frozen=True)
class Spec:
    """What a process is, whichever file starts it."""

    module: str  # celery or webapp.server (Daphne)
    nice: int = 0
    pool: str = ""
    concurrency: int = 0
    queues: tuple[str, ...] = ()
    node: str = ""
    prefetch: int = 0
    loglevel: str = ""
    application: str = ""
    proxy_headers: bool = False
    flags: frozenset = frozenset()


def spec_of(argv: list[str], nice: int = 0) -> Spec:
    """Parse ``[nice -n N] <python> -m celery|webapp.server ...`` into a Spec (bind addresses and ports aside)."""
    args = list(argv)
    if args[:2] == ["nice", "-n"]:
        nice, args = int(args[2]), args[3:]
    assert "-m" in args, argv
    module, rest = args[args.index("-m") + 1], args[args.index("-m") + 2 :]
    assert re.search(r"python(3(\.\d+)?)?$", args[args.index("-m") - 1]), argv
    options: dict[str, str] = {}
    positional: list[str] = []
    flags: set[str] = set()
    i = 0
    while i < len(rest):
        if rest[i] in ("--proxy-headers", "--without-gossip", "--without-mingle"):
            flags.add(rest[i])
            i += 1
        elif rest[i].startswith("-"):
            options[rest[i]] = rest[i + 1]
            i += 2
        else:
            positional.append(rest[i])
            i += 1
    if module == "celery":
        assert options.pop("-A") == "webapp" and positional == ["worker"], argv
        positional = []
        spec = Spec(
            module,
            nice,
            pool=options.pop("-P"),
            concurrency=int(options.pop("-c")),
            queues=tuple(options.pop("-Q").split(",")),
            node=options.pop("-n"),
            prefetch=int(options.pop("--prefetch-multiplier")),
            loglevel=options.pop("-l"),
            flags=frozenset(flags),
        )
    else:
        assert module == processes.ASGI_SERVER, argv
        options.pop("-b"), options.pop("-p")
        spec = Spec(module, nice, application=positional[-1], proxy_headers="--proxy-headers" in flags)
        positional = positional[:-1]
    assert not options and not positional, f"options the table does not know: {options} {positional}"
    return spec


def table() -> dict[str, Spec]:
    """The source of truth: every process of webapp/processes.py."""
    specs = {processes.WEB: spec_of(processes.command(processes.web_args("0.0.0.0", 8000)))}
    for worker in (*processes.WORKERS, processes.GPU_WORKER):
        specs[worker.name] = spec_of(processes.worker_command(worker))
    return specs


CPU_SET = {processes.WEB, *(worker.name for worker in processes.WORKERS)}


def test_make_run_starts_exactly_the_table_s_cpu_processes():
    started = {name: spec_of(argv) for name, argv in stack.worker_argvs()}
    started["web"] = spec_of(stack.web_argv("127.0.0.1", 8000))
    assert started == {name: spec for name, spec in table().items() if name in CPU_SET}


def test_the_procfile_starts_the_same_processes_as_make_run():
    entries = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            argv = shlex.split(command.replace("${PORT:-8000}", "8000"))
            entries[name.strip()] = spec_of(argv)
    assert entries == {name: spec for name, spec in table().items() if name in CPU_SET}


def systemd_units() -> dict[str, dict[str, list[str]]]:
    """Each unit's [Service] keys (a key may repeat), templates instantiated as instance "0"."""
    units = {}
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        section, keys = "", {}
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line
                continue
            key, _, value = line.partition("=")
            if section == "[Service]":
                value = value.replace("%i", "0").replace("%%", "%")
                keys.setdefault(key, []).append(value)
        units[path.stem.removeprefix("delineate-").removesuffix("@")] = keys
    return units


def test_the_systemd_units_start_the_same_processes_as_make_run_plus_the_gpu_worker():
    units = systemd_units()
    expected = table()
    expected[processes.GPU_WORKER.name] = Spec(**{**expected["worker-gpu"].__dict__, "node": "gpu-0@%h"})
    found = {}
    for name, keys in units.items():
        (exec_start,) = keys["ExecStart"]
        found[name] = spec_of(shlex.split(exec_start), nice=int(keys.get("Nice", ["0"])[0]))
        # every process runs unprivileged, restarts on failure, and reads the same settings file
        assert keys["User"] == ["delineate"] and keys["Restart"] == ["on-failure"], name
        assert keys["EnvironmentFile"] == ["/etc/delineate/delineate.env"], name
    assert found == expected
    gpu_environment = " ".join(units["worker-gpu"]["Environment"])
    assert "CUDA_VISIBLE_DEVICES=0" in gpu_environment and "DEVICE=cuda" in gpu_environment


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_starts_the_same_processes_as_make_run_plus_the_gpu_worker_and_the_servers():
    services = compose()["services"]
    app = {name: s for name, s in services.items() if name in table()}
    assert {name: spec_of(s["command"]) for name, s in app.items()} == table()
    assert {"postgres", "redis", "migrate"} <= set(services)
    for name, service in app.items():
        environment = service["environment"]
        # every process shares the database, Redis, and the media and model volumes
        assert (
            environment["DATABASE_URL"].startswith("postgres://")
            and "@postgres:" in environment["DATABASE_URL"]
        )
        assert environment["REDIS_URL"] == "redis://redis:6379/0", name
        assert {"media:/data/media", "models:/data/models"} <= set(service["volumes"]), name
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert {"media", "models"} <= set(compose()["volumes"])


def test_the_gpu_worker_reserves_one_gpu_and_runs_one_task_at_a_time():
    gpu = compose()["services"]["worker-gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and len(device["device_ids"]) == 1
    assert gpu["environment"]["DEVICE"] == "cuda" and gpu["profiles"] == ["gpu"]
    spec = spec_of(gpu["command"])
    assert spec.concurrency == 1 and spec.prefetch == 1
    assert gpu["build"]["dockerfile"] == "deploy/Dockerfile.cuda"


def test_every_worker_in_compose_has_a_health_check_of_its_own_node():
    for name, service in compose()["services"].items():
        if name.startswith("worker"):
            node = spec_of(service["command"]).node.split("@")[0]
            assert f"inspect ping -d {node}@" in " ".join(service["healthcheck"]["test"]), name


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_the_images_are_multi_stage_non_root_with_health_checks_and_weights_fetched_at_build(dockerfile):
    text = (DEPLOY / dockerfile).read_text()
    instructions = [
        line for line in re.sub(r"\\\n", " ", text).splitlines() if line and not line.startswith("#")
    ]
    assert sum(line.startswith("FROM ") for line in instructions) >= 2
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK ") for line in instructions)
    assert any("python -m ml_worker.weights" in line for line in instructions if line.startswith("RUN "))
    assert "torch==2.13.0" in text  # the version pyproject.toml pins
    if dockerfile == "Dockerfile":
        healthcheck = next(line for line in instructions if line.startswith("HEALTHCHECK "))
        assert "/healthz" in healthcheck
        assert "download.pytorch.org/whl/cpu" in text


def test_the_pinned_torch_is_the_one_the_images_install():
    pyproject = (DEPLOY.parent / "pyproject.toml").read_text()
    assert '"torch==2.13.0"' in pyproject


@pytest.mark.skipif(
    nginx_site.nginx_binary() is None, reason="nginx is not installed (scripts/stack_test/ installs it)"
)
def test_the_nginx_site_passes_nginx_t(tmp_path):
    certificate, key = nginx_site.self_signed_certificate(tmp_path)
    site = nginx_site.render_site(
        upstreams=["127.0.0.1:18001", "127.0.0.1:18002"],
        http_port=18080,
        https_port=18443,
        certificate=certificate,
        key=key,
        static_root=tmp_path / "static",
    )
    result = nginx_site.check_config(nginx_site.write_config(tmp_path / "nginx", site))
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_nginx_site_upgrades_websockets_streams_uploads_and_serves_static_files():
    site = nginx_site.SITE.read_text()
    ws = site[site.index("location /ws/") :]
    ws = ws[: ws.index("}")]
    assert "proxy_buffering off" in ws and re.search(r"proxy_read_timeout (\d+)s", ws)
    assert "proxy_set_header Upgrade $http_upgrade" in site and "map $http_upgrade" in site
    assert "proxy_request_buffering off" in site and "client_max_body_size 2g" in site
    assert "proxy_set_header X-Forwarded-Proto $scheme" in site and "ssl_certificate " in site
    assert "location /static/" in site
    # No location sets headers of its own (it would silently drop the server-level ones).
    code = "\n".join(line for line in site.splitlines() if not line.strip().startswith("#"))
    for block in re.findall(r"location [^{]+\{[^}]*\}", code):
        assert "proxy_set_header" not in block, block
