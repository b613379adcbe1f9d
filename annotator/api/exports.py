"""REST endpoints for exports (start, download) and for importing masks as a series' reference labels."""

from __future__ import annotations

from django.http import FileResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator import access, ratelimit
from annotator.actions import exports, imports
from annotator.api.masks import parse
from annotator.api.permissions import ExportView, IsProjectOwner, ProjectView, SeriesView
from annotator.api.studies import SeriesSerializer
from annotator.errors import InvalidInput
from annotator.imaging.volumes import load_reference_labels


class ExportListView(ProjectView):
    """POST {"format": "nifti"|"dicom-seg"|"png"|"coco", "series": [ids]?, "annotator": username?} → 202."""

    def post(self, request: Request, project_id: int) -> Response:
        body = parse(exports.ExportRequest, request.data)
        job = exports.do_start_export(request.user, self.project, body)
        return Response({"job": job.as_event()}, status=status.HTTP_202_ACCEPTED)


class ExportDownloadView(ExportView):
    def get(self, request: Request, job_id: int) -> FileResponse:
        handle, filename = exports.export_file(self.job)
        return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/zip")


class ReferenceLabelsView(SeriesView):
    """POST multipart ``file``: a mask file on the series' grid becomes its reference label map → 201."""

    permission_classes = [IsProjectOwner]

    def post(self, request: Request, series_id: int) -> Response:
        ratelimit.check_upload(access.signed_in(request.user).pk)
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("No file was uploaded: send it as multipart form field 'file'.")
        imports.check_reference_upload(upload.size)
        series = imports.do_import_reference_labels(request.user, self.series, upload.name, upload)
        labels = load_reference_labels(series)
        assert labels is not None  # just stored by do_import_reference_labels
        return Response(
            {"series": SeriesSerializer(series).data, "labels": imports.reference_summary(labels)},
            status=status.HTTP_201_CREATED,
        )
