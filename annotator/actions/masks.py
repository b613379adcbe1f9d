"""Saving, reading and restoring mask revisions. Saves never overwrite: each one is a new revision."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q, QuerySet

from annotator import access, events, rle, visibility
from annotator.errors import Conflict, Forbidden, InvalidInput, NotFound
from annotator.imaging.volumes import mask_shape as mask_shape  # re-exported: views and exports use it
from annotator.messages import RevisionCreated, RevisionSummary
from annotator.models import (
    Label,
    MaskRevision,
    MaskSource,
    MaskTrack,
    Membership,
    ModelVersion,
    Role,
    Series,
)
from ml_worker.sam.build import MODEL_REGISTRY


def pack(volume: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, mask=np.packbits(volume.astype(bool), axis=None), shape=np.array(volume.shape)
    )
    return buffer.getvalue()


def unpack(data: bytes) -> np.ndarray:
    with np.load(io.BytesIO(data)) as archive:
        shape = tuple(int(v) for v in archive["shape"])
        return np.unpackbits(archive["mask"], count=int(np.prod(shape))).astype(bool).reshape(shape)


def pack_slices(slices: dict[int, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    arrays = {f"z{z}": mask.astype(bool) for z, mask in slices.items()}
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub lets **arrays fill allow_pickle
    return buffer.getvalue()


def unpack_slices(data: bytes) -> dict[int, np.ndarray]:
    with np.load(io.BytesIO(data)) as archive:
        return {int(key[1:]): archive[key] for key in archive.files}


def read_volume(revision: MaskRevision | None, shape: tuple[int, int, int]) -> np.ndarray:
    if revision is None:
        return np.zeros(shape, dtype=bool)
    with revision.data.open("rb") as handle:
        return unpack(handle.read())


def read_first_predictions(revision: MaskRevision) -> dict[int, np.ndarray]:
    if not revision.first_prediction:
        return {}
    with revision.first_prediction.open("rb") as handle:
        return unpack_slices(handle.read())


@dataclass
class SaveRequest:
    base_revision_id: int | None
    source: str
    slices: dict[int, np.ndarray]
    model_version: str = ""
    first_predictions: dict[int, np.ndarray] | None = None
    predicted_iou: dict[int, float] | None = None


def check_save(user: access.AnyUser, series: Series, label: Label, role: str, request: SaveRequest) -> None:
    if role not in (Role.OWNER, Role.ANNOTATOR):
        raise Forbidden("Reviewers cannot edit masks; ask an annotator or the owner.")
    if label.project_id != series.study.project_id:
        raise InvalidInput(f"Label {label.name!r} belongs to another project.")
    if request.source not in {MaskSource.MODEL, MaskSource.MANUAL, MaskSource.CORRECTED}:
        raise InvalidInput(f"Unknown mask source {request.source!r}.")
    if not request.slices:
        raise InvalidInput("A save needs at least one changed slice.")
    depth, height, width = mask_shape(series)
    for z, mask in {**request.slices, **(request.first_predictions or {})}.items():
        if not 0 <= z < depth:
            raise InvalidInput(f"Slice {z} is outside the series (0–{depth - 1}).")
        if mask.shape != (height, width):
            raise InvalidInput(f"The mask for slice {z} is {mask.shape}, the image is {(height, width)}.")


def _stale_message(track: MaskTrack, base_revision_id: int | None) -> str:
    # Read the head by its id in a statement of its own: on PostgreSQL a row locked FOR UPDATE after
    # waiting for a concurrent save carries the new head_id, but an outer join made in the same statement
    # still sees the snapshot taken before that save committed (head None: the race test caught it).
    head = None if track.head_id is None else MaskRevision.objects.filter(pk=track.head_id).first()
    if head is None:
        return "This mask has no saved revision yet, so it cannot be saved on top of one. Reload it."
    since = MaskRevision.objects.filter(track=track)
    if base_revision_id is not None:
        base = MaskRevision.objects.filter(pk=base_revision_id, track=track).first()
        since = since.filter(number__gt=base.number) if base else since
    authors = sorted({r.author.get_username() for r in since.select_related("author")})
    return (
        f"{', '.join(authors)} saved revision {head.number} of this mask since you loaded it. "
        "Reload it to merge your changes."
    )


def _check_head(track: MaskTrack, base_revision_id: int | None) -> None:
    if track.head_id != base_revision_id:
        raise Conflict(_stale_message(track, base_revision_id), details={"head_revision": track.head_id})


def do_save_revision(
    user: access.AnyUser,
    series: Series,
    label: Label,
    role: str,
    request: SaveRequest,
    *,
    skip_channel: str | None = None,
) -> MaskRevision:
    """Save ``request.slices`` on top of the track's head as a new revision.

    Refused with Conflict when the head is no longer ``request.base_revision_id`` (someone saved in
    between). Broadcasts ``revision.created`` to the series' subscribers once committed.

    The new volume depends only on the base revision, so it is composed and its files written before
    the write transaction; the transaction then only locks the track, checks that the head is still the
    base and inserts the row. Short write transactions keep SQLite's single writer free (the embedded
    default serves a small team) and row locks short on PostgreSQL.
    """
    check_save(user, series, label, role, request)
    user = access.signed_in(user)
    shape = mask_shape(series)
    track, _ = MaskTrack.objects.get_or_create(series=series, label=label, annotator=user)
    track = MaskTrack.objects.select_related("head").get(pk=track.pk)
    _check_head(track, request.base_revision_id)  # stale already: refuse before any work
    volume = read_volume(track.head, shape)
    for z, mask in request.slices.items():
        volume[z] = mask
    return _create_revision(
        track,
        user,
        volume,
        request.source,
        sorted(request.slices),
        base_revision_id=request.base_revision_id,
        model_version=request.model_version,
        first_predictions=request.first_predictions or {},
        predicted_iou={str(z): float(v) for z, v in (request.predicted_iou or {}).items()},
        skip_channel=skip_channel,
    )


def check_restore(user: access.AnyUser, role: str, track: MaskTrack) -> None:
    """An annotator restores their own mask's revisions; reviewers and owners those of the consensus."""
    if track.is_consensus:
        if role not in (Role.OWNER, Role.REVIEWER):
            raise Forbidden("Only reviewers and owners restore the consensus.")
        return
    if role not in (Role.OWNER, Role.ANNOTATOR):
        raise Forbidden("Reviewers cannot restore masks.")
    if track.annotator_id != user.pk:
        raise Forbidden("Only the annotator of a mask can restore its revisions.")


