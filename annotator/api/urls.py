from django.urls import path

from annotator.api import masks, studies, views

urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", views.ProjectDetailView.as_view(), name="api-project"),
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
]
