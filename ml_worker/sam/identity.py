"""What identifies a model: the SHA-256 of its checkpoint file (memoised), the version string saved masks
record, and the digest of its image encoder's weights, on which cached embeddings depend (so a
decoder-only fine-tune keeps them). :mod:`.build` re-exports these names."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from pathlib import Path

import torch

from ..weights import sha256_of
from .errors import CheckpointError

_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_SHA_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, memoised on (path, size, mtime) so repeated builds do not re-hash 375 MB files."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _SHA_LOCK:
        if key in _SHA_CACHE:
            return _SHA_CACHE[key]
    digest = sha256_of(path)
    with _SHA_LOCK:
        _SHA_CACHE[key] = digest
    return digest


# Identity ----------------------------------------------------------------------------------------------
ENCODER_PREFIX = "image_encoder."


def model_version(name: str, checkpoint_sha256: str) -> str:
    """What a saved mask records as the model behind its first prediction: ``name@checkpoint-prefix``."""
    return f"{name}@{checkpoint_sha256[:12]}"


def encoder_key(name: str, encoder_sha256: str) -> str:
    """The identity embeddings depend on (readiness keys): the model and its image encoder's weights only,
    so a decoder-only fine-tune keeps every embedding valid."""
    return f"{name}/encoder@{encoder_sha256[:12]}"


def encoder_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of the image encoder's weights in a state dict.

    Every ``image_encoder.*`` tensor in sorted key order, each as its key, dtype, shape and raw bytes, so
    the digest does not depend on dict order or on the other parts (prompt encoder, mask decoder).
    """
    keys = sorted(k for k in state if k.startswith(ENCODER_PREFIX))
    if not keys:
        raise CheckpointError("the state dict has no image-encoder tensors")
    digest = hashlib.sha256()
    for key in keys:
        tensor = state[key].detach().to("cpu").contiguous()
        digest.update(f"{key}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()