def do_restore_revision(
    user: access.AnyUser,
    revision: MaskRevision,
    role: str,
    base_revision_id: int | None,
    *,
    skip_channel: str | None = None,
) -> MaskRevision:
    """Make ``revision``'s content the head again, as a new revision (history is never rewritten)."""
    user = access.signed_in(user)
    track = MaskTrack.objects.select_related("head", "series").get(pk=revision.track_id)
    check_restore(user, role, track)
    _check_head(track, base_revision_id)
    shape = mask_shape(track.series)
    volume = read_volume(revision, shape)
    current = read_volume(track.head, shape)
    changed = np.flatnonzero((volume != current).reshape(shape[0], -1).any(axis=1)).tolist()
    return _create_revision(
        track,
        user,
        volume,
        MaskSource.RESTORED,
        changed,
        base_revision_id=base_revision_id,
        restored_from=revision,
        model_version=revision.model_version,
        skip_channel=skip_channel,
    )


def do_save_consensus(
    user: User, series: Series, label: Label, volume: np.ndarray, inputs: dict[str, Any]
) -> MaskRevision:
    """Save ``volume`` as the next revision of the consensus of ``label`` on ``series`` (its own track, no
    annotator; ``user`` is the author). Reviewers and owners only (check in annotator.actions.review)."""
    if volume.shape != mask_shape(series):
        raise InvalidInput(f"The consensus is {volume.shape}, the series {mask_shape(series)}.")
    track, _ = MaskTrack.objects.get_or_create(
        series=series, label=label, kind=MaskTrack.Kind.CONSENSUS, annotator=None
    )
    track = MaskTrack.objects.select_related("head").get(pk=track.pk)
    current = read_volume(track.head, volume.shape)
    changed = np.flatnonzero((volume != current).reshape(volume.shape[0], -1).any(axis=1)).tolist()
    # On the head just read: a consensus built at the same moment by another reviewer makes this a conflict.
    return _create_revision(
        track, user, volume, MaskSource.CONSENSUS, changed, base_revision_id=track.head_id, inputs=inputs
    )


