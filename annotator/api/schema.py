"""The OpenAPI schema's shared parts: the one error body every endpoint answers with (annotator/api/errors.py)
added to each operation for the error statuses the API uses."""

from __future__ import annotations

from typing import Any

ERROR_BODY = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}
# 400 bad input, 403 role or CSRF or not signed in, 404 not there (or not yours), 405 method, 409 conflict,
# 410 gone, 413 too large, 415 unsupported file, 429 rate limited, 502/503 a server behind (PACS, database).
ERROR_STATUSES = {
    "400": "Invalid input",
    "403": "Not allowed (role, sign-in or CSRF token)",
    "404": "Not found, or not visible to you",
    "405": "Method not allowed",
    "409": "Conflict with the current state",
    "410": "Gone",
    "413": "Too large",
    "415": "Unsupported file type",
    "429": "Rate limited (see Retry-After)",
    "502": "A server Delineate talks to failed",
    "503": "Busy (the database is locked for longer than its timeout)",
}


def error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation documents the error body for the error statuses."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_BODY
    reference = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                # <int:...> in a URL matches digits only, and ids are 64-bit database keys
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"].update(minimum=0, maximum=2**63 - 1)
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": reference}}},
                )
    return result


# -- what each view takes and answers (one line per operation), applied to the views by ``describe_views`` -----


