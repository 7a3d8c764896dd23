"""ViT encoder built from timm ``Block``s (XKD ``ViT_Backbone`` + ``VideoViT``/``AudioViT``).

Forward (reference-notes §1.1, §1.3): tokenizer -> ``+ pos[1:]`` (interpolated for non-native grids)
-> optional random masking -> prepend ``cls + pos[:1]`` -> blocks -> final LayerNorm. The last block
always runs timm's (fused) attention; when ``return_attn`` is set its post-softmax attention
``softmax(Q K^T / sqrt(d))`` is recomputed explicitly from ``block.norm1`` and ``block.attn.qkv``,
which is what XKD's cross-modal ``refine`` reads (CLS row).

``blocks`` may be injected: two encoders given the same ``nn.ModuleList`` share their transformer
blocks (XKD-MAS/MATS, §1.8) while keeping their own tokenizer, pos-embed, CLS token and final norm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import partial
from typing import Literal, Mapping, Sequence

import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn
from torch.nn import functional as F

from avlib.numerics import accumulation_dtype

from .masking import Rounding, gather_tokens, masking_from_keep, random_masking
from .pos_embed import LearnablePosEmbed

__all__ = [
    "ViTConfig",
    "VIT_PRESETS",
    "vit_config",
    "build_blocks",
    "init_weights",
    "last_block_attention",
    "ViTEncoder",
]

VIT_PRESETS: dict[str, tuple[int, int, int]] = {
    "micro": (64, 2, 4),
    "tiny": (128, 4, 4),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
}


@dataclass(frozen=True)
class ViTConfig:
    """Transformer hyper-parameters. XKD: ``qkv_bias=False``, LayerNorm eps 1e-5 (timm/MAE use 1e-6)."""

    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    qkv_bias: bool = False
    norm_eps: float = 1e-5
    drop_path: float = 0.0

    def __post_init__(self):
        for name in ("embed_dim", "depth", "num_heads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ViTConfig.{name} must be a positive int, got {getattr(self, name)}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"ViTConfig.embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"ViTConfig.drop_path must be in [0, 1), got {self.drop_path}")


def vit_config(name_or_dict: str | Mapping | ViTConfig) -> ViTConfig:
    """``'tiny'`` -> preset; ``{'preset': 'tiny', 'qkv_bias': True}`` -> preset with overrides;
    ``{'embed_dim': .., 'depth': .., 'num_heads': .., ...}`` -> explicit config; a ViTConfig passes through."""
    if isinstance(name_or_dict, ViTConfig):
        return name_or_dict
    if isinstance(name_or_dict, str):
        name_or_dict = {"preset": name_or_dict}
    if not isinstance(name_or_dict, Mapping):
        raise ValueError(f"name_or_dict must be a preset name, a mapping or a ViTConfig, got {type(name_or_dict)}")
    d = dict(name_or_dict)
    preset = d.pop("preset", None)
    base: dict = {}
    if preset is not None:
        if preset not in VIT_PRESETS:
            raise ValueError(f"unknown ViT preset {preset!r}; choose from {sorted(VIT_PRESETS)}")
        base = dict(zip(("embed_dim", "depth", "num_heads"), VIT_PRESETS[preset]))
    allowed = {f.name for f in fields(ViTConfig)}
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"unknown ViTConfig keys {unknown}; allowed: {sorted(allowed)}")
    base.update(d)
    missing = sorted({"embed_dim", "depth", "num_heads"} - set(base))
    if missing:
        raise ValueError(f"ViT config is missing {missing} (give them or a 'preset')")
    return ViTConfig(**base)


def init_weights(module: nn.Module) -> None:
    """XKD init: xavier_uniform for every Linear (bias 0), LayerNorm weight 1 / bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm) and m.elementwise_affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def build_blocks(cfg: str | Mapping | ViTConfig) -> nn.ModuleList:
    """``cfg.depth`` timm ``Block``s (explicit ``nn.LayerNorm(eps=cfg.norm_eps)``), XKD-initialised.
    Pass the result to several :class:`ViTEncoder`s to share them."""
    cfg = vit_config(cfg)
    dpr = torch.linspace(0, cfg.drop_path, cfg.depth).tolist()
    norm = partial(nn.LayerNorm, eps=cfg.norm_eps)
    blocks = nn.ModuleList(
        Block(
            cfg.embed_dim, cfg.num_heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, drop_path=p, norm_layer=norm
        )
        for p in dpr
    )
    init_weights(blocks)
    return blocks


