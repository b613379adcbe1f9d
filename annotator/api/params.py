"""Query parameters of the REST API, parsed once: a bad value is a 400 that says which parameter, never a 500."""

from __future__ import annotations

from rest_framework.request import Request

from annotator.errors import InvalidInput

# Ids are 64-bit database keys: 18 digits always fit, and a longer "id" cannot name anything.
MAX_ID_DIGITS = 18


def id_param(request: Request, name: str) -> int | None:
    """``?name=<id>`` as an int, None when absent or empty; anything but a whole number is refused."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        raise InvalidInput(
            f"The query parameter {name!r} must be an id (a whole number), not {raw[:40]!r}.",
            details={"parameter": name},
        )
    return int(raw)


def choice_param(request: Request, name: str, choices: list[str], default: str) -> str:
    """``?name=`` as one of ``choices`` (``default`` when absent); anything else is refused, naming them."""
    raw = request.query_params.get(name) or default
    if raw not in choices:
        raise InvalidInput(
            f"The query parameter {name!r} must be one of {', '.join(choices)}; not {raw[:40]!r}.",
            details={"parameter": name},
        )
    return raw
