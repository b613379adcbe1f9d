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

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotator.errors import DomainError, Forbidden, NotFound

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
    handled = drf_exception_handler(exc, context)
    if handled is not None and isinstance(exc, drf_exceptions.APIException):
        detail = handled.data
        message = (
            detail.get("detail") if isinstance(detail, dict) and "detail" in detail else "Invalid request."
        )
        details = {} if isinstance(detail, dict) and "detail" in detail else {"fields": detail}
        handled.data = error_body(exc.default_code, str(message), details)
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