def last_block_attention(block: Block, x: Tensor) -> Tensor:
    """Post-softmax attention ``[B, H, N, N]`` of ``block`` on its input ``x [B, N, D]``,
    ``softmax(q_norm(Q) * scale @ k_norm(K)^T)`` with ``Q, K`` from ``block.attn.qkv(block.norm1(x))``."""
    attn = block.attn
    B, N, _ = x.shape
    acc = accumulation_dtype(x.dtype, attn.qkv.weight.dtype)  # the map sets refine's weights: >= fp32
    with torch.autocast(device_type=x.device.type, enabled=False):
        qkv = F.linear(
            block.norm1(x.to(acc)), attn.qkv.weight.to(acc), None if attn.qkv.bias is None else attn.qkv.bias.to(acc)
        )
        qkv = qkv.reshape(B, N, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])
        return ((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)


class ViTEncoder(nn.Module):
    """Tokenizer + CLS + learnable pos-embed + timm blocks + final LayerNorm.

    Args:
        tokenizer: a :class:`~avlib.models.patch.VideoTokenizer` / ``AudioTokenizer`` (``grid()``,
            ``embed_dim``, ``interp_mode``).
        max_grid: token grid of the largest (global) input; the pos-embed is learnt for it and
            interpolated for other grids (local views).
        cfg: preset name, mapping or :class:`ViTConfig`.
        blocks: optional injected ``nn.ModuleList`` (shared blocks); built from ``cfg`` when ``None``.
        interp_offset: DINO "+0.1" offset of the pos-embed interpolation (0 = plain ``size=``).
    """

    def __init__(
        self,
        tokenizer: nn.Module,
        max_grid: Sequence[int],
        cfg: str | Mapping | ViTConfig,
        blocks: nn.ModuleList | None = None,
        interp_offset: float = 0.1,
    ):
        super().__init__()
        self.cfg = cfg = vit_config(cfg)
        if getattr(tokenizer, "embed_dim", None) != cfg.embed_dim:
            raise ValueError(
                f"tokenizer.embed_dim={getattr(tokenizer, 'embed_dim', None)} != cfg.embed_dim={cfg.embed_dim}"
            )
        self.max_grid = tuple(int(g) for g in max_grid)
        if len(self.max_grid) != tokenizer.ndim_spatial:
            raise ValueError(f"max_grid {self.max_grid} must have {tokenizer.ndim_spatial} dims for this tokenizer")
        self.embed_dim, self.num_heads, self.depth = cfg.embed_dim, cfg.num_heads, cfg.depth
        self.tokenizer = tokenizer
        init_weights(self.tokenizer)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        nn.init.normal_(self.cls_token, std=0.02)
        self.pos_embed = LearnablePosEmbed(
            self.max_grid, cfg.embed_dim, cls_token=True, mode=tokenizer.interp_mode, offset=interp_offset
        )
        if blocks is None:
            blocks = build_blocks(cfg)
        elif not isinstance(blocks, nn.ModuleList) or len(blocks) != cfg.depth:
            raise ValueError(f"blocks must be an nn.ModuleList of cfg.depth={cfg.depth} Blocks")
        elif blocks[0].norm1.normalized_shape[0] != cfg.embed_dim or blocks[0].attn.num_heads != cfg.num_heads:
            raise ValueError(f"injected blocks do not match cfg (embed_dim={cfg.embed_dim}, num_heads={cfg.num_heads})")
        self.blocks = blocks
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)

    def forward(
        self,
        x: Tensor,
        mask_ratio: float = 0.0,
        generator: torch.Generator | None = None,
        return_attn: bool = False,
        *,
        rounding: Rounding = "round",
        ids_keep: Tensor | None = None,
        noise: Tensor | None = None,
    ) -> dict:
        """Encode ``x`` (``[B, C, T, H, W]`` video or ``[B, C, F, T]`` spectrogram).

        Args:
            mask_ratio: random-masking ratio in ``[0, 1)``; 0 keeps every token in order.
            generator: seeds the mask noise.
            return_attn: also return the last block's attention.
            rounding: kept-count rule (``'round'`` XKD, ``'int'`` MAE).
            ids_keep: ``[B, K]`` explicit kept indices (e.g. tube masks); overrides ``mask_ratio``.
            noise: ``[B, N]`` explicit masking noise for the random masking at ``mask_ratio`` (see
                :func:`~avlib.models.masking.random_masking`); replaces the draw from ``generator``.

        Returns:
            dict with ``tokens [B, 1+K, D]`` (after the final norm, CLS first), ``mask [B, N]`` (1=masked),
            ``ids_restore [B, N]``, ``ids_keep [B, K]``, ``grid`` (token grid tuple) and, if requested,
            ``attn [B, H, 1+K, 1+K]`` (last block, post-softmax).
        """
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        if noise is not None and (ids_keep is not None or mask_ratio == 0):
            raise ValueError("noise drives the random masking: give it with mask_ratio > 0 and without ids_keep")
        grid = self.tokenizer.grid(x.shape)
        tok = self.tokenizer(x)
        B, N, _ = tok.shape
        pos = self.pos_embed(grid)
        tok = tok + pos[:, 1:]
        if ids_keep is not None:
            mask, ids_restore, ids_keep = masking_from_keep(ids_keep.to(tok.device), N, tok.dtype)
            tok = gather_tokens(tok, ids_keep)
        elif mask_ratio > 0:
            tok, mask, ids_restore, ids_keep = random_masking(tok, mask_ratio, generator, rounding, noise=noise)
        else:
            mask = tok.new_zeros(B, N)
            ids_restore = ids_keep = torch.arange(N, device=tok.device).expand(B, N)
        h = torch.cat([(self.cls_token + pos[:, :1]).expand(B, -1, -1), tok], dim=1)
        for blk in self.blocks[:-1]:
            h = blk(h)
        out = {}
        if return_attn:
            out["attn"] = last_block_attention(self.blocks[-1], h)
        h = self.blocks[-1](h)
        out.update(tokens=self.norm(h), mask=mask, ids_restore=ids_restore, ids_keep=ids_keep, grid=grid)
        return out

    def features(self, x: Tensor, pool: Literal["mean", "cls"] = "mean") -> Tensor:
        """Unmasked features ``[B, D]``: mean of the patch tokens after the final norm, CLS excluded
        (XKD's frozen feature), or the CLS token."""
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {pool!r}")
        tokens = self.forward(x)["tokens"]
        return tokens[:, 1:].mean(dim=1) if pool == "mean" else tokens[:, 0]

    def num_params(self, trainable_only: bool = False) -> int:
        """Number of (unique) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def config_dict(self) -> dict:
        """The :class:`ViTConfig` as a plain dict (for logs and checkpoints)."""
        return asdict(self.cfg)
