from django.urls import path

from annotator.api import (
    described,
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
from annotator.api.schema import describe_views

describe_views()  # the OpenAPI description of every view (annotator/api/schema.py)

urlpatterns = [
    # the API described (OpenAPI 3, drf-spectacular) and browsable (Swagger UI from the sidecar package)
    path("schema/", described.SchemaView.as_view(), name="api-schema"),
    path("docs/", described.DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("projects/", views.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", views.ProjectDetailView.as_view(), name="api-project"),
    path("window-presets/", views.WindowPresetsView.as_view(), name="api-window-presets"),
    # a project's labels, edited by its owners (annotator/api/labels.py)
    path("projects/<int:project_id>/labels/", labels.LabelListView.as_view(), name="api-labels"),
    path("projects/<int:project_id>/labels/order/", labels.LabelOrderView.as_view(), name="api-label-order"),
    path(
        "projects/<int:project_id>/labels/<int:label_id>/",
        labels.LabelDetailView.as_view(),
        name="api-label",
    ),
    path("series/<int:series_id>/masks/", masks.SeriesMasksView.as_view(), name="api-series-masks"),
    path(
        "series/<int:series_id>/masks/<int:label_id>/", masks.LabelMaskView.as_view(), name="api-label-mask"
    ),
    path(
        "series/<int:series_id>/masks/<int:label_id>/revisions/",
        masks.RevisionListView.as_view(),
        name="api-mask-revisions",
    ),
    path(
        "series/<int:series_id>/masks/<int:label_id>/revisions/<int:revision_id>/restore/",
        masks.RestoreRevisionView.as_view(),
        name="api-mask-restore",
    ),
    # studies, series, slices, imports, jobs (annotator/api/studies.py)
    path("projects/<int:project_id>/studies/", studies.StudyListView.as_view(), name="api-studies"),
    path("projects/<int:project_id>/imports/", studies.ImportView.as_view(), name="api-imports"),
    path("projects/<int:project_id>/jobs/", studies.ProjectJobsView.as_view(), name="api-project-jobs"),
    path("studies/<int:study_id>/", studies.StudyDetailView.as_view(), name="api-study"),
    path("series/<int:series_id>/", studies.SeriesDetailView.as_view(), name="api-series"),
    path(
        "series/<int:series_id>/thumbnail.png", studies.ThumbnailView.as_view(), name="api-series-thumbnail"
    ),
    path(
        "series/<int:series_id>/slices/<int:index>.png", studies.SliceView.as_view(), name="api-series-slice"
    ),
    path(
        "series/<int:series_id>/slices/<int:index>/raw",
        studies.RawSliceView.as_view(),
        name="api-series-slice-raw",
    ),
    path(
        "series/<int:series_id>/reference-labels/slices/<int:index>/raw",
        studies.ReferenceRawSliceView.as_view(),
        name="api-series-reference-raw",
    ),
    path("jobs/<int:job_id>/", studies.JobDetailView.as_view(), name="api-job"),
    path("jobs/<int:job_id>/cancel/", studies.JobCancelView.as_view(), name="api-job-cancel"),
    # members and invitations (annotator/api/members.py)
    path("projects/<int:project_id>/members/", members.MemberListView.as_view(), name="api-members"),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        members.MemberDetailView.as_view(),
        name="api-member",
    ),
    path(
        "projects/<int:project_id>/invitations/",
        members.ProjectInvitationsView.as_view(),
        name="api-project-invitations",
    ),
    path(
        "projects/<int:project_id>/invitations/<int:invitation_id>/",
        members.ProjectInvitationDetailView.as_view(),
        name="api-project-invitation",
    ),
    path("invitations/", members.MyInvitationsView.as_view(), name="api-invitations"),
    path(
        "invitations/<int:invitation_id>/accept/", members.AnswerInvitationView.as_view(), name="api-accept"
    ),
    path(
        "invitations/<int:invitation_id>/decline/",
        members.DeclineInvitationView.as_view(),
        name="api-decline",
    ),
    # tasks, review, queues, progress (annotator/api/tasks.py)
    path("projects/<int:project_id>/tasks/", tasks.TaskListView.as_view(), name="api-tasks"),
    path("projects/<int:project_id>/queue/", tasks.QueueView.as_view(), name="api-queue"),
    path("projects/<int:project_id>/queue/next/", tasks.NextCaseView.as_view(), name="api-queue-next"),
    path("projects/<int:project_id>/reviews/", tasks.ReviewQueueView.as_view(), name="api-reviews"),
    path("projects/<int:project_id>/progress/", tasks.ProgressView.as_view(), name="api-progress"),
    path("tasks/<int:task_id>/", tasks.TaskDetailView.as_view(), name="api-task"),
    path("tasks/<int:task_id>/assignments/", tasks.TaskAssignView.as_view(), name="api-task-assign"),
    path("assignments/<int:assignment_id>/", tasks.AssignmentDetailView.as_view(), name="api-assignment"),
    # review: cases, comments, every annotator's masks, agreement, consensus (annotator/api/review.py)
    path("assignments/<int:assignment_id>/case/", review.CaseView.as_view(), name="api-assignment-case"),
    path(
        "assignments/<int:assignment_id>/comments/",
        review.CommentListView.as_view(),
        name="api-assignment-comments",
    ),
    path(
        "assignments/<int:assignment_id>/request_changes/",
        review.RequestChangesView.as_view(),
        name="api-assignment-request-changes",
    ),
    path("comments/<int:comment_id>/", review.CommentDetailView.as_view(), name="api-comment"),
    path("tasks/<int:task_id>/review/", review.TaskReviewView.as_view(), name="api-task-review"),
    path("tasks/<int:task_id>/agreement/", review.AgreementView.as_view(), name="api-task-agreement"),
    path("tasks/<int:task_id>/consensus/", review.ConsensusView.as_view(), name="api-task-consensus"),
    path(
        "assignments/<int:assignment_id>/<str:action>/",
        tasks.AssignmentActionView.as_view(),
        name="api-assignment-action",
    ),
    # exports and reference-label imports (annotator/api/exports.py)
    path("projects/<int:project_id>/exports/", exports.ExportListView.as_view(), name="api-exports"),
    path("exports/<int:job_id>/download", exports.ExportDownloadView.as_view(), name="api-export-download"),
    path(
        "series/<int:series_id>/reference-labels/",
        exports.ReferenceLabelsView.as_view(),
        name="api-series-reference-labels",
    ),
    # the project's PACS over DICOMweb (annotator/api/pacs.py)
    path("projects/<int:project_id>/pacs/", pacs.SourceView.as_view(), name="api-pacs"),
    path("projects/<int:project_id>/pacs/test/", pacs.SourceTestView.as_view(), name="api-pacs-test"),
    path("projects/<int:project_id>/pacs/studies/", pacs.StudySearchView.as_view(), name="api-pacs-studies"),
    path(
        "projects/<int:project_id>/pacs/studies/<str:handle>/series/",
        pacs.SeriesSearchView.as_view(),
        name="api-pacs-series",
    ),
    path("projects/<int:project_id>/pacs/imports/", pacs.PacsImportView.as_view(), name="api-pacs-imports"),
    path("projects/<int:project_id>/pacs/exports/", pacs.PacsExportView.as_view(), name="api-pacs-exports"),
    # model versions and active learning (annotator/api/model_versions.py)
    path(
        "projects/<int:project_id>/model-versions/",
        model_versions.ModelVersionListView.as_view(),
        name="api-model-versions",
    ),
    path(
        "projects/<int:project_id>/model-versions/train/",
        model_versions.TrainView.as_view(),
        name="api-model-versions-train",
    ),
    path(
        "projects/<int:project_id>/model-versions/rollback/",
        model_versions.RollbackView.as_view(),
        name="api-model-versions-rollback",
    ),
    path(
        "projects/<int:project_id>/model-versions/<int:version_id>/promote/",
        model_versions.PromoteView.as_view(),
        name="api-model-version-promote",
    ),
    path(
        "projects/<int:project_id>/model-versions/<int:version_id>/reject/",
        model_versions.RejectView.as_view(),
        name="api-model-version-reject",
    ),
    path(
        "projects/<int:project_id>/active-learning/",
        model_versions.ActiveLearningSettingsView.as_view(),
        name="api-active-learning",
    ),
    path(
        "projects/<int:project_id>/queue-scores/",
        model_versions.QueueScoresView.as_view(),
        name="api-queue-scores",
    ),
    # annotation time: the interaction log, timing studies, reports (annotator/api/timing.py)
    *timing.urlpatterns,
]
