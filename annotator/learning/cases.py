"""Training cases from a project's saved masks (the Django side of ml_worker.training.cases).

Which masks: by the project's rule, the revisions reviewers approved (and consensus masks), or every mask's
latest saved revision (annotator/actions/approvals.py). Each slice of such a revision holding at least
``min_area`` pixels is a case: the slice's cached embedding (through the active version's encoder, shared
by every version), the final mask, and the model's first prediction of that slice, which is kept in the
revision that last changed the slice (annotator/actions/masks.py: every save stores the model's first
prediction beside the slices it changed).

The held-out split is by series and frozen: a series the project recorded as held out stays held out; a new
series goes by the hash of ml_worker.training.cases.is_heldout. With no held-out series at all (a small
project), the series with the smallest hash is held out, so a first run can be evaluated; the training run
records its held-out series so that later runs keep them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from annotator.actions import approvals, masks
from annotator.imaging.volumes import mask_shape
from annotator.models import Label, MaskRevision, Project, Series
from annotator.segmentation import model_preset
from ml_worker.training.cases import TrainingCase, group_fraction, is_heldout

Progress = Callable[[int, int], None]


class CasesError(ValueError):
    """The project has not enough masks to train and evaluate; the message says what to annotate."""


@dataclass(frozen=True)
class CaseRef:
    """A case before its embedding is loaded."""

    case_id: str
    series: Series
    label: Label
    slice_index: int
    revision: MaskRevision
    final_mask: np.ndarray
    first_prediction: np.ndarray | None


@dataclass
class ProjectCases:
    train: list[TrainingCase] = field(default_factory=list)
    heldout: list[TrainingCase] = field(default_factory=list)
    heldout_series: list[int] = field(default_factory=list)
    masks_used: int = 0


def selected_masks(project: Project, rule: str) -> list[approvals.SelectedMask]:
    series = Series.objects.filter(study__project=project)
    return approvals.approved_pairs(series) if rule == "approved" else approvals.head_pairs(series)


def first_predictions_of(revision: MaskRevision) -> dict[int, np.ndarray | None]:
    """Per slice of the mask, the model's first prediction in the revision that last changed the slice
    (None when that save was drawn without the model)."""
    found: dict[int, np.ndarray | None] = {}
    history = MaskRevision.objects.filter(track_id=revision.track_id, number__lte=revision.number)
    for earlier in history.order_by("-number"):
        changed = [z for z in earlier.changed_slices if z not in found]
        if not changed:
            continue
        stored = masks.read_first_predictions(earlier)
        for z in changed:
            found[z] = stored.get(z)
    return found


def case_refs(project: Project, rule: str, min_area: int) -> list[CaseRef]:
    refs: list[CaseRef] = []
    labels = {label.pk: label for label in Label.all_objects.filter(project=project)}
    for chosen in selected_masks(project, rule):
        series = Series.objects.select_related("study__project").get(pk=chosen.series_id)
        volume = masks.read_volume(chosen.revision, mask_shape(series))
        firsts = first_predictions_of(chosen.revision)
        who = chosen.annotator.get_username() if chosen.annotator is not None else "consensus"
        label = labels[chosen.label_id]
        for z in np.flatnonzero(volume.reshape(volume.shape[0], -1).sum(axis=1) >= min_area):
            first = firsts.get(int(z))
            refs.append(
                CaseRef(
                    case_id=f"series{series.pk}:axial:{int(z)}:label{label.value}:{who}",
                    series=series,
                    label=label,
                    slice_index=int(z),
                    revision=chosen.revision,
                    final_mask=volume[z],
                    first_prediction=first if first is not None and first.shape == volume[z].shape else None,
                )
            )
    return refs


def choose_heldout(series_ids: set[int], fixed: list[int], fraction: float, salt: str) -> set[int]:
    """The held-out series among ``series_ids``: the recorded ones, the hash's choice, and with none at all
    (and two or more series) the series with the smallest hash."""
    held = {s for s in series_ids if s in fixed or is_heldout(str(s), fraction, salt)}
    if not held and len(series_ids) >= 2:
        held = {min(series_ids, key=lambda s: group_fraction(str(s), salt))}
    return held


def heldout_salt(project: Project) -> str:
    return f"delineate-project-{project.pk}-heldout"


def load_cases(
    project: Project,
    *,
    rule: str,
    min_area: int,
    max_cases: int,
    fraction: float,
    fixed_heldout: list[int],
    embed: Callable[[Series, int, str], np.ndarray],
    progress: Progress | None = None,
) -> ProjectCases:
    """The project's cases, split into train and held-out by series, each side capped (hardest-looking
    first: slices the model proposed before the team corrected them come before hand-drawn ones)."""
    refs = case_refs(project, rule, min_area)
    if not refs:
        what = "approved by a reviewer" if rule == "approved" else "saved"
        raise CasesError(f"No masks {what} in this project yet: there is nothing to train on.")
    series_ids = {ref.series.pk for ref in refs}
    held = choose_heldout(series_ids, fixed_heldout, fraction, heldout_salt(project))
    train_refs = [r for r in refs if r.series.pk not in held]
    heldout_refs = [r for r in refs if r.series.pk in held]
    if not train_refs or not heldout_refs:
        raise CasesError(
            f"The masks cover {len(series_ids)} series; training needs masks on at least two series "
            "(whole series are held out to measure the new version)."
        )
    train_refs = sorted(train_refs, key=lambda r: r.first_prediction is None)[:max_cases]
    heldout_refs = sorted(heldout_refs, key=lambda r: r.first_prediction is None)[: max(20, max_cases // 4)]
    total = len(train_refs) + len(heldout_refs)
    done = 0

    def build(ref: CaseRef) -> TrainingCase:
        nonlocal done
        preset = model_preset(ref.series, ref.label)
        embedding = embed(ref.series, ref.slice_index, preset)
        spacing = ref.series.spacing
        done += 1
        if progress is not None:
            progress(done, total)
        return TrainingCase(
            case_id=ref.case_id,
            series_id=str(ref.series.pk),
            slice_index=ref.slice_index,
            label=ref.label.value,
            embedding=embedding,
            image_size=(int(ref.final_mask.shape[0]), int(ref.final_mask.shape[1])),
            final_mask=ref.final_mask,
            first_prediction=ref.first_prediction,
            spacing=(float(spacing[-2]), float(spacing[-1])) if len(spacing) >= 2 else (1.0, 1.0),
            meta={"preprocessing": preset, "revision": ref.revision.pk},
        )

    return ProjectCases(
        train=[build(r) for r in train_refs],
        heldout=[build(r) for r in heldout_refs],
        heldout_series=sorted(held),
        masks_used=len({r.revision.pk for r in refs}),
    )
