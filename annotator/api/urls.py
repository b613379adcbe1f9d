from django.urls import path

from annotator.api import views

urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", views.ProjectDetailView.as_view(), name="api-project"),
]
