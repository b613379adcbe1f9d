"""Model registry: name → builder, configuration, preprocessing, checkpoint and its SHA-256.

``lite_medsam`` ships with the app (``python -m ml_worker.weights`` puts the official file in
``MODEL_DIR``, pinned by SHA-256). ``medsam_vit_b`` and ``sam_vit_b`` load user-supplied files in the
official layouts; :func:`register_checkpoint` (behind ``manage.py register_checkpoint NAME PATH``) records
their path and SHA-256 in ``MODEL_DIR/checkpoints.json`` and every later load checks the file against it.

Loading is strict: ``torch.load(map_location="cpu", weights_only=True)``, every key and every shape
must match, or :class:`CheckpointError` names the file and the first mismatching keys.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Required, TypedDict

import torch

from ..weights import ENCODER_SHA256 as LITE_MEDSAM_ENCODER_SHA256
from ..weights import SHA256 as LITE_MEDSAM_SHA256
from ..weights import default_model_dir
from .errors import CheckpointError, UnknownModelError
from .identity import _SHA_LOCK
from .identity import ENCODER_PREFIX as ENCODER_PREFIX
from .identity import encoder_key as encoder_key
from .identity import encoder_sha256 as encoder_sha256
from .identity import file_sha256 as file_sha256
from .identity import model_version as model_version
from .modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    SamModel,
    TinyViT,
    TinyViTConfig,
    TwoWayTransformer,
    ViTConfig,
)
from .transforms import Preprocessing

REGISTRY_FILENAME = "checkpoints.json"


@dataclass(frozen=True)
class DecoderConfig:
    embed_dim: int = 256
    mask_in_chans: int = 16
    transformer_depth: int = 2
    transformer_mlp_dim: int = 2048
    transformer_heads: int = 8
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build one model and feed it.

    ``sha256`` pins a shipped checkpoint (``checkpoint_filename`` inside ``MODEL_DIR``) and
    ``encoder_sha256`` its image encoder (:func:`encoder_sha256`); ``None`` means the user supplies the file
    through :func:`register_checkpoint`, which records both.
    """

    name: str
    encoder: TinyViTConfig | ViTConfig
    preprocessing: Preprocessing
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    checkpoint_filename: str | None = None
    sha256: str | None = None
    encoder_sha256: str | None = None
    description: str = ""
    title: str = ""  # what people call it ("LiteMedSAM"): the viewer's "base LiteMedSAM"
    # Whether the model was trained to follow corrective clicks (SAM's interactive training). When False,
    # the serving side guards point prompts (ml_worker/click_guard.py): LiteMedSAM and MedSAM learnt from
    # boxes only. A fine-tuned version says otherwise through build_model(..., clicks_trained=True) or its
    # registry entry (register_checkpoint(..., clicks_trained=True)).
    clicks_trained: bool = False

    def build(self) -> SamModel:
        """A randomly initialised model with this spec's architecture (weights come from :func:`build_model`)."""
        enc = self.encoder
        image_encoder: torch.nn.Module
        if isinstance(enc, TinyViTConfig):
            image_encoder = TinyViT(enc)
            input_size = enc.img_size
        else:
            image_encoder = ImageEncoderViT(enc)
            input_size = enc.img_size
        grid = image_encoder.out_resolution
        dec = self.decoder
        prompt_encoder = PromptEncoder(
            dec.embed_dim, (grid, grid), (input_size, input_size), dec.mask_in_chans
        )
        transformer = TwoWayTransformer(
            dec.transformer_depth, dec.embed_dim, dec.transformer_heads, dec.transformer_mlp_dim
        )
        mask_decoder = MaskDecoder(
            dec.embed_dim, transformer, dec.num_multimask_outputs, 3, dec.iou_head_hidden_dim
        )
        return SamModel(image_encoder, prompt_encoder, mask_decoder, input_size)


LITE_MEDSAM_PREPROCESSING = Preprocessing(
    input_size=256, resize="longest_side", normalize="minmax", version="lite-area-minmax-pad-v1"
)
MEDSAM_PREPROCESSING = Preprocessing(
    input_size=1024, resize="stretch", normalize="minmax", version="medsam-area-stretch-minmax-v1"
)
SAM_PREPROCESSING = Preprocessing(
    input_size=1024, resize="longest_side", normalize="sam_pixel", version="sam-area-pixelnorm-pad-v1"
)

