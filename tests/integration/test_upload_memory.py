"""An upload is streamed to disk: the ASGI server's memory does not grow with the size of what is uploaded
(finding 2 of issue 13: a 200 MiB upload took the server from 585 to 2,929 MiB, a 1 GiB one to the OOM killer).

The server is the one `make run` starts (webapp/server.py, from the process table), measured by its own peak
resident memory (VmHWM in /proc) before and after the upload. Before the fix a 256 MiB upload raised the peak
by about 3 GB; after it by a few MiB. The bound allowed is a quarter of the upload's size.
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.livestack import LiveStack
from tests.imaging_data import dicom_file

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
PADDING = 256 * MIB


def peak_rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def padded_zip(path: Path, dicom: Path, padding: int) -> Path:
    """A zip of one real DICOM file and ``padding`` bytes of a macOS resource fork (stored, not deflated),
    which the import skips: the upload is big, the import small."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.write(dicom, "scan/image.dcm")
        with archive.open("__MACOSX/scan/._image.dcm", "w", force_zip64=True) as entry:
            block = bytes(MIB)
            for _ in range(padding // MIB):
                entry.write(block)
    return path


def upload(stack: LiveStack, jar: http.cookiejar.CookieJar, project_id: int, path: Path) -> tuple[int, dict]:
    """POST ``path`` as multipart ``files``, read from disk a MiB at a time (the client holds little too)."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with open(path, "rb") as handle:
            while block := handle.read(MIB):
                yield block
        yield tail

    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    request = urllib.request.Request(
        f"{stack.base_url}/api/projects/{project_id}/imports/",
        data=body(),
        method="POST",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + path.stat().st_size + len(tail)),
            "X-CSRFToken": token,
            "Referer": stack.base_url,
        },
    )
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        with opener.open(request, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_256_mib_upload_raises_the_server_s_peak_memory_by_far_less_than_its_size(tmp_path):
    stack = LiveStack()
    try:
        stack.start_redis()
        stack.start_web()
        stack.create_user("owner", "pw-owner-1")
        jar = stack.login("owner", "pw-owner-1")
        status, project = stack.post_json(jar, "/api/projects/", {"name": "uploads"})
        assert status == 201, project
        web = stack.processes["web"].pid
        # Given a server that has already imported a small file (its import code and libraries loaded)
        warm_up = padded_zip(tmp_path / "small.zip", dicom_file("MR_small.dcm"), MIB)
        assert upload(stack, jar, project["id"], warm_up)[0] == 201
        before = peak_rss_mib(web)

        # When a 256 MiB zip holding one real DICOM file is uploaded
        big = padded_zip(tmp_path / "big.zip", dicom_file("CT_small.dcm"), PADDING)
        status, imported = upload(stack, jar, project["id"], big)

        # Then it is imported, and the server's peak memory grew by far less than the upload
        growth = peak_rss_mib(web) - before
        assert status == 201, imported
        assert [series["shape"] for series in imported["series"]] == [[1, 128, 128]]
        print(f"peak RSS {before} MiB before, +{growth} MiB after a {big.stat().st_size // MIB} MiB upload")
        assert growth < PADDING // MIB // 4, f"the server's peak memory grew by {growth} MiB"
    finally:
        stack.stop_all()
