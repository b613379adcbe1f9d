"""Two projects, each with every kind of object a URL or a socket message can name, for the authorisation
matrix (tests/authz_matrix.py, tests/test_authz_matrix.py).

Each project has its own owner, annotator and reviewer; the outsider belongs to neither. Project B's objects
are the foreign ids: a member of A naming one of them (alone or beside A's own ids) must get 404.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from PIL import Image

from annotator.actions import model_versions, user_studies
from annotator.actions.masks import SaveRequest, do_save_revision
from annotator.imaging.volumes import save_array, series_folder, storage
from annotator.models import (
    Assignment,
    DicomWebSource,
    Invitation,
    Job,
    Label,
    Membership,
    ModelVersion,
    Project,
    ReviewComment,
    Role,
    Series,
    StudyTask,
    Task,
    TimingStudy,
)
from tests.factories import UserFactory
from tests.segmentation.conftest import make_series

PERSONAS = ("owner", "annotator", "reviewer", "outsider", "anonymous")


@dataclass
class ProjectWorld:
    """One project and one of each object of it, named by the URL keyword that names such an object."""

    project: Project
    owner: AbstractBaseUser
    annotator: AbstractBaseUser
    reviewer: AbstractBaseUser
    label: Label
    series: Series
    revision_id: int
    task: Task
    assignment: Assignment  # the annotator's case, submitted (a reviewer can approve it)
    todo: Assignment  # the annotator's case not started yet (on a second task)
    comment: ReviewComment
    job: Job  # a running propagation the annotator started
    export: Job  # a finished export
    invitation: Invitation  # to the outsider, pending
    email_invitation: Invitation  # to someone without an account, pending (the join page)
    version: ModelVersion  # a candidate that beat the active version (v1, which replaced the base model)
    timing_study: TimingStudy  # the annotator and the owner take part; the reviewer does not
    study_case: Assignment  # the annotator's task of the timing study
    owners_study_case: Assignment  # the owner's task of the timing study

    def ids(self) -> dict[str, Any]:
        """URL keyword → value for this project's objects (a row may pick another object: ``Row.objects``)."""
        return {
            "project_id": self.project.pk,
            "label_id": self.label.pk,
            "series_id": self.series.pk,
            "study_id": self.series.study_id,
            "revision_id": self.revision_id,
            "task_id": self.task.pk,
            "assignment_id": self.assignment.pk,
            "comment_id": self.comment.pk,
            "job_id": self.job.pk,
            "user_id": self.reviewer.pk,
            "invitation_id": self.invitation.pk,
            "index": 0,
            "handle": "h0",
            "token": self.email_invitation.token,
            "version_id": self.version.pk,
        }

    def alternatives(self) -> dict[str, Any]:
        """Other objects a row can name instead of the default one (``Row.objects``)."""
        return {
            "export": self.export.pk,
            "todo": self.todo.pk,
            "empty_series": self.todo.task.series_id,
            "empty_study": self.todo.task.series.study_id,
            "timing_study": self.timing_study.pk,
            "study_case": self.study_case.pk,
            "owners_study_case": self.owners_study_case.pk,
        }


@dataclass
class World:
    a: ProjectWorld
    b: ProjectWorld
    outsider: AbstractBaseUser
    extra: dict[str, Any] = field(default_factory=dict)

    def user(self, persona: str) -> AbstractBaseUser | None:
        if persona == "anonymous":
            return None
        if persona == "outsider":
            return self.outsider
        user: AbstractBaseUser = getattr(self.a, persona)
        return user


