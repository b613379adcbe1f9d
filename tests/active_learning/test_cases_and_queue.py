"""Training cases from saved revisions and the Next-case ordering by the model's doubt (issue 11), without the
model: embeddings are stand-ins here (tests/active_learning/test_training_job.py uses real ones)."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.actions import tasks
from annotator.actions.masks import SaveRequest, do_save_revision
from annotator.learning.cases import CasesError, choose_heldout, first_predictions_of, load_cases
from annotator.models import Assignment, MaskTrack, Membership, QueueScore, Role
from scripts.seed_al import seed
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def fake_embed(series, index: int, preset: str) -> np.ndarray:
    assert preset == "lung"  # the label's model window
    return np.zeros((256, 64, 64), dtype=np.float16)


@pytest.fixture
def seeded():
    users = [UserFactory(username=n) for n in ("olivia", "anna", "rui")]
    return seed(*users, slices=3, approve=False), users


def cases_of(project_id: int, rule: str, fixed=()):
    from annotator.models import Project

    return load_cases(
        Project.objects.get(pk=project_id),
        rule=rule,
        min_area=20,
        max_cases=400,
        fraction=0.2,
        fixed_heldout=list(fixed),
        embed=fake_embed,
    )


def test_only_approved_masks_train_unless_the_project_takes_every_saved_mask(seeded):
    ids, (owner, anna, rui) = seeded
    # Given masks submitted but not yet approved
    with pytest.raises(CasesError, match="No masks approved"):
        cases_of(ids["project"], "approved")
    # The "any saved" rule takes them
    saved = cases_of(ids["project"], "saved")
    assert saved.train and saved.heldout
    # When the reviewer approves one series' case, that one alone is not enough (nothing to hold out) ...
    membership = Membership.objects.get(user=rui)
    first = Assignment.objects.get(pk=ids["series"][0]["assignment"])
    tasks.do_transition(rui, membership, first, "approve")
    with pytest.raises(CasesError, match="at least two series"):
        cases_of(ids["project"], "approved")
    # ... and with both approved, both series are used, one of them held out whole
    second = Assignment.objects.get(pk=ids["series"][1]["assignment"])
    tasks.do_transition(rui, membership, second, "approve")
    approved = cases_of(ids["project"], "approved")
    train_series = {c.series_id for c in approved.train}
    heldout_series = {c.series_id for c in approved.heldout}
    assert len(train_series) == len(heldout_series) == 1 and not train_series & heldout_series
    assert approved.heldout_series == [int(s) for s in heldout_series]


def test_a_series_once_held_out_stays_held_out():
    fraction, salt = 0.2, "project-salt"
    first = choose_heldout({1, 2}, [], fraction, salt)
    assert len(first) == 1
    # Recorded, it stays held out however many series arrive later, even where the hash alone would not
    more = choose_heldout(set(range(1, 40)), sorted(first), fraction, salt)
    assert first <= more and len(more) < 39


def test_each_slice_keeps_the_first_prediction_of_the_save_that_last_changed_it(seeded):
    ids, (owner, anna, rui) = seeded
    series_id = ids["series"][0]["series"]
    track = MaskTrack.objects.get(series_id=series_id, annotator=anna)
    from annotator.models import Label, Series

    series, label = Series.objects.get(pk=series_id), Label.objects.get(pk=ids["label"])
    shape = tuple(series.shape[1:])
    proposal = np.zeros(shape, dtype=bool)
    proposal[200:260, 200:260] = True
    corrected = proposal.copy()
    corrected[200:210] = False
    # When the annotator corrects slice 1 starting from the model's proposal
    revision = do_save_revision(
        anna,
        series,
        label,
        Role.ANNOTATOR,
        SaveRequest(track.head_id, "corrected", {1: corrected}, "lite_medsam@abc", {1: proposal}),
    )
    revision = revision[0] if isinstance(revision, tuple) else revision
    firsts = first_predictions_of(revision)
    # Then slice 1's first prediction is that proposal; the other slices were drawn by hand
    assert (firsts[1] == proposal).all()
    assert all(firsts[z] is None for z in firsts if z != 1)
    case = next(
        c
        for c in cases_of(ids["project"], "saved").train + cases_of(ids["project"], "saved").heldout
        if c.case_id.startswith(f"series{series_id}:axial:1:")
    )
    assert case.correction_effort == pytest.approx(
        1 - 2 * corrected.sum() / (corrected.sum() + proposal.sum())
    )


def test_next_case_follows_the_project_strategy_scores(personas):
    project = personas.project
    low, high, unscored = (TaskFactory(series__study__project=project, priority=p) for p in (5, 0, 9))
    QueueScore.objects.create(task=low, strategy="lowest-iou", score=-0.9)
    QueueScore.objects.create(task=high, strategy="lowest-iou", score=-0.2)
    membership = Membership.objects.get(user=personas.annotator)
    # By priority (the default), the owner's priorities decide
    assert tasks.do_next_case(personas.annotator, membership).task == unscored
    Assignment.objects.all().delete()
    # By the model's doubt: the highest score first, tasks not scored yet after the scored ones
    project.settings = {**project.settings, "queue_ordering": "lowest-iou"}
    project.save()
    _, ordered = tasks.queue_for(personas.annotator, project)
    assert ordered == [high, low, unscored]
    membership = Membership.objects.select_related("project").get(user=personas.annotator)
    assert tasks.do_next_case(personas.annotator, membership).task == high