def _create_revision(
    track: MaskTrack,
    user: User,
    volume: np.ndarray,
    source: str,
    changed: list[int],
    *,
    base_revision_id: int | None,
    model_version: str = "",
    first_predictions: dict[int, np.ndarray] | None = None,
    predicted_iou: dict[str, float] | None = None,
    restored_from: MaskRevision | None = None,
    skip_channel: str | None = None,
    inputs: dict[str, Any] | None = None,
) -> MaskRevision:
    """Write the revision's files, then, in one short transaction, check that the head is still
    ``base_revision_id`` and insert the row. A save that lost the race gets Conflict and its files are
    removed; the winner's files are never touched (each attempt writes files under its own names)."""
    parent = track.head
    number = (parent.number + 1) if parent else 1
    revision = MaskRevision(
        track=track,
        number=number,
        parent=parent,
        restored_from=restored_from,
        author=user,
        source=source,
        model_version=model_version,
        changed_slices=changed,
        predicted_iou=predicted_iou or {},
        voxel_count=int(volume.sum()),
        mask_slices=slices_with_mask(volume),
        inputs=inputs or {},
    )
    revision.data.save(f"r{number:05d}.npz", ContentFile(pack(volume)), save=False)
    if first_predictions:
        revision.first_prediction.save(
            f"r{number:05d}-first.npz", ContentFile(pack_slices(first_predictions)), save=False
        )
    # Independent annotators must not receive each other's saves (annotator.visibility); worked out before
    # the write transaction, which stays short.
    only_users = visibility.audience(track.series.study.project, track.series_id, track.annotator_id)
    owner = track_owner(track) or ""
    committed = False

    def mark_committed() -> None:
        nonlocal committed
        committed = True

    try:
        with transaction.atomic():
            locked = MaskTrack.objects.select_for_update().get(pk=track.pk)
            _check_head(locked, base_revision_id)
            revision.save()
            locked.head = revision
            locked.save(update_fields=["head"])
            # Registered first, so it runs first after the commit: a later hook that fails (a broadcast
            # while Redis is away) must never make us delete the files of a revision that is stored.
            transaction.on_commit(mark_committed)
            message = RevisionCreated(
                series_id=track.series_id,
                label_id=track.label_id,
                annotator=owner,
                consensus=track.is_consensus,
                revision=RevisionSummary.model_validate(revision_summary(revision)),
            )
            events.send_on_commit(
                events.series_group(track.series_id),
                message,
                skip_channel=skip_channel,
                only_users=only_users,
            )
    except BaseException:
        if not committed:
            for field in (revision.data, revision.first_prediction):
                if field.name:
                    field.storage.delete(field.name)
        raise
    return revision


def slices_with_mask(volume: np.ndarray) -> list[int]:
    """Indices of the slices of a (Z, Y, X) mask that hold any of it."""
    return np.flatnonzero(volume.reshape(volume.shape[0], -1).any(axis=1)).tolist()


def track_owner(track: MaskTrack | None) -> str | None:
    """The username of a track's annotator; None for the consensus."""
    if track is None or track.annotator is None:
        return None
    return track.annotator.get_username()


# -- reading -------------------------------------------------------------------------------------------


def head_tracks(series: Series) -> QuerySet[MaskTrack]:
    """Every mask track of ``series`` that has a saved revision (each annotator's, and the consensus)."""
    return MaskTrack.objects.filter(series=series, head__isnull=False).select_related("head", "annotator")


NO_SUCH_ANNOTATOR = "No such annotator in this project."


