"""HTTP middleware of the project."""

from __future__ import annotations

import logging

from django.db import OperationalError
from django.http import JsonResponse

log = logging.getLogger(__name__)

BUSY_RETRY_AFTER_S = 2


def is_busy_database(exc: BaseException) -> bool:
    """SQLite's "database is locked" (a writer waited longer than the busy timeout): load, not a bug."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


class BusyDatabaseMiddleware:
    """A write that waited for SQLite's lock longer than SQLITE_BUSY_TIMEOUT_S answers 503 with
    Retry-After in the API's error shape, never a 500: nothing was written, the client may try again."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_busy_database(exception):
            return None
        log.warning("%s %s: the database stayed locked; answered 503", request.method, request.path)
        response = JsonResponse(
            {
                "error": {
                    "code": "busy",
                    "message": "The server is busy saving other changes; nothing was saved. Try again.",
                    "details": {},
                }
            },
            status=503,
        )
        response["Retry-After"] = str(BUSY_RETRY_AFTER_S)
        return response
