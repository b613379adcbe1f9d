"""REST API for studies, series, slices, imports and jobs."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator import access, ratelimit
from annotator.actions import imports, studies, task_progress
from annotator.actions.jobs import do_cancel_job
from annotator.api.permissions import (
    IsProjectOwner,
    IsProjectOwnerOrReadOnly,
    JobView,
    ProjectView,
    SeriesView,
    StudyView,
)
from annotator.errors import InvalidInput
from annotator.imaging import volumes
from annotator.models import Job, Series, Study
from ml_worker.planes import RESLICE_VERSION

# Slices never change once imported (a new import is a new series), but access can be revoked: browsers keep
# them privately for a day and revalidate with the ETag after that.
SLICE_CACHE_CONTROL = "private, max-age=86400"


class SeriesSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="study.project_id", read_only=True)
    plane = serializers.SerializerMethodField()
    planes = serializers.SerializerMethodField()
    has_reference_labels = serializers.SerializerMethodField()
    has_originals = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    slice_url = serializers.SerializerMethodField()
    raw_slice_url = serializers.SerializerMethodField()
    reference_labels_url = serializers.SerializerMethodField()
    # Annotation progress for the project page's tiles (annotator.actions.task_progress), when listed.
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Series
        fields = [
            "id",
            "study",
            "project",
            "uid",
            "number",
            "description",
            "kind",
            "modality",
            "shape",
            "spacing",
            "affine",
            "plane",
            "planes",
            "dtype",
            "num_slices",
            "window_presets",
            "default_window",
            "intensity_range",
            "content_hash",
            "source_format",
            "import_notes",
            "has_reference_labels",
            "has_originals",
            "thumbnail_url",
            "slice_url",
            "raw_slice_url",
            "reference_labels_url",
            "progress",
            "created_at",
        ]

    def get_progress(self, series: Series) -> dict | None:
        return self.context.get("progress", {}).get(series.pk)

    def get_plane(self, series: Series) -> str:
        return series.import_notes.get("plane", "")

    @extend_schema_field(OpenApiTypes.OBJECT)  # the OpenAPI schema: a JSON object
    def get_planes(self, series: Series) -> dict[str, dict[str, object]]:
        """The planes a viewer can show (axial, coronal, sagittal of a volume) with their voxel and
        square-pixel display grids (ml_worker.planes.PlaneGrid)."""
        return {name: grid.as_json() for name, grid in volumes.plane_grids(series).items()}

    def get_has_reference_labels(self, series: Series) -> bool:
        return bool(series.reference_labels)

    def get_has_originals(self, series: Series) -> bool:
        return bool(series.originals)

    def get_thumbnail_url(self, series: Series) -> str:
        return reverse("api-series-thumbnail", args=[series.id])

    def _template(self, name: str, series: Series) -> str:
        return reverse(name, args=[series.id, 0]).replace("/0", "/{index}", 1)

    def get_slice_url(self, series: Series) -> str:
        return self._template("api-series-slice", series)

    def get_raw_slice_url(self, series: Series) -> str:
        return self._template("api-series-slice-raw", series)

    def get_reference_labels_url(self, series: Series) -> str | None:
        return self._template("api-series-reference-raw", series) if series.reference_labels else None


class StudySerializer(serializers.ModelSerializer):
    series = SeriesSerializer(many=True, read_only=True)

    class Meta:
        model = Study
        fields = [
            "id",
            "project",
            "uid",
            "description",
            "patient_pseudonym",
            "study_date",
            "source",
            "created_at",
            "series",
        ]


def job_body(job: Job) -> dict:
    return job.as_event()


class StudyListView(ProjectView):
    def get(self, request: Request, project_id: int) -> Response:
        listed = list(studies.studies_of(self.project))
        progress = task_progress.series_progress(
            request.user, self.membership, [s for study in listed for s in study.series.all()]
        )
        return Response(StudySerializer(listed, many=True, context={"progress": progress}).data)


class StudyDetailView(StudyView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, study_id: int) -> Response:
        return Response(StudySerializer(self.study).data)

    def delete(self, request: Request, study_id: int) -> Response:
        studies.do_delete_study(self.study)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SeriesDetailView(SeriesView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, series_id: int) -> Response:
        return Response(SeriesSerializer(self.series).data)

    def delete(self, request: Request, series_id: int) -> Response:
        studies.do_delete_series(self.series)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _not_modified(request: Request, etag: str) -> HttpResponse | None:
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
        response["ETag"] = etag
        response["Cache-Control"] = SLICE_CACHE_CONTROL
        return response
    return None


class SliceView(SeriesView):
    """GET a slice as an 8-bit PNG: ?axis=z|y|x, and ?window=<preset> or ?level=..&width=.."""

    def get(self, request: Request, series_id: int, index: int) -> HttpResponse:
        series = self.series
        params = request.query_params
        axis = studies.check_plane(series, params.get("axis"), index)
        window = studies.check_window(series, params.get("window"), params.get("level"), params.get("width"))
        etag = studies.slice_etag(series, "png", axis, index, window.level, window.width)
        if (cached := _not_modified(request, etag)) is not None:
            return cached
        response = HttpResponse(
            studies.render_slice_png(series, axis, index, window), content_type="image/png"
        )
        response["ETag"] = etag
        response["Cache-Control"] = SLICE_CACHE_CONTROL
        response["X-Window"] = window.name
        return response


class RawSliceView(SeriesView):
    """GET a slice's intensities: little-endian bytes, C order; X-Shape "rows,cols[,3]", X-Dtype.

    ``?axis=z|y|x`` reformats on the stored voxel grid; ``?plane=axial|coronal|sagittal`` resamples the plane
    to square pixels (``ml_worker.planes``: linear for intensities, nearest for reference labels)."""

    labels = False

    def get(self, request: Request, series_id: int, index: int) -> HttpResponse:
        series = self.series
        params = request.query_params
        kind = "labels" if self.labels else "image"
        if plane := params.get("plane"):
            plane = studies.check_resliced(series, plane, params.get("axis"), index)
            etag = studies.slice_etag(series, "raw", kind, "plane", plane, RESLICE_VERSION, index)
        else:
            axis = studies.check_plane(series, params.get("axis"), index)
            etag = studies.slice_etag(series, "raw", kind, axis, index)
        if (cached := _not_modified(request, etag)) is not None:
            return cached
        if plane:
            data, dtype, shape = studies.raw_plane(series, plane, index, labels=self.labels)
        else:
            data, dtype, shape = studies.raw_slice(series, axis, index, labels=self.labels)
        response = HttpResponse(data, content_type="application/octet-stream")
        response["X-Shape"] = ",".join(str(v) for v in shape)
        response["X-Dtype"] = dtype
        response["ETag"] = etag
        response["Cache-Control"] = SLICE_CACHE_CONTROL
        response["Access-Control-Expose-Headers"] = "X-Shape, X-Dtype"
        return response


class ReferenceRawSliceView(RawSliceView):
    labels = True


class ThumbnailView(SeriesView):
    def get(self, request: Request, series_id: int) -> HttpResponse:
        series = self.series
        etag = studies.slice_etag(series, "thumbnail")
        if (cached := _not_modified(request, etag)) is not None:
            return cached
        with series.thumbnail.open("rb") as handle:
            response = HttpResponse(handle.read(), content_type="image/png")
        response["ETag"] = etag
        response["Cache-Control"] = SLICE_CACHE_CONTROL
        return response


class ImportView(ProjectView):
    """POST multipart: ``files`` (repeat for many; zips allowed), optional ``reference_labels`` (one NIfTI or
    NRRD label map for a single-image upload) and ``modality`` (for NIfTI/NRRD/images).
    201 with the finished job and its series, or 202 with a pending job to follow; either way ``refused``
    lists the files not imported, ``{"file", "reason"}`` each. When no file can be imported: the error of
    the one refused file, or 400 (the status they share, if any) naming them, ``details.refused`` all."""

    permission_classes = [IsProjectOwner]

    def post(self, request: Request, project_id: int) -> Response:
        ratelimit.check_upload(access.signed_in(request.user).pk)
        length = request.META.get("CONTENT_LENGTH")
        imports.check_upload_size([], int(length) if length and length.isdigit() else None)
        files = request.FILES.getlist("files") + request.FILES.getlist("file")
        reference = request.FILES.get("reference_labels")
        imports.check_upload_size([f.size for f in files] + ([reference.size] if reference else []))
        if not files:
            raise InvalidInput("No files were uploaded: send them as multipart form field 'files'.")
        job, refused = imports.do_import_partial(
            request.user,
            self.project,
            [(f.name, f) for f in files],
            reference_labels=(reference.name, reference) if reference else None,
            modality=(request.data.get("modality") if isinstance(request.data, dict) else None) or None,
        )
        # Each refused file as the uploader named it: this answer only, never stored (importing/refusals.py).
        body: dict = {"job": job_body(job), "refused": [r.as_dict() for r in refused]}
        if job.state == Job.State.DONE:
            series = Series.objects.filter(pk__in=job.result.get("series", [])).select_related("study")
            body["series"] = SeriesSerializer(series, many=True).data
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body, status=status.HTTP_202_ACCEPTED)


class JobDetailView(JobView):
    def get(self, request: Request, job_id: int) -> Response:
        return Response(job_body(self.job))


class JobCancelView(JobView):
    def post(self, request: Request, job_id: int) -> Response:
        return Response(job_body(do_cancel_job(request.user, job_id)))


class ProjectJobsView(ProjectView):
    def get(self, request: Request, project_id: int) -> Response:
        jobs = studies.jobs_of(self.project, kind=request.query_params.get("kind"))
        return Response([job_body(job) for job in jobs])
