"""Model building blocks: tokenizers, positional embeddings, masking, ViT encoder, MAE decoder, heads."""

from .cross_modal import cls_attention, cross_modal_attention, refine
from .decoder import MAEDecoder
from .heads import DINOProjector, LinearHead, WeightNormLinear
from .masking import gather_tokens, masking_from_keep, num_kept, random_masking, tube_masking
from .patch import (
    AudioTokenizer,
    VideoTokenizer,
    conv_to_linear_weight,
    linear_to_conv_weight,
    patch_grid,
    patchify_audio,
    patchify_video,
    unpatchify_audio,
    unpatchify_video,
)
from .pos_embed import (
    LearnablePosEmbed,
    interpolate,
    interpolation_matrix,
    sincos_pos_embed_1d,
    sincos_pos_embed_2d,
    sincos_pos_embed_3d,
)
from .vit import VIT_PRESETS, ViTConfig, ViTEncoder, build_blocks, init_weights, last_block_attention, vit_config

__all__ = [
    "cls_attention",
    "cross_modal_attention",
    "refine",
    "MAEDecoder",
    "DINOProjector",
    "LinearHead",
    "WeightNormLinear",
    "gather_tokens",
    "masking_from_keep",
    "num_kept",
    "random_masking",
    "tube_masking",
    "AudioTokenizer",
    "VideoTokenizer",
    "conv_to_linear_weight",
    "linear_to_conv_weight",
    "patch_grid",
    "patchify_audio",
    "patchify_video",
    "unpatchify_audio",
    "unpatchify_video",
    "LearnablePosEmbed",
    "interpolate",
    "interpolation_matrix",
    "sincos_pos_embed_1d",
    "sincos_pos_embed_2d",
    "sincos_pos_embed_3d",
    "VIT_PRESETS",
    "ViTConfig",
    "ViTEncoder",
    "build_blocks",
    "init_weights",
    "last_block_attention",
    "vit_config",
]
