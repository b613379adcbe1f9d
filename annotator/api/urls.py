from django.urls import path

from annotator.api import masks, views

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
]
