"""Domain errors raised by actions. The API edge maps each to an HTTP status and a stable code."""

from __future__ import annotations

import re
import tempfile


def server_folders() -> list[str]:
    """Folders of this server whose paths must never reach a user: the temporary folder (uploads are
    unpacked there), the media and upload folders, the code."""
    from django.conf import settings

    folders = {tempfile.gettempdir()}
    for name in ("MEDIA_ROOT", "FILE_UPLOAD_TEMP_DIR", "BASE_DIR", "EMBEDDING_DIR", "MODEL_DIR"):
        value = getattr(settings, name, None) if settings.configured else None
        if value:
            folders.add(str(value))
    return sorted((f.rstrip("/") for f in folders if len(f) > 1), key=len, reverse=True)


def without_server_paths(text: str) -> str:
    """``text`` with every path under a server folder replaced by "a file on the server" (library errors
    quote the files they fail on, e.g. Pillow's "cannot identify image file '/tmp/…/upload00000.png'")."""
    for folder in server_folders():
        text = re.sub(re.escape(folder) + r"""(?:/[^\s'"()\[\],;:]*)*""", "a file on the server", text)
    return text


class DomainError(Exception):
    """A request that cannot be carried out, with a message a user can act on (never a server path)."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        message = without_server_paths(message)
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
