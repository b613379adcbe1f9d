"""Talking to a DICOMweb server through ``dicomweb-client``; every failure becomes ``UpstreamFailed`` with a
sentence a project owner can act on (unreachable, credentials refused, no DICOMweb service at that URL, the
server failed or refused the objects).

No Django models here: a ``Connection`` is plain settings, so a worker builds it from the project's row.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset

from annotator.errors import UpstreamFailed

# A PACS on the hospital network answers a connection in milliseconds; 5 s tells "down or wrong host" from
# "slow" without keeping a request thread long. Reads get longer: a WADO-RS series of a few hundred
# instances can take a minute to start streaming on a busy archive.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Connection:
    base_url: str
    auth: str = "none"  # none | basic | bearer
    username: str = ""
    secret: str = ""

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url


def connect(connection: Connection) -> DICOMwebClient:
    session = requests.Session()
    if connection.auth == "basic":
        session.auth = requests.auth.HTTPBasicAuth(connection.username, connection.secret)
    elif connection.auth == "bearer":
        session.headers["Authorization"] = f"Bearer {connection.secret}"
    try:
        client = DICOMwebClient(
            url=connection.base_url.rstrip("/"), session=session, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
        )
    except ValueError as exc:
        raise UpstreamFailed(
            f"{connection.base_url!r} is not a usable DICOMweb URL ({exc}).", details={"reason": "bad_url"}
        ) from exc
    # Failures are reported to the person waiting, not retried five times with back-off behind their back.
    client.set_http_retry_params(retry=False)
    return client


def _failure_reasons(response: requests.Response | None) -> str:
    """The failure reasons of a STOW-RS reply body (DICOM JSON), when the server gave any."""
    if response is None:
        return ""
    try:
        reply = Dataset.from_json(response.json())
    except (ValueError, TypeError, KeyError, json.JSONDecodeError, AttributeError):
        return ""
    return describe_failures(reply)


def describe_failures(reply: Dataset) -> str:
    items = reply.get("FailedSOPSequence") or []
    reasons = sorted({f"0x{int(item.get('FailureReason', 0)):04X}" for item in items})
    return f"{len(items)} refused (failure reason {', '.join(reasons)})" if items else ""


@contextlib.contextmanager
def translated(connection: Connection, what: str) -> Iterator[None]:
    """Turn what requests and dicomweb-client raise while doing ``what`` into UpstreamFailed."""
    host = connection.host
    try:
        yield
    except requests.exceptions.Timeout as exc:
        raise UpstreamFailed(
            f"The PACS at {host} did not answer in time while {what}. Try again later.",
            details={"reason": "timeout"},
        ) from exc
    except requests.exceptions.ConnectionError as exc:
        raise UpstreamFailed(
            f"The PACS at {host} cannot be reached while {what}: is the server running and the URL right?",
            details={"reason": "unreachable"},
        ) from exc
    except requests.exceptions.HTTPError as exc:
        response = exc.response
        status = response.status_code if response is not None else 0
        if status == 401:
            raise UpstreamFailed(
                f"The PACS at {host} refused the credentials (HTTP 401) while {what}: check the user "
                "name and password or token in the PACS settings.",
                details={"reason": "unauthorized", "status": status},
            ) from exc
        if status == 403:
            raise UpstreamFailed(
                f"The PACS at {host} does not allow this account to do that (HTTP 403) while {what}: ask its "
                "administrators for the right, or use another account.",
                details={"reason": "forbidden", "status": status},
            ) from exc
        if status == 404:
            raise UpstreamFailed(
                f"The PACS at {host} has no such resource (HTTP 404) while {what}: check that the URL is the "
                "DICOMweb service root (often ending in /dicom-web).",
                details={"reason": "not_found", "status": status},
            ) from exc
        reasons = _failure_reasons(response)
        kind = "refused the request" if 400 <= status < 500 else "failed"
        raise UpstreamFailed(
            f"The PACS at {host} {kind} (HTTP {status}) while {what}" + (f": {reasons}." if reasons else "."),
            details={"reason": "refused" if status < 500 else "server_error", "status": status},
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise UpstreamFailed(
            f"Talking to the PACS at {host} failed while {what} ({type(exc).__name__}).",
            details={"reason": "unreachable"},
        ) from exc
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise UpstreamFailed(
            f"The PACS at {host} answered with something that is not DICOMweb while {what} ({exc}).",
            details={"reason": "bad_reply"},
        ) from exc


def _datasets(results: list[dict]) -> list[Dataset]:
    return [Dataset.from_json(item) for item in results]


def probe(connection: Connection) -> int:
    """One small QIDO-RS search: proves the URL, the credentials and the DICOMweb service. Returns how many
    studies came back (0 or 1)."""
    client = connect(connection)
    with translated(connection, "checking the connection"):
        return len(client.search_for_studies(limit=1, fields=["StudyInstanceUID"]))


def search_studies(
    connection: Connection, filters: dict[str, str], fields: list[str], limit: int, offset: int
) -> list[Dataset]:
    client = connect(connection)
    with translated(connection, "searching studies"):
        return _datasets(
            client.search_for_studies(search_filters=filters, fields=fields, limit=limit, offset=offset)
        )


def search_series(connection: Connection, study_uid: str, fields: list[str]) -> list[Dataset]:
    client = connect(connection)
    with translated(connection, "searching the study's series"):
        return _datasets(client.search_for_series(study_instance_uid=study_uid, fields=fields))


def study_attributes(
    connection: Connection, study_uid: str, keywords: tuple[str, ...]
) -> dict[str, str] | None:
    """The study's attributes ``keywords`` as the PACS holds them (None when it has no such study)."""
    client = connect(connection)
    with translated(connection, "reading the study"):
        found = _datasets(
            client.search_for_studies(search_filters={"StudyInstanceUID": study_uid}, fields=list(keywords))
        )
    if not found:
        return None
    return {keyword: str(found[0].get(keyword, "") or "") for keyword in keywords}


def iter_instances(connection: Connection, study_uid: str, series_uid: str) -> Iterator[Dataset]:
    """Every instance of a series (WADO-RS), streamed, in the transfer syntax the PACS stores it in (the
    import decodes compressed syntaxes itself)."""
    client = connect(connection)
    with translated(connection, "retrieving the series"):
        yield from client.iter_series(study_uid, series_uid, media_types=(("application/dicom", "*"),))


def store(connection: Connection, datasets: list[Dataset]) -> Dataset:
    """STOW-RS, all ``datasets`` in one request; the server's reply (stored and refused instances)."""
    client = connect(connection)
    with translated(connection, "sending the segmentations"):
        return client.store_instances(datasets)


def missing_instances(connection: Connection, study_uid: str, sop_instance_uids: list[str]) -> list[str]:
    """Which of these instances of a study a QIDO-RS search does not find: a store the server acknowledged
    is only believed once the server lists it (some servers acknowledge instances a filter then drops)."""
    client = connect(connection)
    missing = []
    with translated(connection, "checking what the PACS stored"):
        for uid in sop_instance_uids:
            found = client.search_for_instances(
                study_instance_uid=study_uid,
                search_filters={"SOPInstanceUID": uid},
                fields=["SOPInstanceUID"],
            )
            if not any(Dataset.from_json(item).get("SOPInstanceUID") == uid for item in found):
                missing.append(uid)
    return missing
