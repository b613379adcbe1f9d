from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotator import views
from annotator.api import urls as api_urls

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(template_name="annotator/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include(api_urls)),
    path("", views.project_list, name="project-list"),
    path("projects/<int:project_id>/", views.project_page, name="project-page"),
    path("projects/<int:project_id>/models/", views.models_page, name="models-page"),
    path("series/<int:series_id>/", views.viewer_page, name="viewer"),
    path(
        "projects/<int:project_id>/timing-studies/<int:study_id>/",
        views.timing_study_page,
        name="timing-study",
    ),
    path(
        "projects/<int:project_id>/timing-studies/<int:study_id>/report/",
        views.timing_study_page,
        {"report": True},
        name="timing-report",
    ),
    path("invite/<str:token>/", views.join_page, name="join"),
]

# Under /api/ these answer in the API's JSON error shape (annotator/api/errors.py).
handler400 = "annotator.api.errors.bad_request"
handler404 = "annotator.api.errors.not_found"
handler500 = "annotator.api.errors.server_error"