MODEL_REGISTRY: dict[str, ModelSpec] = {
    "lite_medsam": ModelSpec(
        name="lite_medsam",
        encoder=TinyViTConfig(),
        preprocessing=LITE_MEDSAM_PREPROCESSING,
        checkpoint_filename="lite_medsam.pth",
        sha256=LITE_MEDSAM_SHA256,
        encoder_sha256=LITE_MEDSAM_ENCODER_SHA256,
        title="LiteMedSAM",
        description="LiteMedSAM: TinyViT encoder distilled from MedSAM, 256×256 input",
    ),
    "medsam_vit_b": ModelSpec(
        name="medsam_vit_b",
        encoder=ViTConfig(),
        preprocessing=MEDSAM_PREPROCESSING,
        title="MedSAM ViT-B",
        description="MedSAM ViT-B (user-supplied medsam_vit_b.pth), 1024×1024 input",
    ),
    "sam_vit_b": ModelSpec(
        name="sam_vit_b",
        encoder=ViTConfig(),
        preprocessing=SAM_PREPROCESSING,
        title="SAM ViT-B",
        description="SAM ViT-B (user-supplied sam_vit_b_01ec64.pth), 1024 longest side",
        clicks_trained=True,  # SAM's own interactive training: 11 rounds of clicks per mask
    ),
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODEL_REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; known: {', '.join(sorted(MODEL_REGISTRY))}"
        ) from None


def model_dir(path: str | os.PathLike[str] | None = None) -> Path:
    return Path(path) if path is not None else default_model_dir()


def default_registry_file(directory: str | os.PathLike[str] | None = None) -> Path:
    return model_dir(directory) / REGISTRY_FILENAME


class RegistryEntry(TypedDict, total=False):
    """One checkpoint of the JSON registry; entries recorded before a field existed lack it."""

    path: Required[str]
    sha256: Required[str]
    encoder_sha256: str
    registered_at: str
    clicks_trained: bool


