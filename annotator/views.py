"""Page views and the health endpoint. Thin: parse, call, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from annotator import access, health


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, report = health.stack_health()
    return JsonResponse(report, status=200 if healthy else 503)


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = access.projects_for(request.user).order_by("name")
    return render(request, "annotator/project_list.html", {"projects": projects})
