"""Run deploy/nginx/delineate.conf itself on this machine: the same site, with the machine-specific lines
(listen ports, upstream servers, certificate, static folder, server name) rewritten for a local run.

Used by tests/test_deploy.py (``nginx -t``) and scripts/stack_test/ (the stack served through nginx).
Each rewritten line must be found exactly once, so a change to the site that this does not follow fails
loudly instead of testing something else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "deploy" / "nginx" / "delineate.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def _replace(text: str, pattern: str, replacement: str, count: int = 1) -> str:
    new, found = re.subn(pattern, lambda _: replacement, text, flags=re.MULTILINE)
    if found != count:
        raise ValueError(f"{SITE}: expected {count} line(s) matching {pattern!r}, found {found}")
    return new


def render_site(
    *,
    upstreams: list[str],
    http_port: int,
    https_port: int,
    certificate: Path,
    key: Path,
    static_root: Path,
    server_name: str = "127.0.0.1",
) -> str:
    text = SITE.read_text()
    servers = "".join(f"    server {address} max_fails=0;\n" for address in upstreams)
    text = _replace(text, r"^(    server 127\.0\.0\.1:\d+ max_fails=0;\n)+", servers)
    text = _replace(text, r"^    listen 80;$", f"    listen 127.0.0.1:{http_port};")
    text = _replace(text, r"^    listen \[::\]:80;\n", "")
    text = _replace(text, r"^    listen 443 ssl http2;$", f"    listen 127.0.0.1:{https_port} ssl http2;")
    text = _replace(text, r"^    listen \[::\]:443 ssl http2;\n", "")
    text = _replace(text, r"^    server_name delineate\.example\.org;$", f"    server_name {server_name};", 2)
    text = _replace(
        text,
        r"^    ssl_certificate /etc/ssl/delineate/fullchain\.pem;$",
        f"    ssl_certificate {certificate};",
    )
    text = _replace(
        text, r"^    ssl_certificate_key /etc/ssl/delineate/privkey\.pem;$", f"    ssl_certificate_key {key};"
    )
    text = _replace(
        text, r"^        alias /opt/delineate/var/staticfiles/;$", f"        alias {static_root}/;"
    )
    return text


def self_signed_certificate(folder: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=IP:{name}",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


def write_config(folder: Path, site: str) -> Path:
    """A main nginx.conf around ``site`` that keeps every file (pid, logs, temp) inside ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o777)  # nginx's workers run as nobody when the master is root
    (folder / "site.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = folder / "nginx.conf"
    config.write_text(
        f"""worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log {folder / "access.log"};
{temp}
    include {folder / "site.conf"};
}}
"""
    )
    return config


def check_config(config: Path) -> subprocess.CompletedProcess:
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed")
    return subprocess.run([binary, "-t", "-c", str(config)], capture_output=True, text=True)
