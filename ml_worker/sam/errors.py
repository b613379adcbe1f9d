"""Errors raised by the model layer.

Bad user input (prompts, images) raises subclasses of ``ValueError`` so that callers can map them to a
"400"-style answer without catching unrelated failures; broken files and runtimes raise their own types.
"""

from __future__ import annotations


class SamError(Exception):
    """Base class of every error raised by ``ml_worker.sam``."""


class PromptError(SamError, ValueError):
    """A prompt cannot be decoded: empty or inverted box, NaN coordinates, points without labels, ..."""


class ImageInputError(SamError, ValueError):
    """An image handed to the encoder or to a transform has the wrong shape, dtype or values."""


class CheckpointError(SamError, RuntimeError):
    """A checkpoint file is missing, unregistered, has the wrong SHA-256 or does not fit the model."""


class UnknownModelError(SamError, KeyError):
    """The model name is not in ``MODEL_REGISTRY``."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class BackendUnavailable(SamError, RuntimeError):
    """An inference backend cannot be used on this machine (missing package, failed conversion, ...)."""
