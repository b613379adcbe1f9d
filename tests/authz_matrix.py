"""The authorisation matrix: every route and method of the URL conf, and every client message of the socket,
with what each persona gets. ONE table, read by tests/test_authz_matrix.py, which fails for a route, a
method or a message type without a row here.

Outcomes are listed in the order of ``PERSONAS``: owner, annotator, reviewer, outsider, anonymous; each
persona of project A acts on A's objects (tests/authz_world.py). ``a|b`` allows either (health depends
on the stack). A row's ``cross`` is what A's owner gets when any one id of the URL names B's object instead
(404 for every row naming a project's objects: nobody learns that another project's id exists).

Adding a route: one ``Row`` line, with a body that a permitted persona can succeed with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.authz_world import PERSONAS, World, png_bytes

Body = dict[str, Any] | Callable[[World, str], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    route: str  # the URL pattern's name
    method: str
    expect: str  # five outcomes, in the order of PERSONAS
    body: Body | None = None
    objects: dict[str, str] = field(default_factory=dict)  # URL keyword → another object of the world
    kwargs: dict[str, Any] = field(default_factory=dict)  # fixed URL keywords (e.g. an action's name)
    multipart: bool = False
    cross: int | None = 404
    note: str = ""

    def outcomes(self) -> dict[str, set[int]]:
        codes = self.expect.split()
        assert len(codes) == len(PERSONAS), f"{self.route} {self.method}: five outcomes, one per persona"
        return {p: {int(c) for c in code.split("|")} for p, code in zip(PERSONAS, codes, strict=True)}

    @property
    def key(self) -> str:
        extra = "-".join(f"{v}" for v in {**self.objects, **self.kwargs}.values())
        return f"{self.method} {self.route}{'[' + extra + ']' if extra else ''}"


def own_head(world: World, persona: str) -> int | None:
    """The caller's own latest revision of A's liver mask (a save must name it as its base)."""
    from annotator.models import MaskTrack

    user = world.user(persona)
    track = MaskTrack.objects.filter(series=world.a.series, label=world.a.label, annotator=user).first()
    return track.head_id if track else None


RLE_SLICE = {"size": [8, 8], "counts": [18, 4, 4, 4, 34]}


def save_body(world: World, persona: str) -> dict[str, Any]:
    return {"base_revision": own_head(world, persona), "source": "manual", "slices": {"1": RLE_SLICE}}


def restore_body(world: World, persona: str) -> dict[str, Any]:
    return {"base_revision": own_head(world, persona)}


def upload(world: World, persona: str) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"files": SimpleUploadedFile("slice.png", png_bytes(16), content_type="image/png")}


def reference_upload(world: World, persona: str) -> dict[str, Any]:
    import io

    import nibabel as nib
    import numpy as np
    from django.core.files.uploadedfile import SimpleUploadedFile

    # the series' grid (tests/segmentation/conftest.py make_series): an identity LPS affine; NIfTI is RAS
    labels = np.zeros((8, 8, 4), dtype=np.uint8)
    labels[2:5, 2:5, 1] = 1
    image = nib.Nifti1Image(labels, np.diag([-1.0, -1.0, 1.0, 1.0]))
    data = io.BytesIO(image.to_bytes())
    return {
        "file": SimpleUploadedFile("labels.nii", data.getvalue(), content_type="application/octet-stream")
    }


def logged_event(series_id: int, **fields: Any) -> dict[str, Any]:
    return {"seq": 0, "kind": "slice", "t": 1.7e12, "series_id": series_id, "slice_index": 1, **fields}


def interactions_body(world: World, persona: str) -> dict[str, Any]:
    return {"session": f"matrix-{persona}", "events": [logged_event(world.a.series.pk)]}


def timing_study_body(world: World, persona: str) -> dict[str, Any]:
    return {
        "name": "Second study",
        "cases": [{"series": world.a.series.pk, "label": world.a.label.pk}],
        "participants": [world.a.annotator.pk, world.a.owner.pk],
        "model_version": "lite_medsam@test",
    }


TIMING_STUDY = {"study_id": "timing_study"}

# fmt: off
# Outcomes:                                               owner annot. review. outsider anonymous
ROWS: list[Row] = [
    # pages (anonymous visitors are sent to the login page)
    Row("healthz", "GET",                                 "200|503 200|503 200|503 200|503 200|503", cross=None),
    Row("login", "GET",                                   "200 200 200 200 200", cross=None),
    Row("login", "POST",                                  "200 200 200 200 200", {"username": "x", "password": "y"}, cross=None),
    Row("login", "PUT",                                   "200 200 200 200 200", cross=None, note="as POST: the form again"),
    Row("logout", "POST",                                 "302 302 302 302 302", cross=None),
    Row("admin:index", "GET",                             "302 302 302 302 302", cross=None, note="staff only"),
    Row("project-list", "GET",                            "200 200 200 200 302", cross=None),
    Row("project-page", "GET",                            "200 200 200 404 302"),
    Row("viewer", "GET",                                  "200 200 200 404 302"),
    Row("join", "GET",                                    "200 200 200 200 200", cross=None, note="the link is the key"),
    Row("join", "POST",                                   "302 302 302 302 302", {"username": "newcomer", "password": "a long enough secret 42", "password_again": "a long enough secret 42"}, cross=None),
    # the API described (drf-spectacular; annotator/api/schema.py)
    Row("api-schema", "GET",                              "200 200 200 200 403", cross=None),
    Row("api-docs", "GET",                                "200 200 200 200 302", cross=None, note="a page"),
    # projects, labels
    Row("api-projects", "GET",                            "200 200 200 200 403", cross=None),
    Row("api-projects", "POST",                           "201 201 201 201 403", {"name": "Mine"}, cross=None),
    Row("api-project", "GET",                             "200 200 200 404 403"),
    Row("api-project", "PATCH",                           "200 403 403 404 403", {"description": "changed"}),
    Row("api-window-presets", "GET",                      "200 200 200 200 403", cross=None),
    Row("api-labels", "POST",                             "201 403 403 404 403", {"name": "spleen"}),
    Row("api-label-order", "POST",                        "200 403 403 404 403", lambda w, p: {"labels": [w.a.label.pk]}),
    Row("api-label", "PATCH",                             "200 403 403 404 403", {"name": "Liver"}),
    Row("api-label", "DELETE",                            "200 403 403 404 403", {"confirm": True}),
    # masks
    Row("api-series-masks", "GET",                        "200 200 200 404 403"),
    Row("api-label-mask", "GET",                          "200 200 200 404 403"),
    Row("api-mask-revisions", "GET",                      "200 200 200 404 403"),
    Row("api-mask-revisions", "POST",                     "201 201 403 404 403", save_body),
    Row("api-mask-restore", "POST",                       "403 201 403 404 403", restore_body, note="the mask's annotator only"),
    # studies, series, slices, imports, jobs
    Row("api-studies", "GET",                             "200 200 200 404 403"),
    Row("api-imports", "POST",                            "201 403 403 404 403", upload, multipart=True),
    Row("api-project-jobs", "GET",                        "200 200 200 404 403"),
    Row("api-study", "GET",                               "200 200 200 404 403"),
    Row("api-study", "DELETE",                            "204 403 403 404 403", objects={"study_id": "empty_study"}),
    Row("api-series", "GET",                              "200 200 200 404 403"),
    Row("api-series", "DELETE",                           "204 403 403 404 403", objects={"series_id": "empty_series"}),
    Row("api-series-thumbnail", "GET",                    "200 200 200 404 403"),
    Row("api-series-slice", "GET",                        "200 200 200 404 403"),
    Row("api-series-slice-raw", "GET",                    "200 200 200 404 403"),
    Row("api-series-reference-raw", "GET",                "200 200 200 404 403"),
    Row("api-series-reference-labels", "POST",            "201 403 403 404 403", reference_upload, multipart=True),
    Row("api-job", "GET",                                 "200 200 200 404 403", note="its creator or a member"),
    Row("api-job-cancel", "POST",                         "200 200 403 404 403", note="its creator or an owner"),
    Row("api-exports", "POST",                            "202 202 202 404 403", {"format": "nifti"}),
    Row("api-export-download", "GET",                     "200 200 200 404 403", objects={"job_id": "export"}),
    # members and invitations
    Row("api-members", "GET",                             "200 200 200 404 403"),
    Row("api-member", "PATCH",                            "200 403 403 404 403", {"role": "annotator"}),
    Row("api-member", "DELETE",                           "204 403 403 404 403"),
    Row("api-project-invitations", "GET",                 "200 403 403 404 403"),
    Row("api-project-invitations", "POST",                "201 403 403 404 403", {"invitee": "someone@example.org", "role": "annotator"}),
    Row("api-project-invitation", "DELETE",               "200 403 403 404 403"),
    Row("api-invitations", "GET",                         "200 200 200 200 403", cross=None),
    Row("api-accept", "POST",                             "404 404 404 200 403", note="the invitee only"),
    Row("api-decline", "POST",                            "404 404 404 200 403", note="the invitee only"),
    # tasks, queues, the review workflow
    Row("api-tasks", "GET",                               "200 200 200 404 403"),
    Row("api-tasks", "POST",                              "201 403 403 404 403", lambda w, p: {"series": [w.a.series.pk], "labels": [w.a.label.pk]}),
    Row("api-queue", "GET",                               "200 200 200 404 403"),
    Row("api-queue-next", "POST",                         "200 200 403 404 403"),
    Row("api-reviews", "GET",                             "200 403 200 404 403"),
    Row("api-progress", "GET",                            "200 200 200 404 403"),
    Row("api-task", "GET",                                "200 200 200 404 403"),
    Row("api-task", "DELETE",                             "204 403 403 404 403"),
    Row("api-task-assign", "POST",                        "200 403 403 404 403", lambda w, p: {"annotators": [w.a.owner.pk]}),
    Row("api-assignment", "PATCH",                        "200 403 403 404 403", {"annotator": None}, objects={"assignment_id": "todo"}),
    Row("api-assignment-case", "GET",                     "200 200 200 404 403"),
    Row("api-assignment-comments", "GET",                 "200 200 200 404 403"),
    Row("api-assignment-comments", "POST",                "201 201 201 404 403", {"text": "Looks fine."}),
    Row("api-assignment-request-changes", "POST",         "200 403 200 404 403", {"text": "Slice 2 misses the rim."}),
    Row("api-assignment-action", "POST",                  "403 200 403 404 403", objects={"assignment_id": "todo"}, kwargs={"action": "start"}),
    Row("api-assignment-action", "POST",                  "200 403 200 404 403", kwargs={"action": "approve"}),
    Row("api-comment", "PATCH",                           "200 200 200 404 403", {"resolved": True}),
    Row("api-task-review", "GET",                         "200 403 200 404 403"),
    Row("api-task-agreement", "GET",                      "200 403 200 404 403"),
    Row("api-task-consensus", "POST",                     "400 403 400 404 403", lambda w, p: {"label": w.a.label.pk}, note="one annotator's mask: no consensus yet"),
    # the project's PACS (owners)
    Row("api-pacs", "GET",                                "200 403 403 404 403"),
    Row("api-pacs", "PUT",                                "502 403 403 404 403", {"base_url": "http://127.0.0.1:9/dicom-web", "auth": "none"}, note="checked: nothing listens there"),
    Row("api-pacs", "DELETE",                             "204 403 403 404 403"),
    Row("api-pacs-test", "POST",                          "502 403 403 404 403", note="its PACS does not answer"),
    Row("api-pacs-studies", "GET",                        "502 403 403 404 403"),
    Row("api-pacs-series", "GET",                         "404 403 403 404 403", note="no search gave this handle"),
    Row("api-pacs-imports", "POST",                       "404 403 403 404 403", {"series": ["h0"]}, note="no search gave this handle"),
    Row("api-pacs-exports", "POST",                       "400 403 403 404 403", {}, note="none of its series came from the PACS"),
    # model versions and active learning (owners train, promote, reject, roll back and set; members look)
    Row("models-page", "GET",                             "200 200 200 404 302"),
    Row("api-model-versions", "GET",                      "200 200 200 404 403"),
    Row("api-model-versions-train", "POST",               "202 403 403 404 403"),
    Row("api-model-versions-rollback", "POST",            "200 403 403 404 403", note="v1 back to the base model"),
    Row("api-model-version-promote", "POST",              "200 403 403 404 403", note="v2 beat v1 by the rule"),
    Row("api-model-version-reject", "POST",               "200 403 403 404 403"),
    Row("api-active-learning", "GET",                     "200 200 200 404 403"),
    Row("api-active-learning", "PATCH",                   "200 403 403 404 403", {"changes": {"auto_promote": False}, "queue_ordering": "priority"}),
    Row("api-queue-scores", "POST",                       "400 403 403 404 403", note="ordered by priority: no model ordering to score"),
    # annotation time: each person's own log and time; owners and reviewers see the team's (docs/timing.md)
    Row("api-interactions", "POST",                       "200 200 200 404 403", interactions_body, cross=None, note="events on A's series (B's: the log message)"),
    Row("api-series-timing", "GET",                       "200 200 200 404 403", note="the caller's own time only"),
    Row("api-timing-settings", "GET",                     "200 200 200 404 403"),
    Row("api-timing-settings", "PUT",                     "200 403 403 404 403", {"idle_threshold_s": 45}),
    Row("api-timing-csv", "GET",                          "200 403 200 404 403", kwargs={"what": "tasks"}),
    Row("api-timing-csv", "GET",                          "200 403 200 404 403", kwargs={"what": "masks"}),
    Row("api-timing-model-versions", "GET",               "200 403 200 404 403"),
    # timing studies: the owner designs one and sees its runs; participants take their tasks; reports for reviewers
    Row("api-timing-studies", "GET",                      "200 200 200 404 403", note="a participant sees only the studies they take part in"),
    Row("api-timing-studies", "POST",                     "201 403 403 404 403", timing_study_body),
    Row("api-timing-study", "GET",                        "200 403 403 404 403", objects=TIMING_STUDY),
    Row("api-timing-study-mine", "GET",                   "200 200 403 404 403", objects=TIMING_STUDY, note="participants only"),
    Row("api-timing-study-next", "POST",                  "200 200 403 404 403", objects=TIMING_STUDY, note="participants only"),
    Row("api-timing-report", "GET",                       "200 403 200 404 403", objects=TIMING_STUDY),
    Row("api-timing-report-csv", "GET",                   "200 403 200 404 403", objects=TIMING_STUDY),
    Row("api-timing-assignment", "GET",                   "200 200 200 404 403", objects={"assignment_id": "study_case"}),
    Row("api-timing-assignment", "GET",                   "200 404 200 404 403", objects={"assignment_id": "owners_study_case"}, note="a colleague's case is not found"),
    Row("timing-study", "GET",                            "200 200 200 404 302", objects=TIMING_STUDY),
    Row("timing-report", "GET",                           "200 403 200 404 302", objects=TIMING_STUDY),
]
# fmt: on


# -- the socket: every client message type (annotator.messages CLIENT_MESSAGES) ---------------------------------
# Outcome: the type of the reply to the message, or the code of its error; "sent" is a prompt handed to the
# workers (no reply until the mask), "closed" a socket the server closed (anonymous sockets never open).
# The persona first subscribes to A's series (when it can) so that each message meets the real check.


@dataclass(frozen=True)
class MessageRow:
    type: str
    expect: str
    message: Callable[[World], dict[str, Any]]
    # the same message naming one of B's objects instead of A's (each variant is sent by A's owner)
    cross: tuple[Callable[[World], dict[str, Any]], ...] = ()
    cross_expect: str = "not_found"

    def outcomes(self) -> dict[str, str]:
        codes = self.expect.split()
        assert len(codes) == len(PERSONAS), f"{self.type}: five outcomes, one per persona"
        return dict(zip(PERSONAS, codes, strict=True))


def _series(world_series_id: int) -> dict[str, Any]:
    return {"kind": "series", "id": world_series_id}


# fmt: off
MESSAGES: list[MessageRow] = [
    MessageRow("ping", "pong pong pong pong closed", lambda w: {}),
    MessageRow("subscribe", "subscribed subscribed subscribed not_found closed",
               lambda w: {"scope": _series(w.a.series.pk), "label_id": w.a.label.pk},
               cross=(lambda w: {"scope": _series(w.b.series.pk)},
                      lambda w: {"scope": _series(w.a.series.pk), "label_id": w.b.label.pk},
                      lambda w: {"scope": _series(w.a.series.pk), "assignment_id": w.b.assignment.pk})),
    MessageRow("unsubscribe", "unsubscribed unsubscribed unsubscribed unsubscribed closed",
               lambda w: {"scope": _series(w.a.series.pk)}),
    MessageRow("view", "presence presence presence not_subscribed closed",
               lambda w: {"series_id": w.a.series.pk, "slice_index": 1},
               cross=(lambda w: {"series_id": w.b.series.pk, "slice_index": 1},), cross_expect="not_subscribed"),
    MessageRow("prompt", "sent sent sent not_subscribed closed",
               lambda w: {"series_id": w.a.series.pk, "slice_index": 1, "box": [1, 1, 6, 6]},
               cross=(lambda w: {"series_id": w.b.series.pk, "slice_index": 1, "box": [1, 1, 6, 6]},),
               cross_expect="not_subscribed"),
    MessageRow("propagate", "job.created job.created forbidden not_subscribed closed",
               lambda w: {"series_id": w.a.series.pk, "slice_index": 1, "box": [1, 1, 6, 6], "label_id": w.a.label.pk},
               cross=(lambda w: {"series_id": w.a.series.pk, "slice_index": 1, "box": [1, 1, 6, 6], "label_id": w.b.label.pk},)),
    MessageRow("cancel_job", "job.progress job.progress forbidden not_found closed",
               lambda w: {"job_id": w.a.job.pk}, cross=(lambda w: {"job_id": w.b.job.pk},)),
    MessageRow("log", "log.ack log.ack log.ack not_found closed",
               lambda w: {"session": "matrix-log", "events": [logged_event(w.a.series.pk)]},
               cross=(lambda w: {"session": "matrix-log", "events": [logged_event(w.b.series.pk)]},
                      lambda w: {"session": "matrix-log", "events": [logged_event(w.a.series.pk, assignment_id=w.b.assignment.pk)]})),
]
# fmt: on