def _read_registry(registry_file: Path) -> dict[str, RegistryEntry]:
    if not registry_file.exists():
        return {}
    try:
        data = json.loads(registry_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint registry {registry_file} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint registry {registry_file} is not a JSON object")
    return data


_ENCODER_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_encoder_sha256(path: Path, name: str) -> str:
    """:func:`encoder_sha256` of a checkpoint file as loaded into ``name``'s model; memoised like
    :func:`file_sha256`."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _SHA_LOCK:
        if key in _ENCODER_SHA_CACHE:
            return _ENCODER_SHA_CACHE[key]
    digest = encoder_sha256(load_checkpoint(get_spec(name).build(), path, name).state_dict())
    with _SHA_LOCK:
        _ENCODER_SHA_CACHE[key] = digest
    return digest


# Registry ----------------------------------------------------------------------------------------------
def register_checkpoint(
    name: str,
    path: str | os.PathLike[str],
    registry_file: str | os.PathLike[str] | None = None,
    *,
    clicks_trained: bool | None = None,
) -> RegistryEntry:
    """Record ``name → (absolute path, SHA-256, encoder SHA-256)`` in the JSON registry (default
    ``MODEL_DIR/checkpoints.json``).

    The file is strict-loaded into the model first, so a wrong file is refused at registration rather than
    at the first prompt. Returns the stored entry. The write is atomic. ``clicks_trained`` records whether
    this checkpoint follows corrective clicks (default: the model's, :attr:`ModelSpec.clicks_trained`).
    """
    get_spec(name)
    ckpt = Path(path).expanduser().resolve()
    if not ckpt.is_file():
        raise CheckpointError(f"checkpoint file {ckpt} does not exist")
    entry: RegistryEntry = {
        "path": str(ckpt),
        "sha256": file_sha256(ckpt),
        "encoder_sha256": file_encoder_sha256(ckpt, name),
        "registered_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if clicks_trained is not None:
        entry["clicks_trained"] = bool(clicks_trained)
    reg_path = Path(registry_file) if registry_file is not None else default_registry_file()
    reg_path.parent.mkdir(parents=True, exist_ok=True)
    data = _read_registry(reg_path)
    data[name] = entry
    fd, tmp = tempfile.mkstemp(dir=reg_path.parent, prefix=".checkpoints-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    os.replace(tmp, reg_path)
    return entry


def resolve_checkpoint(
    name: str,
    *,
    model_dir_path: str | os.PathLike[str] | None = None,
    registry_file: str | os.PathLike[str] | None = None,
) -> tuple[Path, str]:
    """Path and expected SHA-256 of the checkpoint for ``name`` (shipped file or registered one)."""
    spec = get_spec(name)
    directory = model_dir(model_dir_path)
    if spec.sha256 is not None and spec.checkpoint_filename is not None:
        return directory / spec.checkpoint_filename, spec.sha256
    reg_path = Path(registry_file) if registry_file is not None else directory / REGISTRY_FILENAME
    entry = _read_registry(reg_path).get(name)
    if not entry:
        raise CheckpointError(
            f"no checkpoint registered for {name!r} in {reg_path}; "
            f"run `python manage.py register_checkpoint {name} PATH`"
        )
    return Path(entry["path"]), entry["sha256"]


def checkpoint_sha256(
    name: str,
    *,
    model_dir_path: str | os.PathLike[str] | None = None,
    registry_file: str | os.PathLike[str] | None = None,
) -> str:
    """The SHA-256 the registry expects for ``name`` (pinned, or recorded at registration)."""
    return resolve_checkpoint(name, model_dir_path=model_dir_path, registry_file=registry_file)[1]


def expected_encoder_sha256(
    name: str,
    *,
    model_dir_path: str | os.PathLike[str] | None = None,
    registry_file: str | os.PathLike[str] | None = None,
) -> str:
    """The image-encoder SHA-256 of ``name``'s registered checkpoint: pinned for a shipped model, recorded at
    registration otherwise (computed from the file for an entry recorded before encoder hashes existed).
    Needs no model in memory, so the web process can name the embeddings the workers make."""
    spec = get_spec(name)
    if spec.sha256 is not None and spec.encoder_sha256 is not None:
        return spec.encoder_sha256
    directory = model_dir(model_dir_path)
    reg_path = Path(registry_file) if registry_file is not None else directory / REGISTRY_FILENAME
    entry = _read_registry(reg_path).get(name)
    recorded = entry.get("encoder_sha256") if entry else None
    if recorded:
        return recorded
    path, _ = resolve_checkpoint(name, model_dir_path=model_dir_path, registry_file=registry_file)
    return file_encoder_sha256(path, name)


def registered_clicks_trained(
    name: str,
    *,
    model_dir_path: str | os.PathLike[str] | None = None,
    registry_file: str | os.PathLike[str] | None = None,
) -> bool:
    """Whether ``name``'s registered checkpoint follows corrective clicks: its registry entry's
    ``clicks_trained`` when recorded, else the model's (:attr:`ModelSpec.clicks_trained`). Needs no model in
    memory, so the web process can describe what points do."""
    spec = get_spec(name)
    if spec.sha256 is not None:
        return spec.clicks_trained  # a shipped checkpoint: the spec is its record
    reg_path = (
        Path(registry_file) if registry_file is not None else model_dir(model_dir_path) / REGISTRY_FILENAME
    )
    entry = _read_registry(reg_path).get(name)
    recorded = entry.get("clicks_trained") if entry else None
    return bool(recorded) if isinstance(recorded, bool) else spec.clicks_trained


def _describe_mismatch(
    path: Path,
    name: str,
    missing: list[str],
    unexpected: list[str],
    shapes: list[tuple[str, tuple, tuple]],
    limit: int = 5,
) -> str:
    parts = [f"checkpoint {path} does not fit model {name!r}:"]
    if missing:
        parts.append(f"{len(missing)} missing keys (first: {', '.join(missing[:limit])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:limit])})")
    if shapes:
        first = "; ".join(f"{k}: file {list(a)} vs model {list(b)}" for k, a, b in shapes[:limit])
        parts.append(f"{len(shapes)} shape mismatches (first: {first})")
    return " ".join(parts)


def load_checkpoint(model: SamModel, path: Path, name: str) -> SamModel:
    """Strictly load a weights-only state dict (CPU first) into ``model``; raise :class:`CheckpointError`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, unsafe globals: all mean "not a usable checkpoint"
        raise CheckpointError(
            f"checkpoint {path} cannot be read as a weights-only PyTorch file: {exc}"
        ) from exc
    if isinstance(state, Mapping) and isinstance(state.get("model"), Mapping):
        state = state["model"]  # training checkpoints wrap the state dict
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} is not a state dict of tensors")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        (k, tuple(state[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(_describe_mismatch(path, name, missing, unexpected, shapes))
    model.load_state_dict(state, strict=True)
    return model


def build_model(
    name: str = "lite_medsam",
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    model_dir_path: str | os.PathLike[str] | None = None,
    registry_file: str | os.PathLike[str] | None = None,
    clicks_trained: bool | None = None,
) -> SamModel:
    """Build ``name`` and strictly load its weights; returns the model in eval mode on CPU.

    Without ``checkpoint`` the registry decides the file and the file's SHA-256 (and, where recorded, its
    image encoder's) must match it. An explicit ``checkpoint`` (e.g. a fine-tuned version) is loaded as
    given. The model carries ``model_name``, ``checkpoint_path``, ``checkpoint_sha256``, ``encoder_sha256``
    (computed here, once, from the loaded weights) and ``clicks_trained`` attributes; ``clicks_trained``
    defaults to the registry's record (:func:`registered_clicks_trained`) for the registered file and to the
    model's for an explicit one, and a promoted click-aware fine-tune passes True.
    """
    spec = get_spec(name)
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointError(f"checkpoint file {path} does not exist")
        sha = file_sha256(path)
    else:
        path, expected_sha = resolve_checkpoint(
            name, model_dir_path=model_dir_path, registry_file=registry_file
        )
        if not path.is_file():
            hint = " (run `python -m ml_worker.weights`)" if name == "lite_medsam" else ""
            raise CheckpointError(f"checkpoint file {path} for {name!r} does not exist{hint}")
        sha = file_sha256(path)
        if sha != expected_sha:
            raise CheckpointError(
                f"checkpoint {path} for {name!r} has SHA-256 {sha}, expected {expected_sha}"
            )
    model = load_checkpoint(spec.build(), path, name).eval()
    encoder_sha = encoder_sha256(model.state_dict())
    expected_encoder = spec.encoder_sha256 if checkpoint is None and spec.sha256 is not None else None
    if expected_encoder is not None and encoder_sha != expected_encoder:
        raise CheckpointError(
            f"checkpoint {path} for {name!r} has image-encoder SHA-256 {encoder_sha}, expected {expected_encoder}"
        )
    model.model_name = name
    model.checkpoint_path = str(path)
    model.checkpoint_sha256 = sha
    model.encoder_sha256 = encoder_sha
    if clicks_trained is None:
        clicks_trained = (
            spec.clicks_trained
            if checkpoint is not None
            else registered_clicks_trained(name, model_dir_path=model_dir_path, registry_file=registry_file)
        )
    model.clicks_trained = bool(clicks_trained)
    return model


def build_model_version(
    name: str, checkpoint: str | os.PathLike[str], sha256: str, *, clicks_trained: bool = False
) -> SamModel:
    """Build ``name`` from a checkpoint at an arbitrary path (a fine-tuned model version), refusing a file
    whose SHA-256 is not the one recorded for the version; loading is strict as for every checkpoint.

    The returned model carries ``checkpoint_sha256 == sha256``, so backends that cache per checkpoint (the
    OpenVINO conversion) convert each version once. ``clicks_trained``: pass the run's
    ``TrainingResult.clicks_trained`` (True when its recipe had corrective-click rounds): the model then
    reports it and the serving side's click guard stands down for it. The default (False) is the
    architecture's box-only record, the safe side for a file nobody vouches for.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    actual = file_sha256(path)
    if actual != sha256.strip().lower():
        raise CheckpointError(f"checkpoint {path} has SHA-256 {actual}, expected {sha256}")
    return build_model(name, path, clicks_trained=clicks_trained)
