"""The one place where domain errors become HTTP responses.

The REST API answers ``{"error": {"code", "message", "details"}}`` with the error's status (``exception_handler``,
set as DRF's handler in settings); the HTML pages raise Django's own 404 / 403 so they show its pages
(``page_errors``). Actions and access.py raise only the app's errors (annotator/errors.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotator.errors import DomainError, Forbidden, InvalidInput, NotFound, TooLarge

P = ParamSpec("P")
R = TypeVar("R")


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:  # annotator.ratelimit.RateLimited (429)
            response["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return response
    # Django's own (a get_object_or_404 in a library view), with the same bodies as ours.
    if isinstance(exc, Http404):
        return Response(error_body(NotFound.code, str(exc) or "Not found."), status=NotFound.status)
    if isinstance(exc, PermissionDenied):
        return Response(error_body(Forbidden.code, str(exc) or "Not allowed."), status=Forbidden.status)
    if isinstance(exc, RequestDataTooBig):  # Django refuses to read such a body (DATA_UPLOAD_MAX_MEMORY_SIZE)
        most = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = f"The request body is larger than {most} bytes; send less (uploads go to the imports URL)."
        return Response(error_body(TooLarge.code, message), status=TooLarge.status)
    if isinstance(exc, OverflowError | DataError):  # an id or number no database column can hold
        message = "A number in the request is out of range."
        return Response(error_body(InvalidInput.code, message), status=InvalidInput.status)
    if isinstance(exc, SuspiciousOperation):
        return Response(
            error_body(InvalidInput.code, "The request is malformed."), status=InvalidInput.status
        )
    handled = drf_exception_handler(exc, context)
    if handled is not None and isinstance(exc, drf_exceptions.APIException):
        detail = handled.data
        message = (
            str(detail.get("detail"))
            if isinstance(detail, dict) and "detail" in detail
            else "Invalid request."
        )
        details = {} if isinstance(detail, dict) and "detail" in detail else {"fields": detail}
        handled.data = error_body(exc.default_code, message, details)
    return handled


def page_errors(view: Callable[P, R]) -> Callable[P, R]:
    """For HTML page views: ``NotFound`` and ``Forbidden`` become Django's 404 and 403 pages."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return view(*args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc

    return wrapped


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's handler404: a URL nothing answers is a JSON 404 under /api/, the usual page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body(NotFound.code, "No such API endpoint."), status=404)
    return defaults.page_not_found(request, exception or Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500: under /api/, the error shape with no detail (the log has the traceback)."""
    if _is_api(request):
        message = "The server failed to answer this request; nothing more is known here. Try again later."
        return JsonResponse(error_body("server_error", message), status=500)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's handler400 (a body too large, a malformed request outside DRF): JSON under /api/."""
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            most = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = error_body(TooLarge.code, f"The request body is larger than {most} bytes.")
            return JsonResponse(body, status=TooLarge.status)
        return JsonResponse(error_body(InvalidInput.code, "The request is malformed."), status=400)
    return defaults.bad_request(request, exception or SuspiciousOperation())
