"""REST API of annotation time (issue 12): the interaction log (JSON from the viewer, or a form post from
``navigator.sendBeacon`` on pagehide), active time per series and label, the project's idle threshold,
CSV exports, the model-version dashboard, timing studies (design, a participant's tasks in order, the
report in JSON and CSV)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from django.http import HttpResponse
from django.urls import path
from pydantic import BaseModel, Field, ValidationError
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import access
from annotator.actions import interactions, timing_exports, timing_report, user_studies
from annotator.api.permissions import (
    AssignmentView,
    CanReview,
    IsProjectMember,
    IsProjectOwner,
    IsProjectOwnerOrReadOnly,
    ProjectView,
    ScopedView,
    SeriesView,
)
from annotator.errors import InvalidInput
from annotator.models import Membership, TimingStudy
from annotator.timing.schema import EventBatch, Id

BEACON_FIELD = "payload"
Body = TypeVar("Body", bound=BaseModel)


def parse(schema: type[Body], data: Any) -> Body:
    """``data`` validated by ``schema``, or InvalidInput naming the first problem and where (the details
    carry no exception objects, so they stay JSON)."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise InvalidInput(f"{where}: {first['msg']}", details={"errors": errors}) from exc


class InteractionsView(APIView):
    """POST a batch of interaction events: ``{"session", "events"}`` as JSON, or, from sendBeacon, as the
    form field ``payload`` beside ``csrfmiddlewaretoken`` (a beacon cannot set headers; Django's CSRF check
    reads the token from the form)."""

    parser_classes = [JSONParser, FormParser]

    def post(self, request: Request) -> Response:
        data = request.data
        beacon = data.get(BEACON_FIELD) if isinstance(data, dict) else None
        if isinstance(beacon, str):
            try:
                raw: Any = json.loads(beacon)
            except ValueError as exc:
                raise InvalidInput("The beacon's payload is not JSON.") from exc
            transport = "beacon"
        else:
            raw, transport = data, "rest"
        batch = parse(EventBatch, raw)
        result = interactions.do_record_events(request.user, batch.session, batch.events, transport)
        return Response({"stored": result.stored, "duplicates": result.duplicates})


class SeriesTimingView(SeriesView):
    """The caller's active time per label on the series (``?assignment=`` for one task's work only,
    ``?exclude_session=`` to leave out the asking viewer's own session)."""

    def get(self, request: Request, series_id: int) -> Response:
        assignment = request.query_params.get("assignment")
        if assignment is not None and not assignment.isdigit():
            raise InvalidInput("assignment must be an id.")
        if assignment is not None:
            access.get_assignment_on_series(request.user, int(assignment), self.series.pk)
        return Response(
            interactions.series_timing(
                request.user,
                self.series,
                int(assignment) if assignment else None,
                exclude_session=request.query_params.get("exclude_session", ""),
            )
        )


class TimingSettingsBody(BaseModel):
    idle_threshold_s: float


class TimingSettingsView(ProjectView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, project_id: int) -> Response:
        return Response(
            {
                "idle_threshold_s": interactions.idle_ms(self.project) / 1000.0,
                "serving_model_version": user_studies.serving_model_version(),
            }
        )

    def put(self, request: Request, project_id: int) -> Response:
        body = parse(TimingSettingsBody, request.data)
        project = interactions.do_set_idle_threshold(self.project, body.idle_threshold_s)
        return Response({"idle_threshold_s": interactions.idle_ms(project) / 1000.0})


def csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class TimingCsvView(ProjectView):
    """``tasks.csv`` (every assignment) or ``masks.csv`` (every saved mask) with active time."""

    permission_classes = [CanReview]

    def get(self, request: Request, project_id: int, what: str) -> HttpResponse:
        build = {"tasks": timing_exports.tasks_csv, "masks": timing_exports.masks_csv}.get(what)
        if build is None:
            raise InvalidInput("Ask for tasks.csv or masks.csv.")
        return csv_response(build(self.project), f"project-{project_id}-{what}-time.csv")


class ModelVersionDashboardView(ProjectView):
    permission_classes = [CanReview]

    def get(self, request: Request, project_id: int) -> Response:
        return Response(timing_report.model_version_dashboard(self.project))


# -- timing studies ----------------------------------------------------------------------------------------


class CaseBody(BaseModel):
    series: Id
    label: Id


class StudyBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    cases: list[CaseBody] = Field(min_length=1, max_length=user_studies.MAX_CASES)
    participants: list[Id] = Field(min_length=2, max_length=user_studies.MAX_PARTICIPANTS)
    seed: int | None = Field(default=None, ge=0, le=2**62)
    washout: int = Field(default=1, ge=0, le=20)
    instructions: str = Field(default="", max_length=5000)
    model_version: str = Field(default="", max_length=100)


def study_summary(study: TimingStudy) -> dict[str, Any]:
    return {
        "id": study.pk,
        "name": study.name,
        "simulated": study.simulated,
        "model_version": study.model_version,
        "seed": study.seed,
        "washout": study.washout,
        "instructions": study.instructions,
        "design": study.design,
        "created_at": study.created_at.isoformat(),
        "cases": study.cases.count(),
        "participants": study.study_tasks.values("participant").distinct().count(),
    }