def describe_views() -> None:
    """Attach the request and response of every API operation to its view (drf-spectacular's extend_schema),
    here in one table rather than spread over the view modules; tests/test_api_schema.py checks that the
    generated schema has no operation left undescribed."""
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
    from pydantic import BaseModel, RootModel
    from rest_framework import serializers

    from annotator.actions import exports as export_actions
    from annotator.actions import pacs as pacs_actions
    from annotator.actions import pacs_import, pacs_stow
    from annotator.api import (
        exports,
        labels,
        masks,
        members,
        model_versions,
        pacs,
        review,
        studies,
        tasks,
        timing,
        views,
    )
    from annotator.api.serializers import LabelSerializer, ProjectCreateSerializer, ProjectSerializer
    from annotator.messages import JobState, RevisionSummary
    from annotator.messages_al import ModelVersionInfo
    from annotator.messages_review import CommentInfo
    from annotator.timing.schema import EventBatch

    class RevisionList(RootModel[list[RevisionSummary]]):
        pass

    class JobList(RootModel[list[JobState]]):
        pass

    class CommentList(RootModel[list[CommentInfo]]):
        pass

    class ModelVersions(BaseModel):  # annotator/api/model_versions.py versions_body
        versions: list[ModelVersionInfo]
        active: int | None
        training: JobState | None
        settings: dict[str, Any]

    class TimingStudySummary(BaseModel):  # annotator/api/timing.py study_summary
        id: int
        name: str
        simulated: bool
        model_version: str
        seed: int
        washout: int
        instructions: str
        design: dict[str, Any]
        created_at: str
        cases: int
        participants: int

    class TimingStudyList(RootModel[list[TimingStudySummary]]):
        pass

    class ModelVersionTimes(RootModel[list[dict[str, Any]]]):  # timing_report.model_version_dashboard
        pass

    OBJECT, BINARY = OpenApiTypes.OBJECT, OpenApiTypes.BINARY
    PNG, OCTETS, ZIP, CSV = "image/png", "application/octet-stream", "application/zip", "text/csv"

    def wrap(name: str, **fields: Any) -> type[serializers.Serializer]:
        return type(name, (serializers.Serializer,), fields)

    job = wrap("JobBody", job=serializers.JSONField())
    revision = wrap("RevisionBody", revision=serializers.JSONField())
    upload = wrap(
        "ImportUpload",
        files=serializers.ListField(child=serializers.FileField()),
        reference_labels=serializers.FileField(required=False),
        modality=serializers.CharField(required=False),
    )
    reference = wrap("ReferenceUpload", file=serializers.FileField())
    mask_heads = wrap(
        "MaskHead",
        label_id=serializers.IntegerField(),
        annotator=serializers.CharField(allow_null=True),
        track=serializers.CharField(),
        head=serializers.JSONField(),
    )
    slice_params = [
        OpenApiParameter("axis", str, enum=["z", "y", "x"]),
        OpenApiParameter("window", str),
        OpenApiParameter("level", float),
        OpenApiParameter("width", float),
    ]
    track_params = [
        OpenApiParameter("annotator", str, description="whose mask (default: your own)"),
        OpenApiParameter("track", str, enum=["consensus"]),
        OpenApiParameter("revision", int),
    ]
    pacs_query = [
        OpenApiParameter(name, int if name in ("limit", "offset") else str)
        for name in pacs_actions.StudyQuery.model_fields
    ]
    stored = wrap("StoredEvents", stored=serializers.IntegerField(), duplicates=serializers.IntegerField())
    beacon = wrap(
        "EventBeacon", payload=serializers.CharField(help_text="an EventBatch as JSON (sendBeacon)")
    )
    series_timing = [
        OpenApiParameter("assignment", int, description="one case's work only"),
        OpenApiParameter("exclude_session", str, description="leave out this viewer session"),
    ]
    timing_csv = OpenApiParameter("what", str, OpenApiParameter.PATH, enum=["tasks", "masks"])
    action = OpenApiParameter(
        "action", str, OpenApiParameter.PATH, enum=["start", "submit", "approve", "send_back"]
    )

    def op(request: Any = None, responses: Any = OBJECT, **kwargs: Any) -> Any:
        return extend_schema(request=request, responses=responses, **kwargs)

    table: dict[type, dict[str, Any]] = {
        views.ProjectListView: {
            "get": op(responses=ProjectSerializer(many=True)),
            "post": op(ProjectCreateSerializer, {201: ProjectSerializer}),
        },
        views.ProjectDetailView: {
            "get": op(responses=ProjectSerializer),
            "patch": op(views.ProjectUpdateBody, ProjectSerializer),
        },
        views.WindowPresetsView: {"get": op()},
        labels.LabelListView: {"post": op(labels.NewLabelBody, {201: LabelSerializer})},
        labels.LabelOrderView: {"post": op(labels.OrderBody, LabelSerializer(many=True))},
        labels.LabelDetailView: {
            "patch": op(labels.EditLabelBody, LabelSerializer),
            "delete": op(labels.RemoveBody),
        },
        masks.SeriesMasksView: {"get": op(responses=mask_heads(many=True), operation_id="series_masks_list")},
        masks.LabelMaskView: {"get": op(parameters=track_params)},
        masks.RevisionListView: {
            "get": op(responses=RevisionList, parameters=track_params[:2]),
            "post": op(masks.SaveRevisionBody, {201: revision}),
        },
        masks.RestoreRevisionView: {"post": op(masks.RestoreBody, {201: revision})},
        studies.StudyListView: {"get": op(responses=studies.StudySerializer(many=True))},
        studies.StudyDetailView: {
            "get": op(responses=studies.StudySerializer),
            "delete": op(responses={204: None}),
        },
        studies.SeriesDetailView: {
            "get": op(responses=studies.SeriesSerializer),
            "delete": op(responses={204: None}),
        },
        studies.SliceView: {"get": op(responses={(200, PNG): BINARY, 304: None}, parameters=slice_params)},
        studies.RawSliceView: {
            "get": op(responses={(200, OCTETS): BINARY, 304: None}, parameters=slice_params[:1])
        },
        studies.ReferenceRawSliceView: {
            "get": op(responses={(200, OCTETS): BINARY, 304: None}, parameters=slice_params[:1])
        },
        studies.ThumbnailView: {"get": op(responses={(200, PNG): BINARY, 304: None})},
        studies.ImportView: {"post": op({"multipart/form-data": upload}, {201: OBJECT, 202: OBJECT})},
        studies.JobDetailView: {"get": op(responses=JobState)},
        studies.JobCancelView: {"post": op(responses=JobState)},
        studies.ProjectJobsView: {"get": op(responses=JobList, parameters=[OpenApiParameter("kind", str)])},
        members.MemberListView: {"get": op(responses=members.MemberSerializer(many=True))},
        members.MemberDetailView: {
            "patch": op(members.RoleSerializer, members.MemberSerializer),
            "delete": op(responses={204: None}),
        },
        members.ProjectInvitationsView: {
            "get": op(responses=members.InvitationSerializer(many=True)),
            "post": op(members.InviteSerializer, {201: members.InvitationSerializer}),
        },
        members.ProjectInvitationDetailView: {"delete": op(responses=members.InvitationSerializer)},
        members.MyInvitationsView: {"get": op(responses=members.InvitationSerializer(many=True))},
        members.AnswerInvitationView: {"post": op(responses=members.InvitationSerializer)},
        members.DeclineInvitationView: {"post": op(responses=members.InvitationSerializer)},
        tasks.TaskListView: {
            "get": op(
                responses=tasks.TaskSerializer(many=True), parameters=[OpenApiParameter("series", int)]
            ),
            "post": op(tasks.TaskCreateSerializer, {201: tasks.TaskSerializer(many=True)}),
        },
        tasks.TaskDetailView: {
            "get": op(responses=tasks.TaskSerializer),
            "delete": op(responses={204: None}),
        },
        tasks.TaskAssignView: {"post": op(tasks.AnnotatorsSerializer, tasks.AssignmentSerializer(many=True))},
        tasks.AssignmentDetailView: {"patch": op(tasks.ReassignSerializer)},
        tasks.AssignmentActionView: {
            "post": op(tasks.CommentSerializer, tasks.AssignmentSerializer, parameters=[action])
        },
        tasks.ReviewQueueView: {
            "get": op(
                responses=tasks.AssignmentSerializer(many=True), parameters=[OpenApiParameter("state", str)]
            )
        },
        tasks.QueueView: {"get": op()},
        tasks.NextCaseView: {"post": op()},
        tasks.ProgressView: {"get": op()},
        review.CaseView: {"get": op()},
        review.CommentListView: {
            "get": op(responses=CommentList),
            "post": op(review.CommentBody, {201: CommentInfo}),
        },
        review.RequestChangesView: {"post": op(review.CommentBody)},
        review.CommentDetailView: {"patch": op(review.ResolveBody, CommentInfo)},
        review.TaskReviewView: {"get": op()},
        review.AgreementView: {"get": op()},
        review.ConsensusView: {"post": op(review.ConsensusBody, {201: revision})},
        exports.ExportListView: {"post": op(export_actions.ExportRequest, {202: job})},
        exports.ExportDownloadView: {"get": op(responses={(200, ZIP): BINARY})},
        exports.ReferenceLabelsView: {"post": op({"multipart/form-data": reference}, {201: OBJECT})},
        pacs.SourceView: {
            "get": op(),
            "put": op(pacs_actions.SourceSettings),
            "delete": op(responses={204: None}),
        },
        pacs.SourceTestView: {"post": op()},
        pacs.StudySearchView: {"get": op(parameters=pacs_query)},
        pacs.SeriesSearchView: {"get": op()},
        pacs.PacsImportView: {"post": op(pacs_import.ImportRequest, {202: job})},
        pacs.PacsExportView: {"post": op(pacs_stow.StowRequest, {202: job})},
        model_versions.ModelVersionListView: {"get": op(responses=ModelVersions)},
        model_versions.TrainView: {"post": op(responses={202: job})},
        model_versions.PromoteView: {"post": op(responses=ModelVersions)},
        model_versions.RejectView: {"post": op(responses=ModelVersions)},
        model_versions.RollbackView: {"post": op(responses=ModelVersions)},
        model_versions.ActiveLearningSettingsView: {
            "get": op(),
            "patch": op(model_versions.SettingsBody),
        },
        model_versions.QueueScoresView: {"post": op(responses={202: job})},
        timing.InteractionsView: {
            "post": op({"application/json": EventBatch, "application/x-www-form-urlencoded": beacon}, stored)
        },
        timing.SeriesTimingView: {"get": op(parameters=series_timing)},
        timing.TimingSettingsView: {"get": op(), "put": op(timing.TimingSettingsBody)},
        timing.TimingCsvView: {"get": op(responses={(200, CSV): OpenApiTypes.STR}, parameters=[timing_csv])},
        timing.ModelVersionDashboardView: {"get": op(responses=ModelVersionTimes)},
        timing.StudyListView: {
            "get": op(responses=TimingStudyList),
            "post": op(timing.StudyBody, {201: TimingStudySummary}),
        },
        timing.StudyDetailView: {"get": op()},
        timing.MyStudyTasksView: {"get": op()},
        timing.StartNextView: {"post": op()},
        # one view for report/ (JSON) and report.csv
        timing.StudyReportView: {
            "get": op(responses={(200, "application/json"): OBJECT, (200, CSV): OpenApiTypes.STR})
        },
        timing.AssignmentStudyView: {"get": op()},
    }
    for view, operations in table.items():
        extend_schema_view(**operations)(view)
