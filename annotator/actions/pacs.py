"""A project's PACS: configure and test the DICOMweb source and search it (importing chosen series is
``annotator.actions.pacs_import``, sending masks back ``annotator.actions.pacs_stow``).

Searches show only what de-identification would keep, and remember each result by an opaque handle
(``PacsHandle``) that an import names instead of UIDs. See docs/pacs.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, Field
from pydicom.dataset import Dataset

from annotator import access
from annotator.actions import imports
from annotator.dicomweb import client, results
from annotator.errors import InvalidInput, NotFound
from annotator.models import DicomWebSource, PacsHandle, PacsSeriesOrigin, Project

log = logging.getLogger(__name__)

# Handles live as long as someone may keep a result list open; a new search renews them.
HANDLE_LIFETIME = dt.timedelta(days=7)
MAX_RESULTS = 100
MAX_SERIES_PER_IMPORT = 50
# Modalities whose series hold no images to annotate (segmentations, reports, presentation states, ...).
NOT_IMAGES = {"SEG", "SR", "PR", "KO", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "REG", "DOC", "AU", "ECG"}


# -- the source ----------------------------------------------------------------------------------------


class SourceSettings(BaseModel):
    """The body of ``PUT /api/projects/{id}/pacs/``. ``secret`` None keeps the stored one (same method)."""

    base_url: str = Field(min_length=1, max_length=500)
    auth: str = Field(default="none", pattern="^(none|basic|bearer)$")
    username: str = Field(default="", max_length=150)
    secret: str | None = Field(default=None, max_length=4000)


def current_source(project: Project) -> DicomWebSource | None:
    return DicomWebSource.objects.filter(project=project).select_related("updated_by").first()


def source_of(project: Project) -> DicomWebSource:
    source = DicomWebSource.objects.filter(project=project).first()
    if source is None:
        raise InvalidInput("This project has no PACS yet: an owner sets its DICOMweb URL in the PACS panel.")
    return source


def connection_of(source: DicomWebSource) -> client.Connection:
    return client.Connection(source.base_url, source.auth, source.username, source.secret)


def check_source(settings: SourceSettings, existing: DicomWebSource | None) -> client.Connection:
    url = settings.base_url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            f"{url!r} is not an http(s) URL; give the DICOMweb root, e.g. https://pacs/dicom-web."
        )
    if parts.query or parts.fragment:
        raise InvalidInput("The DICOMweb URL must not have a query (?...) or a fragment (#...).")
    username = settings.username.strip()
    if settings.auth == "basic" and not username:
        raise InvalidInput("HTTP basic authentication needs a user name.")
    secret = settings.secret
    if secret is None:  # keep the stored secret only for the same method (and user, for basic)
        same = existing is not None and existing.auth == settings.auth and existing.username == username
        secret = existing.secret if same and existing else ""
    if settings.auth != "none" and not secret:
        what = "password" if settings.auth == "basic" else "token"
        raise InvalidInput(f"Give the {what} for the PACS.")
    return client.Connection(url, settings.auth, username if settings.auth == "basic" else "", secret or "")


def do_configure_source(user: access.AnyUser, project: Project, settings: SourceSettings) -> DicomWebSource:
    """Check the settings against the server itself (one small search) and save them; a PACS that cannot be
    reached or refuses the credentials saves nothing."""
    existing = DicomWebSource.objects.filter(project=project).first()
    connection = check_source(settings, existing)
    client.probe(connection)
    with transaction.atomic():
        source, _ = DicomWebSource.objects.update_or_create(
            project=project,
            defaults={
                "base_url": connection.base_url,
                "auth": connection.auth,
                "username": connection.username,
                "secret": connection.secret if connection.auth != "none" else "",
                "updated_by": access.signed_in(user),
            },
        )
    return source


@transaction.atomic
def do_remove_source(user: access.AnyUser, project: Project) -> None:
    """Forget the PACS settings (the secret with them); imported series keep their recorded origin."""
    deleted, _ = DicomWebSource.objects.filter(project=project).delete()
    if not deleted:
        raise NotFound("This project has no PACS to remove.")
    PacsHandle.objects.filter(project=project).delete()


def test_source(project: Project) -> dict:
    found = client.probe(connection_of(source_of(project)))
    return {
        "ok": True,
        "message": "The PACS answered a search." + ("" if found else " It holds no studies yet."),
    }


# -- searching -----------------------------------------------------------------------------------------


class StudyQuery(BaseModel):
    """Search filters for studies. They go to the PACS as QIDO-RS matching keys and are never stored."""

    modality: str = Field(default="", max_length=16, pattern=r"^[A-Za-z]{0,16}$")
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    accession: str = Field(default="", max_length=64)
    limit: int = Field(default=25, ge=1, le=MAX_RESULTS)
    offset: int = Field(default=0, ge=0, le=100_000)


def _qido_filters(query: StudyQuery) -> dict[str, str]:
    filters: dict[str, str] = {}
    if query.modality:
        filters["ModalitiesInStudy"] = query.modality.upper()
    if query.date_from or query.date_to:
        if query.date_from and query.date_to and query.date_from > query.date_to:
            raise InvalidInput("The first date of the range is after the last.")
        start = query.date_from.strftime("%Y%m%d") if query.date_from else ""
        end = query.date_to.strftime("%Y%m%d") if query.date_to else ""
        filters["StudyDate"] = f"{start}-{end}"
    if query.accession.strip():
        filters["AccessionNumber"] = query.accession.strip()
    return filters


def _remember(project: Project, entries: list[tuple[str, str, str]]) -> None:
    """Store (handle, study UID, series UID) so the handles can be resolved; drop handles not seen lately."""
    now = timezone.now()
    PacsHandle.objects.filter(project=project, seen_at__lt=now - HANDLE_LIFETIME).delete()
    PacsHandle.objects.bulk_create(
        [
            PacsHandle(project=project, handle=h, study_uid=st, series_uid=se, seen_at=now)
            for h, st, se in entries
        ],
        update_conflicts=True,
        unique_fields=["project", "handle"],
        update_fields=["seen_at"],
    )


def resolve(project: Project, handle: str, *, series: bool) -> PacsHandle:
    found = PacsHandle.objects.filter(project=project, handle=handle).first()
    if found is None or bool(found.series_uid) != series:
        what = "series" if series else "study"
        raise NotFound(f"No such {what} in this project's PACS results (search again: results expire).")
    return found


def search_studies(project: Project, query: StudyQuery) -> list[dict]:
    connection = connection_of(source_of(project))
    found = client.search_studies(
        connection, _qido_filters(query), results.STUDY_FIELDS, query.limit, query.offset
    )
    found = [ds for ds in found if ds.get("StudyInstanceUID")]
    shown = [results.study_result(project.pk, ds) for ds in found]
    _remember(
        project, [(r["handle"], str(ds.StudyInstanceUID), "") for r, ds in zip(shown, found, strict=True)]
    )
    return shown


def imported_series(project: Project, series_uids: list[str]) -> dict[str, int]:
    """Original series UID -> the id of a series imported from it, for those already in the project."""
    origins = PacsSeriesOrigin.objects.filter(project=project, series_uid__in=series_uids).order_by(
        "series_id"
    )
    out: dict[str, int] = {}
    for origin in origins:
        out.setdefault(origin.series_uid, origin.series_id)
    return out


def importable(ds: Dataset) -> tuple[bool, str]:
    modality = str(ds.get("Modality", "") or "").upper()
    if modality in NOT_IMAGES:
        return False, f"{modality} objects hold no images to annotate."
    if modality and modality not in imports.MODALITIES:
        return False, f"Delineate does not import {modality} series."
    return True, ""


def search_series(project: Project, study_handle: str) -> list[dict]:
    study = resolve(project, study_handle, series=False)
    connection = connection_of(source_of(project))
    found = [
        ds
        for ds in client.search_series(connection, study.study_uid, results.SERIES_FIELDS)
        if ds.get("SeriesInstanceUID")
    ]
    done = imported_series(project, [str(ds.SeriesInstanceUID) for ds in found])
    shown = []
    for ds in found:
        uid = str(ds.SeriesInstanceUID)
        ok, reason = importable(ds)
        if uid in done:
            reason = "Already in the project."
        shown.append(
            results.series_result(
                project.pk, study.study_uid, ds, ok and uid not in done, reason, done.get(uid)
            )
        )
    shown.sort(key=lambda r: (r["number"] is None, r["number"] or 0))
    by_handle = {results.handle(project.pk, study.study_uid, str(ds.SeriesInstanceUID)): ds for ds in found}
    _remember(project, [(h, study.study_uid, str(ds.SeriesInstanceUID)) for h, ds in by_handle.items()])
    return shown
