"""Image embeddings: a signature-checked on-disk cache, and a store with a bounded memory LRU over it.

An embedding is only valid for the exact pixels, window preset, model, image-encoder weights and
preprocessing that produced it, so each file stores its :class:`EmbeddingSignature` next to the float16
array and :meth:`EmbeddingCache.load` refuses (raises :class:`SignatureMismatch`) a file whose stored
signature differs from the requested one: a stale embedding is never silently decoded against. The
signature names the encoder's weights (``encoder_sha256``), not the whole checkpoint's: a model whose
decoder alone was fine-tuned keeps every embedding.

Layout: ``root/<model>/<window>/<image_sha256[:2]>/<image_sha256>.npz``. The encoder and preprocessing
are *not* in the path, so after an encoder change the old file is found, refused, and overwritten by
:meth:`EmbeddingCache.get_or_compute`, instead of piling up next to the new one.

Files are ``.npz`` with ``embedding`` (float16 ``(C, h, w)``, 2 MiB for LiteMedSAM) and ``signature``
(JSON string); written to a temporary file in the same directory and renamed, so readers never see a
partial file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

# 2: the signature names the image encoder's weights (encoder_sha256) instead of the checkpoint's.
FORMAT_VERSION = 2
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class EmbeddingCacheError(Exception):
    """Base class: a cached embedding cannot be used."""


class SignatureMismatch(EmbeddingCacheError):
    """The file at the signature's path was made for a different image, window, model or preprocessing."""

    def __init__(self, path: Path, expected: EmbeddingSignature, found: EmbeddingSignature | None) -> None:
        self.path, self.expected, self.found = path, expected, found
        if found is None:
            detail = "no readable signature"
        else:
            diffs = [f.name for f in fields(expected) if getattr(expected, f.name) != getattr(found, f.name)]
            detail = ", ".join(
                f"{n}: stored {getattr(found, n)!r} != requested {getattr(expected, n)!r}" for n in diffs
            )
        super().__init__(f"embedding {path} does not match the request ({detail})")


class CorruptEmbedding(EmbeddingCacheError):
    """The file exists but is not a readable embedding archive."""


@dataclass(frozen=True)
class EmbeddingSignature:
    """What an embedding depends on. ``window`` is the input window preset name (e.g. ``soft_tissue``) or a
    description of the scaling used (e.g. ``percentile_0.5_99.5``)."""

    image_sha256: str
    window: str
    model_name: str
    encoder_sha256: str
    preprocessing_version: str

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT_VERSION, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EmbeddingSignature:
        data = json.loads(text)
        data.pop("format", None)
        return cls(**{f.name: str(data[f.name]) for f in fields(cls)})

    @classmethod
    def for_predictor(cls, predictor: Encoder, image_sha256: str, window: str) -> EmbeddingSignature:
        """Signature of an embedding made by a :class:`~ml_worker.sam.predictor.SamPredictor`."""
        return cls(
            image_sha256,
            window,
            predictor.model_name,
            predictor.encoder_sha256,
            predictor.preprocessing_version,
        )


class Encoder(Protocol):
    """What a signature needs to know of the predictor that makes an embedding."""

    model_name: str
    encoder_sha256: str

    @property
    def preprocessing_version(self) -> str: ...


def image_sha256(image: np.ndarray) -> str:
    """Content hash of the model-input pixels (dtype, shape and bytes), e.g. of a windowed ``(H, W)`` slice."""
    arr = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()


