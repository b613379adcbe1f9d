"""REST API of the review: a case with its comments, comments pinned to a slice and a position, what a
reviewer sees of a task (every annotator's masks), agreement between annotators and their consensus."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.actions import masks, review, task_progress
from annotator.api.masks import parse
from annotator.api.permissions import CanReview, CaseScopedView, CommentScopedView, TaskView
from annotator.api.tasks import AssignmentSerializer, TaskSerializer
from annotator.models import Assignment, ReviewComment


class CommentBody(BaseModel):
    """A comment; pinned with ``slice_index``, ``x`` and ``y`` (image pixels), all or none."""

    text: str = Field(default="", max_length=10_000)
    label: int | None = None
    slice_index: int | None = Field(default=None, ge=0)
    x: float | None = None
    y: float | None = None

    def request(self) -> review.CommentRequest:
        return review.CommentRequest(self.text, self.label, self.slice_index, self.x, self.y)


class ResolveBody(BaseModel):
    resolved: bool = True


class ConsensusBody(BaseModel):
    label: int
    method: Literal["majority", "staple"] = "majority"


def comment_body(comment: ReviewComment) -> dict[str, Any]:
    return review.comment_info(comment).model_dump(mode="json")


def assignment_body(assignment: Assignment) -> dict[str, Any]:
    """A case as its annotator or a reviewer sees it: the assignment, its task and its comments."""
    task = assignment.task
    progress = task_progress.assignment_progress([assignment])
    return {
        "assignment": AssignmentSerializer(assignment, context={"progress": progress}).data,
        "task": {
            "id": task.pk,
            "project": task.project_id,
            "series": task.series_id,
            "labels": [label.pk for label in task.labels.all()],
            "instructions": task.instructions,
            "priority": task.priority,
        },
        "comments": [comment_body(c) for c in review.comments_of(assignment)],
    }


class CaseView(CaseScopedView):
    """GET /api/assignments/{id}/case/: the case with its task and comments (its annotator, reviewers and
    owners; anyone else gets 404)."""

    def get(self, request: Request, assignment_id: int) -> Response:
        return Response(assignment_body(self.assignment))


class CommentListView(CaseScopedView):
    def get(self, request: Request, assignment_id: int) -> Response:
        return Response([comment_body(c) for c in review.comments_of(self.assignment)])

    def post(self, request: Request, assignment_id: int) -> Response:
        body = parse(CommentBody, request.data)
        comment = review.do_comment(request.user, self.membership, self.assignment, body.request())
        return Response(comment_body(comment), status=status.HTTP_201_CREATED)


class RequestChangesView(CaseScopedView):
    """POST /api/assignments/{id}/request_changes/ {text, slice_index, x, y, label}: send a submitted case
    back with a comment pinned where the fix is needed."""

    def post(self, request: Request, assignment_id: int) -> Response:
        body = parse(CommentBody, request.data)
        returned, comment = review.do_request_changes(
            request.user, self.membership, self.assignment, body.request()
        )
        return Response({"assignment": AssignmentSerializer(returned).data, "comment": comment_body(comment)})


class CommentDetailView(CommentScopedView):
    def patch(self, request: Request, comment_id: int) -> Response:
        body = parse(ResolveBody, request.data)
        return Response(comment_body(review.do_resolve_comment(request.user, self.comment, body.resolved)))


class TaskReviewView(TaskView):
    permission_classes = [CanReview]

    def get(self, request: Request, task_id: int) -> Response:
        return Response({**review.review_of(self.task), "details": TaskSerializer(self.task).data})


class AgreementView(TaskView):
    permission_classes = [CanReview]

    def get(self, request: Request, task_id: int) -> Response:
        return Response(review.agreement_of(self.task))


class ConsensusView(TaskView):
    permission_classes = [CanReview]

    def post(self, request: Request, task_id: int) -> Response:
        body = parse(ConsensusBody, request.data)
        revision = review.do_build_consensus(
            request.user, self.membership, self.task, body.label, body.method
        )
        return Response({"revision": masks.revision_summary(revision)}, status=status.HTTP_201_CREATED)
