"""Domain errors raised by actions. The API edge maps each to an HTTP status and a stable code."""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be carried out, with a message a user can act on."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(DomainError):
    code = "invalid_input"


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Gone(DomainError):
    """Something that existed and no longer can be used (an expired invitation link)."""

    code = "gone"
    status = 410


class TooLarge(DomainError):
    code = "too_large"
    status = 413


class UnsupportedMedia(DomainError):
    code = "unsupported_media"
    status = 415


class UpstreamFailed(DomainError):
    """A server Delineate talks to on the user's behalf (a project's PACS) is unreachable, refused the request
    or answered with something unusable; ``details["reason"]`` says which."""

    code = "upstream_failed"
    status = 502
