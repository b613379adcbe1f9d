"""REST endpoints of a project's PACS (owners only): the DICOMweb source, searches, imports, sending SEGs."""

from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import access
from annotator.actions import pacs, pacs_stow
from annotator.api.masks import parse
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


class SourceView(APIView):
    """GET the project's DICOMweb source; PUT {base_url, auth, username?, secret?} checks and saves it (a
    missing secret keeps the stored one); DELETE forgets it."""

    def get(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id, roles=access.OWNER_ONLY)
        return Response(source_body(pacs.current_source(project)))

    def put(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id, roles=access.OWNER_ONLY)
        body = parse(pacs.SourceSettings, request.data)
        return Response(source_body(pacs.do_configure_source(request.user, project, body)))

    def delete(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id, roles=access.OWNER_ONLY)
        pacs.do_remove_source(request.user, project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourceTestView(APIView):
    def post(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id, roles=access.OWNER_ONLY)
        return Response(pacs.test_source(project))


class StudySearchView(APIView):
    """GET ?modality=&date_from=&date_to=&accession=&limit=&offset= → de-identified study results."""

    def get(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id, roles=access.OWNER_ONLY)
        query = parse(pacs.StudyQuery, {k: v for k, v in request.query_params.items() if v != ""})
        return Response({"studies": pacs.search_studies(project, query)})


class SeriesSearchView(APIView):
    def get(self, request: Request, project_id: int, handle: str) -> Response:
        project = access.get_project(request.user, project_id, roles=access.OWNER_ONLY)
        return Response({"series": pacs.search_series(project, handle)})


class PacsImportView(APIView):
    """POST {"series": [handles]} → 202 with the job that retrieves and imports them."""

    def post(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id, roles=access.OWNER_ONLY)
        body = parse(pacs.ImportRequest, request.data)
        job = pacs.do_start_import(request.user, project, body)
        return Response({"job": job.as_event()}, status=status.HTTP_202_ACCEPTED)


class PacsExportView(APIView):
    """POST {"series": [ids]?, "annotator": username?} → 202 with the job that sends the SEGs (STOW-RS)."""

    def post(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id, roles=access.OWNER_ONLY)
        body = parse(pacs_stow.StowRequest, request.data)
        job = pacs_stow.do_start_stow(request.user, project, body)
        return Response({"job": job.as_event()}, status=status.HTTP_202_ACCEPTED)
