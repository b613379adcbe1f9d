from annotator.models.jobs import Job
from annotator.models.masks import MaskRevision, MaskSource, MaskTrack
from annotator.models.members import Invitation
from annotator.models.pacs import DicomWebSource, PacsHandle, PacsSeriesOrigin
from annotator.models.projects import Label, Membership, Project, Role
from annotator.models.review import ApprovedRevision, ReviewComment
from annotator.models.studies import Series, Study
from annotator.models.tasks import Assignment, Task

__all__ = [
    "ApprovedRevision",
    "Assignment",
    "DicomWebSource",
    "Invitation",
    "Job",
    "Label",
    "MaskRevision",
    "MaskSource",
    "MaskTrack",
    "Membership",
    "PacsHandle",
    "PacsSeriesOrigin",
    "Project",
    "ReviewComment",
    "Role",
    "Series",
    "Study",
    "Task",
]
