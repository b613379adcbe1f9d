"""Candidate checkpoints: the parent's state dict with new prompt-encoder / mask-decoder weights.

The image-encoder tensors are taken from the parent unchanged and checked byte for byte after the write,
so embeddings cached for the parent stay valid for the candidate. Files are plain state dicts in the
official key layout (``build.load_checkpoint`` loads them strictly), written atomically.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from ..sam.build import encoder_sha256
from ..weights import sha256_of

ENCODER_PREFIX = "image_encoder."
TRAINABLE_PREFIXES = ("prompt_encoder.", "mask_decoder.")


class CheckpointWriteError(RuntimeError):
    """The candidate checkpoint could not be written as required (nothing is left at the target path)."""


def tensor_digest(state: Mapping[str, torch.Tensor], prefixes: Iterable[str] = (ENCODER_PREFIX,)) -> str:
    """SHA-256 over the names, dtypes, shapes and raw bytes of the tensors whose names start with one of
    ``prefixes`` (default: the image encoder), in sorted name order. Equal digests mean byte-identical
    tensors; the file around them (zip layout, other tensors) does not matter."""
    prefixes = tuple(prefixes)
    digest = hashlib.sha256()
    for name in sorted(k for k in state if k.startswith(prefixes)):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}\x00{tensor.dtype}\x00{tuple(tensor.shape)}\x00".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def encoder_digest(state: Mapping[str, torch.Tensor]) -> str:
    """Digest of the image-encoder tensors (what an embedding depends on): the serving side's
    :func:`ml_worker.sam.build.encoder_sha256`, which keys the embedding cache."""
    return encoder_sha256(state)


def merge_state(
    parent: Mapping[str, torch.Tensor], trained: Mapping[str, torch.Tensor]
) -> OrderedDict[str, torch.Tensor]:
    """The parent's state dict (same keys, same order) with the ``prompt_encoder.*`` / ``mask_decoder.*``
    tensors of ``trained`` (keys relative to the full model). The image encoder is the parent's own tensors."""
    missing = [k for k in parent if k.startswith(TRAINABLE_PREFIXES) and k not in trained]
    unexpected = [k for k in trained if k not in parent or not k.startswith(TRAINABLE_PREFIXES)]
    if missing or unexpected:
        raise CheckpointWriteError(
            f"trained weights do not fit the parent: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    merged: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, tensor in parent.items():
        if name.startswith(TRAINABLE_PREFIXES):
            new = trained[name].detach().to("cpu", dtype=tensor.dtype).contiguous()
            if new.shape != tensor.shape:
                raise CheckpointWriteError(
                    f"{name}: trained shape {tuple(new.shape)} != {tuple(tensor.shape)}"
                )
            merged[name] = new.clone()
        else:
            merged[name] = tensor.detach().cpu()
    return merged


def write_checkpoint(
    state: Mapping[str, torch.Tensor], path: str | os.PathLike[str], *, encoder_sha256: str
) -> str:
    """Write ``state`` to ``path`` atomically (temporary file in the same folder, fsync, rename) and return
    the file's SHA-256. The file is read back (``weights_only``) and its image-encoder tensors must have the
    digest ``encoder_sha256`` (the parent's); otherwise nothing is left at ``path`` and
    :class:`CheckpointWriteError` is raised."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(dict(state), handle)
            handle.flush()
            os.fsync(handle.fileno())
        reread = torch.load(tmp, map_location="cpu", weights_only=True)
        found = encoder_digest(reread)
        if found != encoder_sha256:
            raise CheckpointWriteError(
                f"the image encoder written to {target} differs from the parent's "
                f"(digest {found[:16]} != {encoder_sha256[:16]}): refusing the candidate"
            )
        sha = sha256_of(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return sha
