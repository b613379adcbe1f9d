"""A throwaway PACS for tests and demos: Debian's Orthanc with its DICOMweb plugin, its own configuration and
storage in a temporary folder, on free loopback ports (HTTP and DICOM), removed on exit.

    with temporary_orthanc() as pacs:               # no authentication
        pacs.upload(Path("brain_001.dcm"))
        pacs.dicomweb_url                           # http://127.0.0.1:PORT/dicom-web
    with temporary_orthanc(users={"ris": "s3cret"}) as pacs:   # HTTP basic authentication

``python -m scripts.orthanc [FILES...]`` starts one in the foreground (loaded with FILES) until Ctrl-C.

The packages (``orthanc``, ``orthanc-dicomweb``) are installed by scripts/ensure_pacs_tools.sh, which
``make test`` runs; ``missing()`` says what is not there so tests can skip with that reason.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scripts.livestack import free_port

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
# Orthanc opens its index and loads the plugin in well under a second here; the wait is generous because
# the machine is shared.
START_TIMEOUT_S = 60.0


def missing() -> str | None:
    """Why no Orthanc can be started here (a sentence naming the package), or None when it can."""
    if not ORTHANC.exists():
        return f"{ORTHANC} is missing: install Debian's orthanc package (scripts/ensure_pacs_tools.sh)"
    if not DICOMWEB_PLUGIN.exists():
        return f"{DICOMWEB_PLUGIN} is missing: install Debian's orthanc-dicomweb package"
    return None


@dataclass
class Orthanc:
    """A running Orthanc: its URLs, an uploader and a few REST helpers for tests."""

    http_port: int
    dicom_port: int
    root: Path
    users: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.base_url}/dicom-web"

    def _request(self, path: str, data: bytes | None = None, method: str | None = None) -> bytes:
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        if self.users:
            user, password = next(iter(self.users.items()))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        if data is not None:
            request.add_header("Content-Type", "application/dicom")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def get_json(self, path: str):
        return json.loads(self._request(path))

    def upload(self, *paths: Path) -> list[str]:
        """Store DICOM files through Orthanc's REST API; returns Orthanc's instance ids."""
        ids = []
        for path in paths:
            reply = json.loads(self._request("/instances", Path(path).read_bytes()))
            if reply.get("Status") not in ("Success", "AlreadyStored"):
                raise RuntimeError(f"Orthanc refused {path}: {reply}")
            ids.append(reply["ID"])
        return ids

    def instance_count(self) -> int:
        return int(self.get_json("/statistics")["CountInstances"])

    def ready(self) -> bool:
        try:
            self._request("/system")
        except (urllib.error.URLError, ConnectionError, OSError):
            return False
        return True

    def log(self) -> str:
        path = self.root / "orthanc.log"
        return path.read_text(errors="replace") if path.exists() else ""


def config(
    root: Path, http_port: int, dicom_port: int, users: dict[str, str], lua: str | None = None
) -> dict:
    storage = root / "storage"
    scripts = []
    if lua:
        (root / "filter.lua").write_text(lua)
        scripts.append(str(root / "filter.lua"))
    return {
        "LuaScripts": scripts,
        "Name": "DELINEATE_TEST",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "DELINEATE",
        # Loopback only: the ports are free ones on 127.0.0.1 and nothing else may talk to it.
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": bool(users),
        "RegisteredUsers": users,
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "Host": "127.0.0.1"},
        "StableAge": 1,
        "HttpDescribeErrors": True,
        "ConcurrentJobs": 1,
        "HttpThreadsCount": 8,
    }


@contextlib.contextmanager
def temporary_orthanc(users: dict[str, str] | None = None, lua: str | None = None) -> Iterator[Orthanc]:
    """``users``: HTTP basic credentials to require; ``lua``: an Orthanc Lua script, e.g. a
    ``ReceivedInstanceFilter`` that refuses some instances (to test how a rejected store is reported)."""
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="delineate-orthanc-"))
    server = Orthanc(free_port(), free_port(), root, dict(users or {}))
    (root / "orthanc.json").write_text(
        json.dumps(config(root, server.http_port, server.dicom_port, server.users, lua))
    )
    log = open(root / "orthanc.log", "wb")
    server.process = subprocess.Popen(
        [str(ORTHANC), str(root / "orthanc.json")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.ready():
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"Orthanc exited with {server.process.returncode}:\n{server.log()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Orthanc not ready after {START_TIMEOUT_S:.0f} s:\n{server.log()[-3000:]}"
                )
            time.sleep(0.1)
        yield server
    finally:
        stop(server.process)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # Orthanc closes its index cleanly on SIGTERM
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(files: list[str]) -> None:
    with temporary_orthanc() as pacs:
        paths = [
            p
            for name in files
            for p in (sorted(Path(name).rglob("*.dcm")) if Path(name).is_dir() else [Path(name)])
        ]
        pacs.upload(*paths)
        print(f"Orthanc at {pacs.base_url} (DICOMweb {pacs.dicomweb_url}), {pacs.instance_count()} instances")
        print("Ctrl-C stops it and deletes its storage.")
        try:
            while pacs.process and pacs.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
