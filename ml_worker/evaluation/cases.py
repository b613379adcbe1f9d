"""What the evaluation loop reads from a case: a :class:`~.dataset.Case` read from a dataset, or an
:class:`EmbeddedCase` whose slice embedding is already known (cached for training)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class CaseLike(Protocol):
    """What :func:`evaluate_case` reads from a case (a :class:`Case` has it all; ``image`` is only read
    when no embedding is given)."""

    @property
    def case_id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def slice_index(self) -> int | None: ...
    @property
    def label(self) -> int: ...
    @property
    def reference(self) -> np.ndarray: ...
    @property
    def spacing(self) -> tuple[float, float]: ...
    @property
    def preprocessing(self) -> str: ...


@dataclass(frozen=True)
class EmbeddedCase:
    """A case whose slice embedding is already known (e.g. cached for training): evaluated without the
    encoder. ``reference`` ``(H, W)`` bool; ``embedding`` ``(C, h, w)`` (float16 is fine)."""

    case_id: str
    source: str
    slice_index: int | None
    label: int
    reference: np.ndarray
    spacing: tuple[float, float]
    preprocessing: str
    embedding: np.ndarray
