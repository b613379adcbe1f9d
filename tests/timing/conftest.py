from __future__ import annotations

import numpy as np
import pytest

from annotator.models import Label
from tests.segmentation.conftest import make_series
from tests.segmentation.test_consumer_prompts import sent  # noqa: F401 (the prompts handed to workers)


@pytest.fixture
def ct(personas):
    return make_series(personas.project, np.zeros((5, 32, 48), dtype=np.int16))


@pytest.fixture
def liver(personas):
    return Label.objects.create(project=personas.project, name="liver", value=1, color="#ff0000")


def events(
    series_id: int, label_id: int, *items: tuple, start_seq: int = 0, t0: float = 1.7e12
) -> list[dict]:
    """(seconds, kind[, fields]) → wire events on a series and label, from client time t0 (ms)."""
    out = []
    for n, item in enumerate(items):
        seconds, kind, *rest = item
        out.append(
            {
                "seq": start_seq + n,
                "kind": kind,
                "t": t0 + seconds * 1000,
                "series_id": series_id,
                "label_id": label_id,
                **(rest[0] if rest else {}),
            }
        )
    return out
