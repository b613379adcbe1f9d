"""The assembled promptable segmentation model and the two graphs we run (and export) separately."""

from __future__ import annotations

import torch
from torch import nn

from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .tiny_vit import TinyViT


class SamModel(nn.Module):
    """Image encoder + prompt encoder + mask decoder; state-dict keys are ``image_encoder.*``,
    ``prompt_encoder.*`` and ``mask_decoder.*`` exactly as in the official SAM / MedSAM / LiteMedSAM files.

    ``input_size`` is the side of the square model input (256 for LiteMedSAM, 1024 for ViT-B);
    the embedding is ``(C, input_size/4/…)``: whatever the encoder's ``out_resolution`` is.
    """

    # Set by ``build.build_model`` on the models it loads (absent on a bare, freshly built model).
    model_name: str
    checkpoint_path: str
    checkpoint_sha256: str
    encoder_sha256: str
    clicks_trained: bool

    def __init__(
        self,
        image_encoder: nn.Module,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        input_size: int,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.input_size = input_size

    @property
    def embedding_shape(self) -> tuple[int, int, int]:
        h, w = self.prompt_encoder.image_embedding_size
        return (self.prompt_encoder.embed_dim, h, w)

    @property
    def low_res_size(self) -> tuple[int, int]:
        return self.prompt_encoder.mask_input_size

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised, padded images ``(B, 3, S, S)`` → embeddings ``(B, C, h, w)``."""
        return self.image_encoder(images)

    def decode(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode N prompts against one embedding; a fixed signature so that it exports as one graph.

        Args:
            image_embeddings: ``(1, C, h, w)``.
            point_coords: ``(N, P, 2)`` x, y in the model-input frame (see ``transforms``).
            point_labels: ``(N, P)`` float, in {-1 pad, 0 negative, 1 positive, 2 box top-left, 3 box bottom-right}.
            mask_input: ``(N, 1, 4h, 4w)`` low-res logits of a previous prediction, or None.
        Returns:
            low-res logits ``(N, 4, 4h, 4w)`` (low-res frame: the model input scaled by ``4h / S``) and
            predicted IoU ``(N, 4)``. Output 0 is the single-mask answer, 1–3 the multi-mask answers.
        """
        pe = self.prompt_encoder
        sparse = pe.embed_labelled_points(point_coords, point_labels)
        dense = pe.embed_masks(mask_input) if mask_input is not None else pe.no_mask_dense(sparse.shape[0])
        return self.mask_decoder.predict_all(image_embeddings, pe.get_dense_pe(), sparse, dense)


class EncoderGraph(nn.Module):
    """Export wrapper for the image encoder: ``part="full"`` maps ``images (1, 3, S, S)`` to
    ``embeddings (1, C, h, w)``; ``"head"``/``"tail"`` are the two halves (``forward_head``/``forward_tail``),
    exported separately so that each can run at its own precision."""

    def __init__(self, model: SamModel, part: str = "full") -> None:
        super().__init__()
        if part not in ("full", "head", "tail"):
            raise ValueError(f"unknown encoder part {part!r}")
        self.model = model
        self.part = part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        encoder = self.model.image_encoder
        if self.part == "full":
            return encoder(x)
        if not isinstance(encoder, TinyViT):  # only TinyViT (LiteMedSAM) has the two halves
            raise TypeError(f"a {type(encoder).__name__} encoder does not split into head and tail")
        return encoder.forward_head(x) if self.part == "head" else encoder.forward_tail(x)


class DecoderGraph(nn.Module):
    """Export wrapper around :meth:`SamModel.decode`. Two graphs (with / without ``mask_input``) because
    the mask branch costs ~1.5 ms of a ~25 ms OpenVINO decode (measured) and most prompts have no mask."""

    def __init__(self, model: SamModel, with_mask: bool) -> None:
        super().__init__()
        self.model = model
        self.with_mask = with_mask

    def forward(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.decode(
            image_embeddings, point_coords, point_labels, mask_input if self.with_mask else None
        )
