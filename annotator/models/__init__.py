from annotator.models.jobs import Job
from annotator.models.masks import MaskRevision, MaskSource, MaskTrack
from annotator.models.members import Invitation
from annotator.models.model_versions import ModelVersion, QueueScore
from annotator.models.pacs import DicomWebSource, PacsHandle, PacsSeriesOrigin
from annotator.models.projects import Label, Membership, Project, Role
from annotator.models.review import ApprovedRevision, ReviewComment
from annotator.models.studies import Series, Study
from annotator.models.tasks import Assignment, Task
from annotator.models.timing import InteractionEvent, StudyCase, StudyTask, TimingStudy

__all__ = [
    "ApprovedRevision",
    "Assignment",
    "DicomWebSource",
    "Invitation",
    "InteractionEvent",
    "Job",
    "Label",
    "MaskRevision",
    "MaskSource",
    "MaskTrack",
    "Membership",
    "ModelVersion",
    "PacsHandle",
    "PacsSeriesOrigin",
    "Project",
    "QueueScore",
    "ReviewComment",
    "Role",
    "Series",
    "StudyCase",
    "StudyTask",
    "Study",
    "Task",
    "TimingStudy",
]
