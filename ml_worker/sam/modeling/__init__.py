"""Pure ``nn.Module``s of the SAM family; parts are injected by ``ml_worker.sam.build``."""

from .image_encoder_vit import ImageEncoderViT, ViTConfig
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .sam import DecoderGraph, EncoderGraph, SamModel
from .tiny_vit import TinyViT, TinyViTConfig
from .transformer import TwoWayTransformer

__all__ = [
    "DecoderGraph",
    "EncoderGraph",
    "ImageEncoderViT",
    "MaskDecoder",
    "PromptEncoder",
    "SamModel",
    "TinyViT",
    "TinyViTConfig",
    "TwoWayTransformer",
    "ViTConfig",
]