class StudyListView(ProjectView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, project_id: int) -> Response:
        studies = user_studies.studies_for(request.user, self.membership)
        return Response([study_summary(s) for s in studies])

    def post(self, request: Request, project_id: int) -> Response:
        body = parse(StudyBody, request.data)
        study = user_studies.do_create_study(
            request.user,
            self.project,
            user_studies.StudyRequest(
                name=body.name,
                cases=[(c.series, c.label) for c in body.cases],
                participants=body.participants,
                seed=body.seed,
                washout=body.washout,
                instructions=body.instructions,
                model_version=body.model_version,
            ),
        )
        return Response(study_summary(study), status=status.HTTP_201_CREATED)


class TimingStudyView(ScopedView):
    permission_classes = [IsProjectMember]
    study: TimingStudy

    def resolve(self) -> Membership:
        self.study, membership = access.timing_study_with_membership(
            self.request.user, self.kwargs["study_id"]
        )
        return membership


class StudyDetailView(TimingStudyView):
    permission_classes = [IsProjectOwner]

    def get(self, request: Request, study_id: int) -> Response:
        runs = []
        for participant in {t.participant for t in self.study.study_tasks.select_related("participant")}:
            for run in user_studies.runs_summary(user_studies.sequence(self.study, participant)):
                runs.append({**run, "participant": participant.get_username()})
        runs.sort(key=lambda r: (r["participant"], r["position"]))
        return Response({**study_summary(self.study), "runs": runs})


class MyStudyTasksView(TimingStudyView):
    """A participant's tasks in their order, with the study's instructions."""

    def get(self, request: Request, study_id: int) -> Response:
        runs = user_studies.check_participant(request.user, self.study)
        return Response(
            {
                "id": self.study.pk,
                "name": self.study.name,
                "instructions": self.study.instructions,
                "project": self.study.project_id,
                "tasks": user_studies.runs_summary(runs),
            }
        )


class StartNextView(TimingStudyView):
    def post(self, request: Request, study_id: int) -> Response:
        run = user_studies.do_start_next(request.user, self.membership, self.study)
        if run is None:
            return Response({"task": None, "viewer_url": None})
        (task,) = user_studies.runs_summary([run])
        return Response(
            {"task": task, "viewer_url": f"/series/{run.case.series_id}/?assignment={run.assignment_id}"}
        )


class StudyReportView(TimingStudyView):
    permission_classes = [CanReview]

    def get(self, request: Request, study_id: int, fmt: str = "json") -> Response | HttpResponse:
        if fmt == "csv":
            return csv_response(timing_exports.study_csv(self.study), f"timing-study-{study_id}.csv")
        return Response(timing_report.study_report(self.study))


class AssignmentStudyView(AssignmentView):
    """For the viewer opened on ``?assignment=``: the study task it is, if any (condition, step, total);
    for the assignment's annotator, or a reviewer or owner of its project."""

    def get(self, request: Request, assignment_id: int) -> Response:
        assignment = access.get_assignment_on_series(
            request.user, assignment_id, self.assignment.task.series_id
        )
        run = user_studies.study_task_of(assignment_id)
        if run is None:
            return Response({"study_task": None})
        total = run.study.study_tasks.filter(participant_id=run.participant_id).count()
        return Response(
            {
                "study_task": run.pk,
                "study": run.study_id,
                "study_name": run.study.name,
                "project": run.study.project_id,
                "condition": run.condition,
                "model_version": run.model_version,
                "position": run.position,
                "total": total,
                "state": assignment.state,
                "instructions": run.study.instructions,
                "mine": assignment.annotator_id == request.user.pk,
            }
        )


urlpatterns = [
    path("interactions/", InteractionsView.as_view(), name="api-interactions"),
    path("series/<int:series_id>/timing/", SeriesTimingView.as_view(), name="api-series-timing"),
    path("projects/<int:project_id>/timing/", TimingSettingsView.as_view(), name="api-timing-settings"),
    path("projects/<int:project_id>/timing/<str:what>.csv", TimingCsvView.as_view(), name="api-timing-csv"),
    path(
        "projects/<int:project_id>/timing/model-versions/",
        ModelVersionDashboardView.as_view(),
        name="api-timing-model-versions",
    ),
    path("projects/<int:project_id>/timing-studies/", StudyListView.as_view(), name="api-timing-studies"),
    path("timing-studies/<int:study_id>/", StudyDetailView.as_view(), name="api-timing-study"),
    path("timing-studies/<int:study_id>/mine/", MyStudyTasksView.as_view(), name="api-timing-study-mine"),
    path("timing-studies/<int:study_id>/next/", StartNextView.as_view(), name="api-timing-study-next"),
    path("timing-studies/<int:study_id>/report/", StudyReportView.as_view(), name="api-timing-report"),
    path(
        "timing-studies/<int:study_id>/report.csv",
        StudyReportView.as_view(),
        {"fmt": "csv"},
        name="api-timing-report-csv",
    ),
    path(
        "timing-studies/by-assignment/<int:assignment_id>/",
        AssignmentStudyView.as_view(),
        name="api-timing-assignment",
    ),
]