def readable_annotator(
    user: access.AnyUser, membership: Membership, series: Series, username: str | None
) -> User:
    """The annotator whose masks ``user`` reads: ``username``, or the caller when none is given.

    A username that is neither a member of the project nor the annotator of a mask of the series, and one
    whose masks the caller may not read (annotator.visibility), get the same ``NotFound``: the answer never
    tells whether a user exists.
    """
    if not username or username == user.get_username():
        return access.signed_in(user)
    project = membership.project
    annotator = (
        get_user_model()
        .objects.filter(username=username)
        .filter(Q(memberships__project=project) | Q(mask_tracks__series=series))
        .distinct()
        .first()
    )
    if annotator is None or not visibility.may_read_track(
        user, membership.role, project, series, annotator.pk
    ):
        raise NotFound(NO_SUCH_ANNOTATOR)
    return annotator


def readable_consensus(
    user: access.AnyUser, membership: Membership, series: Series, label: Label
) -> MaskTrack | None:
    """The consensus track of ``label`` on ``series`` (None when none was built), for a caller who may see
    colleagues' masks; others get the answer of an unknown annotator."""
    if not visibility.may_read_track(user, membership.role, membership.project, series, None):
        raise NotFound(NO_SUCH_ANNOTATOR)
    return consensus_track(series, label)


def consensus_track(series: Series, label: Label) -> MaskTrack | None:
    return (
        MaskTrack.objects.filter(series=series, label=label, kind=MaskTrack.Kind.CONSENSUS)
        .select_related("head")
        .first()
    )


def track_of(series: Series, label: Label, annotator: User) -> MaskTrack | None:
    return (
        MaskTrack.objects.filter(
            series=series, label=label, annotator=annotator, kind=MaskTrack.Kind.ANNOTATION
        )
        .select_related("head", "annotator")
        .first()
    )


def label_mask(
    series: Series,
    label: Label,
    track: MaskTrack | None,
    revision: MaskRevision | None,
    user: access.AnyUser,
) -> dict[str, Any]:
    """A mask of ``label`` (``revision`` of ``track``, or nothing saved yet) as RLE per non-empty slice."""
    shape = mask_shape(series)
    volume = read_volume(revision, shape)
    nonempty = np.flatnonzero(volume.reshape(shape[0], -1).any(axis=1))
    return {
        "label_id": label.id,
        "annotator": track_owner(track) if track else user.get_username(),
        "track": track.kind if track else MaskTrack.Kind.ANNOTATION,
        "shape": list(shape),
        "revision": revision_summary(revision) if revision else None,
        "slices": {int(z): rle.encode(volume[z]) for z in nonempty},
    }


def model_label(project_id: int, model_version: str) -> str:
    """The project's short name for the model a mask records (``name@checkpoint-prefix``): "v3" for a
    trained version, "base LiteMedSAM" for the shipped model; the string itself for any other."""
    name, _, prefix = model_version.partition("@")
    if not prefix:
        return model_version
    row = ModelVersion.objects.filter(
        project_id=project_id, model_name=name, sha256__startswith=prefix
    ).first()
    spec = MODEL_REGISTRY.get(name)
    title = (spec.title if spec else "") or name
    if row is not None:
        return f"base {title}" if row.is_base else f"v{row.number}"
    shipped = spec is not None and spec.sha256 is not None and spec.sha256.startswith(prefix)
    return f"base {title}" if shipped else model_version


def revision_summary(revision: MaskRevision, model_labels: dict[str, str] | None = None) -> dict:
    """The revision as the API and the socket describe it. ``model_labels``: names already looked up
    (model string → label), shared by a list's summaries so that each model string costs one query."""
    labels = {} if model_labels is None else model_labels
    if revision.model_version not in labels:
        labels[revision.model_version] = model_label(revision.track.label.project_id, revision.model_version)
    return {
        "id": revision.id,
        "number": revision.number,
        "author": revision.author.get_username(),
        "created_at": revision.created_at.isoformat(),
        "source": revision.source,
        "model_version": revision.model_version,
        "model_label": labels[revision.model_version],
        # slices saved with the model's first prediction and its predicted IoU (active learning)
        "predicted_slices": sorted(int(z) for z in revision.predicted_iou),
        "slices": revision.changed_slices,
        "voxel_count": revision.voxel_count,
        "restored_from": revision.restored_from_id,
        "inputs": revision.inputs,
    }
