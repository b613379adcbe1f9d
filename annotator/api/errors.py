"""The one place where domain errors become HTTP responses: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotator.errors import DomainError


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", str(exc) or "Not found."), status=404)
    if isinstance(exc, PermissionDenied):
        return Response(error_body("forbidden", str(exc) or "Not allowed."), status=403)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, drf_exceptions.APIException):
        detail = response.data
        message = (
            detail.get("detail") if isinstance(detail, dict) and "detail" in detail else "Invalid request."
        )
        details = {} if isinstance(detail, dict) and "detail" in detail else {"fields": detail}
        response.data = error_body(exc.default_code, str(message), details)
    return response
