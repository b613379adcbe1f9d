"""Files an upload could not import, and why: a batch with some bad files imports the good ones and lists
each refused file with its reason (``annotator.actions.imports.do_import_partial``).

Who sees which name: the answer to the upload names each refused file as the uploader's browser named it
(their own file, sent back to them once, never stored). Anything stored (a job's payload, message or
result, a study or series description) describes files by type and position only ("DICOM series 2
(20 files)", "NIfTI file 3"), never by the uploaded name, which may hold a patient's name or ID.
"""

from __future__ import annotations

from dataclasses import dataclass

from annotator.errors import DomainError, InvalidInput


@dataclass(frozen=True)
class Refusal:
    """One refused file (or series of files): ``file`` as described to the reader, ``reason`` without it;
    ``error`` is the domain error behind it (its status answers an upload where nothing was left)."""

    file: str
    reason: str
    error: DomainError

    @classmethod
    def of(cls, file: str, error: DomainError, *, named: str | None = None) -> Refusal:
        """``error``'s message as the reason, without the ``"<name>: "`` its message starts with (``named``
        when the error names the file otherwise than ``file``)."""
        message = error.message
        for prefix in (f"{named}: " if named else None, f"{file}: "):
            if prefix and message.startswith(prefix):
                message = message[len(prefix) :]
                break
        return cls(file, message, error)

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


def nothing_imported(refused: list[Refusal]) -> DomainError:
    """The error answering an upload of which no file could be imported: a single refusal's own error, or
    one naming the first few, with the status they share (400 when they differ); ``details["refused"]``
    lists them all."""
    listed = [r.as_dict() for r in refused]
    if len(refused) == 1:
        error = refused[0].error
        error.details = {**error.details, "refused": listed}
        return error
    kinds = {type(r.error) for r in refused}
    first = "; ".join(f"{r.file}: {r.reason}" for r in refused[:3])
    more = f" (and {len(refused) - 3} more)" if len(refused) > 3 else ""
    message = f"None of the {len(refused)} files could be imported. {first}{more}"
    cls = kinds.pop() if len(kinds) == 1 else InvalidInput
    return cls(message, details={"refused": listed})