class EmbeddingCache:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, sig: EmbeddingSignature) -> Path:
        image = _SAFE.sub("_", sig.image_sha256) or "_"
        return (
            self.root
            / _SAFE.sub("_", sig.model_name)
            / _SAFE.sub("_", sig.window)
            / image[:2]
            / f"{image}.npz"
        )

    def save(self, sig: EmbeddingSignature, embedding: np.ndarray) -> Path:
        """Store ``embedding`` (any float dtype, ``(C, h, w)``) as float16 with ``sig``; atomic; returns the path."""
        emb = np.asarray(embedding)
        if not np.issubdtype(emb.dtype, np.floating) or not np.isfinite(emb).all():
            raise ValueError("embedding must be a finite float array")
        if emb.size and np.abs(emb).max() > np.finfo(np.float16).max:
            raise ValueError("embedding overflows float16")
        half = emb.astype(np.float16)
        path = self.path_for(sig)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, embedding=half, signature=np.array(sig.to_json()))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def load(self, sig: EmbeddingSignature) -> np.ndarray | None:
        """The stored float16 ``(C, h, w)`` embedding, or None if there is none.

        Raises:
            SignatureMismatch: the file was made for a different signature (stale or colliding).
            CorruptEmbedding: the file cannot be read.
        """
        path = self.path_for(sig)
        try:
            with np.load(path, allow_pickle=False) as data:
                stored_text = str(data["signature"])
                embedding = data["embedding"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            raise CorruptEmbedding(f"embedding {path} is unreadable: {exc}") from exc
        try:
            stored = EmbeddingSignature.from_json(stored_text)
        except (ValueError, KeyError, TypeError):
            raise SignatureMismatch(path, sig, None) from None
        if stored != sig:
            raise SignatureMismatch(path, sig, stored)
        return embedding

    def get_or_compute(self, sig: EmbeddingSignature, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Cached embedding for ``sig``; a missing, stale or corrupt file is recomputed and overwritten."""
        try:
            cached = self.load(sig)
        except EmbeddingCacheError as exc:
            log.info("recomputing embedding: %s", exc)
            cached = None
        if cached is not None:
            return cached
        embedding = compute()
        self.save(sig, embedding)
        return embedding.astype(np.float16)

    def delete(self, sig: EmbeddingSignature) -> None:
        self.path_for(sig).unlink(missing_ok=True)


class EmbeddingStore:
    """Embeddings by signature: a memory LRU (bounded in bytes) over the shared disk cache, over ``compute``.

    Thread-safe. Two threads asking for the same missing signature compute it once (a lock per signature);
    different signatures compute in parallel.
    """

    def __init__(self, disk: EmbeddingCache, memory_bytes: int) -> None:
        self.disk, self.memory_bytes = disk, memory_bytes
        self._lru: OrderedDict[EmbeddingSignature, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[EmbeddingSignature, threading.Lock] = {}

    def _remember(self, sig: EmbeddingSignature, embedding: np.ndarray) -> None:
        with self._lock:
            if sig in self._lru:
                self._lru.move_to_end(sig)
                return
            self._lru[sig] = embedding
            self._bytes += embedding.nbytes
            while self._bytes > self.memory_bytes and len(self._lru) > 1:
                _, dropped = self._lru.popitem(last=False)
                self._bytes -= dropped.nbytes

    def cached(self, sig: EmbeddingSignature) -> np.ndarray | None:
        """The float16 ``(C, h, w)`` embedding from memory or disk, or None (a stale file counts as none)."""
        with self._lock:
            if sig in self._lru:
                self._lru.move_to_end(sig)
                return self._lru[sig]
        try:
            embedding = self.disk.load(sig)
        except EmbeddingCacheError as exc:  # refused, never used: it is recomputed and overwritten
            log.warning("%s", exc)
            return None
        if embedding is not None:
            self._remember(sig, embedding)
        return embedding

    def get(self, sig: EmbeddingSignature, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
        """``(embedding, computed)``: never recomputes an embedding that exists in memory or on disk.

        ``compute()`` returns the ``(C, h, w)`` float embedding for ``sig``; it is stored as float16.
        """
        embedding = self.cached(sig)
        if embedding is not None:
            return embedding, False
        with self._lock:
            gate = self._computing.setdefault(sig, threading.Lock())
        with gate:
            embedding = self.cached(sig)
            if embedding is not None:
                return embedding, False
            embedding = np.asarray(compute()).astype(np.float16)
            self.disk.save(sig, embedding)
            self._remember(sig, embedding)
        with self._lock:
            self._computing.pop(sig, None)
        return embedding, True

    @property
    def memory_used(self) -> int:
        return self._bytes
