"""Two saves on the same base revision at the same moment: exactly one wins, the other gets a 409."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.db import connection
from django.test import Client

from annotator import rle
from annotator.models import MaskRevision

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_saves_on_one_base_cannot_both_win(personas, series, label):
    if connection.vendor == "sqlite":
        pytest.skip("runs on PostgreSQL (tests/postgres): SQLite serialises writers by itself")
    clients = [personas.client_for("annotator") for _ in range(2)]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def save(client: Client, z: int) -> None:
        mask = np.zeros((8, 8), bool)
        mask[z, z] = True
        barrier.wait()
        response = client.post(
            f"/api/series/{series.id}/masks/{label.id}/revisions/",
            {"base_revision": None, "source": "manual", "slices": {z: rle.encode(mask)}},
            content_type="application/json",
        )
        statuses.append(response.status_code)
        connection.close()

    threads = [threading.Thread(target=save, args=(client, z)) for z, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409]
    assert MaskRevision.objects.count() == 1
