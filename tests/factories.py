from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from annotator.models import Label, Membership, Project, Role

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password(PASSWORD)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    created_by = factory.SubFactory(UserFactory)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"label{n}")
    value = factory.Sequence(lambda n: n + 1)
    color = "#ff8800"


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "annotator.Study"

    project = factory.SubFactory(ProjectFactory)
    uid = factory.Sequence(lambda n: f"2.25.{1000 + n}")
    description = factory.Sequence(lambda n: f"Study {n}")
    source = "dicom"


class SeriesFactory(factory.django.DjangoModelFactory):
    """A series row without pixels; import real files (tests/test_import.py) when pixels matter."""

    class Meta:
        model = "annotator.Series"

    study = factory.SubFactory(StudyFactory)
    uid = factory.Sequence(lambda n: f"2.25.{5000 + n}")
    kind = "volume"
    modality = "CT"
    shape = [4, 8, 8]
    spacing = [1.0, 1.0, 1.0]
    affine = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    dtype = "int16"
    num_slices = 4
    window_presets = [{"name": "soft_tissue", "level": 40.0, "width": 400.0}]
    default_window = "soft_tissue"
    content_hash = factory.Sequence(lambda n: f"{n:064x}")
    volume = "missing.npy"


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "annotator.Task"

    series = factory.SubFactory(SeriesFactory)
    project = factory.LazyAttribute(lambda task: task.series.study.project)


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "annotator.Assignment"

    task = factory.SubFactory(TaskFactory)
    annotator = factory.SubFactory(UserFactory)