def png_bytes(size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size), 128, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def build_project(name: str, outsider: AbstractBaseUser) -> ProjectWorld:
    owner = UserFactory(username=f"owner_{name}")
    annotator = UserFactory(username=f"annotator_{name}")
    reviewer = UserFactory(username=f"reviewer_{name}")
    project = Project.objects.create(name=f"Project {name.upper()}", created_by=owner)
    for user, role in ((owner, Role.OWNER), (annotator, Role.ANNOTATOR), (reviewer, Role.REVIEWER)):
        Membership.objects.create(project=project, user=user, role=role)
    label = Label.objects.create(project=project, name="liver", value=1, color="#ff0000")
    series = make_series(project, np.zeros((4, 8, 8), dtype=np.int16))
    folder = series_folder(project.pk)
    series.thumbnail.name = storage().save(f"{folder}/thumbnail.png", ContentFile(png_bytes()))
    series.reference_labels.name, _ = save_array(f"{folder}/reference.npy", np.zeros((4, 8, 8), np.uint8))
    series.save(update_fields=["thumbnail", "reference_labels"])
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:5, 2:5] = True
    revision = do_save_revision(
        annotator, series, label, Role.ANNOTATOR, SaveRequest(None, "manual", {1: mask})
    )
    task = Task.objects.create(project=project, series=series)
    task.labels.set([label])
    assignment = Assignment.objects.create(task=task, annotator=annotator, state=Assignment.State.SUBMITTED)
    second = make_series(project, np.zeros((2, 8, 8), dtype=np.int16))
    todo = Assignment.objects.create(
        task=Task.objects.create(project=project, series=second), annotator=annotator
    )
    comment = ReviewComment.objects.create(
        assignment=assignment, author=reviewer, text="Look at slice 1.", slice_index=1, x=2.0, y=3.0
    )
    job = Job.objects.create(kind="propagate", project=project, created_by=annotator, state=Job.State.RUNNING)
    zip_name = storage().save(f"exports/{name}/export.zip", ContentFile(b"PK\x05\x06" + b"\0" * 18))
    export = Job.objects.create(
        kind="export",
        project=project,
        created_by=owner,
        state=Job.State.DONE,
        result={"file": zip_name, "filename": "export.zip"},
    )
    invitation = Invitation.objects.create(
        project=project, user=outsider, role=Role.ANNOTATOR, invited_by=owner
    )
    # a PACS nothing answers at (the checks run before any request leaves; the request is refused at once)
    DicomWebSource.objects.create(project=project, base_url="http://127.0.0.1:9/dicom-web", updated_by=owner)
    email_invitation = Invitation.objects.create(
        project=project, email=f"new_{name}@example.org", role=Role.ANNOTATOR, invited_by=owner
    )
    version = model_versions_of(project, owner)
    timing_study = user_studies.do_create_study(
        owner,
        project,
        user_studies.StudyRequest(
            name="Assisted or manual",
            # a series of its own: a manual-condition task refuses the model on its series
            cases=[(make_series(project, np.zeros((2, 8, 8), dtype=np.int16)).pk, label.pk)],
            participants=[annotator.pk, owner.pk],
            seed=7,
            model_version="lite_medsam@test",
        ),
    )
    cases = {t.participant_id: t.assignment for t in StudyTask.objects.filter(study=timing_study)}
    return ProjectWorld(
        project=project,
        owner=owner,
        annotator=annotator,
        reviewer=reviewer,
        label=label,
        series=series,
        revision_id=revision.pk,
        task=task,
        assignment=assignment,
        todo=todo,
        comment=comment,
        job=job,
        export=export,
        invitation=invitation,
        email_invitation=email_invitation,
        version=version,
        timing_study=timing_study,
        study_case=cases[annotator.pk],
        owners_study_case=cases[owner.pk],
    )


def model_versions_of(project: Project, owner: AbstractBaseUser) -> ModelVersion:
    """The base model (v0), v1 promoted over it (so there is a version to roll back to), and v2: a candidate
    that beat v1 by the project's rule (promotable, or rejectable). Rows as a training run leaves them
    (annotator/learning/training.py); the promotion is the owner's action."""

    def version(number: int, parent: ModelVersion | None, **fields: Any) -> ModelVersion:
        return ModelVersion.objects.create(
            project=project,
            number=number,
            parent=parent,
            model_name="lite_medsam",
            checkpoint=f"versions/project-{project.pk}/v{number}.pt",
            sha256=f"{number}" * 64,
            encoder_sha256="e" * 64,
            metrics={"active_version": parent.pk if parent else None},
            **fields,
        )

    base = version(0, None, state=ModelVersion.State.PROMOTED, active=True)
    first = version(1, base, decision={"promote": True, "reasons": []})
    model_versions.do_promote(owner, project, first.pk)
    return version(2, first, decision={"promote": True, "reasons": []})


def build_world() -> World:
    outsider = UserFactory(username="oscar_outsider", email="oscar@example.org")
    return World(a=build_project("a", outsider), b=build_project("b", outsider), outsider=outsider)


def fingerprint() -> dict[str, list[tuple[Any, ...]]]:
    """What a refused request must leave as it was: every row that the API can create, change or delete."""
    from annotator.models import InteractionEvent, MaskRevision, Study

    tables: dict[str, Any] = {
        "projects": Project.objects.values_list("id", "name", "description", "settings"),
        "members": Membership.objects.values_list("project_id", "user_id", "role"),
        "labels": Label.objects.values_list("id", "name", "color", "window_preset", "position", "removed_at"),
        "studies": Study.objects.values_list("id"),
        "series": Series.objects.values_list("id", "reference_labels"),
        "revisions": MaskRevision.objects.values_list("id"),
        "tasks": Task.objects.values_list("id", "priority"),
        "assignments": Assignment.objects.values_list("id", "annotator_id", "state"),
        "comments": ReviewComment.objects.values_list("id", "resolved_at"),
        "jobs": Job.objects.values_list("id", "state"),
        "invitations": Invitation.objects.values_list("id", "state"),
        "pacs": DicomWebSource.objects.values_list("id", "base_url"),
        "model_versions": ModelVersion.objects.values_list("id", "state", "active"),
        "timing_studies": TimingStudy.objects.values_list("id"),
        "interaction_events": InteractionEvent.objects.values_list("id"),
    }
    return {name: sorted(rows, key=repr) for name, rows in tables.items()}
