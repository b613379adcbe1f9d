"""The simulated studies' own project imports the pyradiomics lesions once: a second `simulate_study` finds
them again (series are not named after the uploaded files, so the project keeps which is which)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest

from annotator.actions import simulation
from annotator.models import Series
from tests.segmentation.conftest import make_series

pytestmark = pytest.mark.django_db


def test_the_lesions_are_imported_once_and_found_again(db):
    imported: list[str] = []

    def fake_import(owner, project, uploads, **options):
        imported.append(uploads[0][0])
        series = make_series(project, np.zeros((2, 4, 4), dtype=np.int16))
        return SimpleNamespace(result={"series": [series.pk]})

    with (
        mock.patch("scripts.fetch_data.pyradiomics", return_value=Path("/nowhere")),
        mock.patch.object(simulation, "do_import", side_effect=fake_import),
    ):
        project = simulation.lesions_project()
        assert imported == [f"{name}_image.nrrd" for name, _ in simulation.LESIONS]
        again = simulation.lesions_project()
        assert again.pk == project.pk and len(imported) == len(simulation.LESIONS)
        # A lesion's series deleted meanwhile is imported again, and only that one
        Series.objects.filter(pk=project.settings[simulation.IMPORTED_SETTING]["brain2"]).delete()
        simulation.lesions_project()
    assert imported[len(simulation.LESIONS) :] == ["brain2_image.nrrd"]
    assert Series.objects.filter(study__project=project).count() == len(simulation.LESIONS)
