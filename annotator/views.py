"""Page views and the health endpoint. Thin: parse, call, render."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from annotator import access, frontend, health
from annotator.actions import members
from annotator.api.errors import page_errors
from annotator.errors import Gone, InvalidInput, NotFound


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, report = health.stack_health()
    return JsonResponse(report, status=200 if healthy else 503)


def render_app(request: HttpRequest, page: str, title: str, **context: object) -> HttpResponse:
    """The single-page shell: the built bundle plus the page name and ids as data attributes."""
    try:
        bundle, bundle_error = frontend.bundle(), None
    except frontend.FrontendNotBuilt as exc:
        bundle, bundle_error = None, str(exc)
    return render(
        request,
        "annotator/app.html",
        {"page": page, "title": title, "bundle": bundle, "bundle_error": bundle_error, **context},
    )


@login_required
@ensure_csrf_cookie
def project_list(request: HttpRequest) -> HttpResponse:
    projects = access.projects_for(request.user).order_by("name")
    return render_app(request, "projects", "Projects", projects=projects)


@login_required
@ensure_csrf_cookie
@page_errors
def project_page(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = access.membership_for(request.user, project_id)
    return render_app(
        request, "project", membership.project.name, project_id=project_id, role=membership.role
    )


@login_required
@ensure_csrf_cookie
@page_errors
def models_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """A project's model versions (issue 11): metrics, training, promote and roll back."""
    membership = access.membership_for(request.user, project_id)
    return render_app(
        request,
        "models",
        f"Model versions · {membership.project.name}",
        project_id=project_id,
        role=membership.role,
    )


@login_required
@ensure_csrf_cookie
@page_errors
def viewer_page(request: HttpRequest, series_id: int) -> HttpResponse:
    series, membership = access.series_with_membership(request.user, series_id)
    return render_app(
        request,
        "viewer",
        str(series),
        project_id=membership.project_id,
        series_id=series.id,
        role=membership.role,
    )


@login_required
@ensure_csrf_cookie
@page_errors
def timing_study_page(
    request: HttpRequest, project_id: int, study_id: int, report: bool = False
) -> HttpResponse:
    """A timing study's participant page (instructions and their tasks in order), or its report page."""
    study, membership = access.timing_study_with_membership(request.user, study_id)
    if study.project_id != project_id:
        raise NotFound("No such timing study.")
    if report:
        access.check_role(membership, access.REVIEWERS)
    return render_app(
        request,
        "study-report" if report else "study",
        f"{study.name}{' report' if report else ''}",
        project_id=project_id,
        role=membership.role,
    )


@never_cache
@ensure_csrf_cookie
def join_page(request: HttpRequest, token: str) -> HttpResponse:
    """The page of an e-mail invitation's link: choose a username and a password, join the project."""
    try:
        invitation = members.pending_by_token(token)
    except (NotFound, Gone) as exc:
        status = 410 if isinstance(exc, Gone) else 404
        return render(request, "annotator/join.html", {"problem": exc.message}, status=status)
    context = {"invitation": invitation, "username": ""}
    if request.method == "POST":
        context["username"] = request.POST.get("username", "")
        try:
            user = members.do_join(
                token,
                request.POST.get("username", ""),
                request.POST.get("password", ""),
                request.POST.get("password_again", ""),
            )
        except InvalidInput as exc:
            context["error"] = exc.message
            return render(request, "annotator/join.html", context, status=400)
        except (NotFound, Gone) as exc:
            return render(request, "annotator/join.html", {"problem": exc.message}, status=410)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("project-page", project_id=invitation.project_id)
    return render(request, "annotator/join.html", context)
