"""REST endpoints of a project's PACS (owners only): the DICOMweb source, searches, imports, sending SEGs."""

from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.actions import pacs, pacs_import, pacs_stow
from annotator.api.masks import parse
from annotator.api.permissions import IsProjectOwner, ProjectView
from annotator.models import DicomWebSource


def source_body(source: DicomWebSource | None) -> dict:
    """The source as the browser sees it: whether a secret is set, never the secret."""
    if source is None:
        return {"configured": False}
    return {
        "configured": True,
        "base_url": source.base_url,
        "auth": source.auth,
        "username": source.username,
        "has_secret": bool(source.secret),
        "updated_at": source.updated_at.isoformat(),
        "updated_by": source.updated_by.get_username() if source.updated_by else None,
    }


class OwnerView(ProjectView):
    """The PACS belongs to the owners: its settings, searches (which reach patient records) and transfers."""

    permission_classes = [IsProjectOwner]


class SourceView(OwnerView):
    """GET the project's DICOMweb source; PUT {base_url, auth, username?, secret?} checks and saves it (a
    missing secret keeps the stored one); DELETE forgets it."""

    def get(self, request: Request, project_id: int) -> Response:
        return Response(source_body(pacs.current_source(self.project)))

    def put(self, request: Request, project_id: int) -> Response:
        body = parse(pacs.SourceSettings, request.data)
        return Response(source_body(pacs.do_configure_source(request.user, self.project, body)))

    def delete(self, request: Request, project_id: int) -> Response:
        pacs.do_remove_source(request.user, self.project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourceTestView(OwnerView):
    def post(self, request: Request, project_id: int) -> Response:
        return Response(pacs.test_source(self.project))


class StudySearchView(OwnerView):
    """GET ?modality=&date_from=&date_to=&accession=&limit=&offset= → de-identified study results."""

    def get(self, request: Request, project_id: int) -> Response:
        query = parse(pacs.StudyQuery, {k: v for k, v in request.query_params.items() if v != ""})
        return Response({"studies": pacs.search_studies(self.project, query)})


class SeriesSearchView(OwnerView):
    def get(self, request: Request, project_id: int, handle: str) -> Response:
        return Response({"series": pacs.search_series(self.project, handle)})


class PacsImportView(OwnerView):
    """POST {"series": [handles]} → 202 with the job that retrieves and imports them."""

    def post(self, request: Request, project_id: int) -> Response:
        body = parse(pacs_import.ImportRequest, request.data)
        job = pacs_import.do_start_import(request.user, self.project, body)
        return Response({"job": job.as_event()}, status=status.HTTP_202_ACCEPTED)


class PacsExportView(OwnerView):
    """POST {"series": [ids]?, "annotator": username?} → 202 with the job that sends the SEGs (STOW-RS)."""

    def post(self, request: Request, project_id: int) -> Response:
        body = parse(pacs_stow.StowRequest, request.data)
        job = pacs_stow.do_start_stow(request.user, self.project, body)
        return Response({"job": job.as_event()}, status=status.HTTP_202_ACCEPTED)
