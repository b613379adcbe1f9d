"""The CT window presets: the one definition the model input, the stored series and the browser all use.

A CT slice is windowed (``level ± width / 2`` → 0–255) before the model sees it; MedSAM's default CT input
window is soft tissue 40/400. The server stores these presets on every CT series it imports and serves them
to the browser through the API (series ``window_presets``; ``GET /api/window-presets/``).
"""

from __future__ import annotations

from typing import NamedTuple, TypedDict


class WindowPreset(NamedTuple):
    level: float
    width: float


WINDOW_PRESETS: dict[str, WindowPreset] = {
    "soft_tissue": WindowPreset(40, 400),
    "lung": WindowPreset(-600, 1500),
    "bone": WindowPreset(400, 1800),
    "brain": WindowPreset(40, 80),
}
DEFAULT_CT_WINDOW = "soft_tissue"


class NamedWindow(TypedDict):
    name: str
    level: float
    width: float


def named_presets() -> list[NamedWindow]:
    """The presets as ``{"name", "level", "width"}`` records, in their canonical order."""
    return [
        {"name": name, "level": float(p.level), "width": float(p.width)} for name, p in WINDOW_PRESETS.items()
    ]
