"""Audio-video fusion encoders of MAViL (Sec. 3.1, Table 2): a vanilla joint Transformer or an MBT bottleneck.

Both take the uni-modal encoder outputs ``a [B, 1+Ka, D]`` and ``v [B, 1+Kv, D]`` (CLS first, visible tokens
only) and return ``(a_mm, v_mm)`` of the same shapes (the joint ones after a final LayerNorm per modality):

* :class:`VanillaFusion`: ``L`` timm blocks on ``a || v`` (one sequence), split back afterwards.
* :class:`BottleneckFusion` (MBT, Nagrani et al. 2021): ``n_bottleneck`` learnable tokens ``b``; per layer
  ``l`` the *same* block ``g^l`` runs on ``a || b`` and on ``v || b`` separately, and ``b <- (b_a + b_v) / 2``:
  the only path between the modalities is through the bottleneck.
* :class:`NoFusion` (Table 2 "None"): the identity.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .vit import ViTConfig, build_blocks

__all__ = ["FUSIONS", "NoFusion", "VanillaFusion", "BottleneckFusion", "build_fusion"]

FUSIONS = ("none", "vanilla", "mbt")


def _check(a: Tensor, v: Tensor, dim: int) -> None:
    if a.ndim != 3 or v.ndim != 3 or a.shape[0] != v.shape[0] or a.shape[-1] != dim or v.shape[-1] != dim:
        raise ValueError(
            f"fusion expects a [B, Na, {dim}] and v [B, Nv, {dim}], got {tuple(a.shape)}, {tuple(v.shape)}"
        )


class NoFusion(nn.Module):
    """No joint layers (Table 2 "None": the uni-modal MAE baselines): the encoders' outputs pass unchanged."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, a: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        _check(a, v, self.dim)
        return a, v


class VanillaFusion(nn.Module):
    """``(a_mm || v_mm) = Transformer(a_um || v_um)``: ``cfg.depth`` blocks on the concatenated sequence."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.dim = cfg.embed_dim
        self.blocks = build_blocks(cfg)
        self.norm_a = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.norm_v = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)

    def forward(self, a: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        _check(a, v, self.dim)
        x = torch.cat([a, v], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm_a(x[:, : a.shape[1]]), self.norm_v(x[:, a.shape[1] :])


class BottleneckFusion(nn.Module):
    """MBT fusion: per layer ``a||b_a = g(a||b)``, ``v||b_v = g(v||b)`` (one block, two calls), ``b = (b_a+b_v)/2``.

    ``b^0`` is a learnt ``[1, n_bottleneck, D]`` parameter (std 0.02), the same for every sample. The two calls
    of one layer run as one batched call on ``[2B, ...]`` when ``Na == Nv`` (same result; attention never
    crosses rows)."""

    def __init__(self, cfg: ViTConfig, n_bottleneck: int = 4):
        super().__init__()
        if n_bottleneck < 1:
            raise ValueError(f"n_bottleneck must be >= 1, got {n_bottleneck}")
        self.dim, self.n_bottleneck = cfg.embed_dim, int(n_bottleneck)
        self.blocks = build_blocks(cfg)
        self.bottleneck = nn.Parameter(torch.zeros(1, n_bottleneck, cfg.embed_dim))
        nn.init.normal_(self.bottleneck, std=0.02)
        self.norm_a = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.norm_v = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)

    def forward(self, a: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        _check(a, v, self.dim)
        B, Na, Nv = a.shape[0], a.shape[1], v.shape[1]
        b = self.bottleneck.expand(B, -1, -1)
        for blk in self.blocks:
            if Na == Nv:
                out = blk(torch.cat([torch.cat([a, b], 1), torch.cat([v, b], 1)], 0))
                xa, xv = out[:B], out[B:]
            else:
                xa, xv = blk(torch.cat([a, b], 1)), blk(torch.cat([v, b], 1))
            a, v = xa[:, :Na], xv[:, :Nv]
            b = 0.5 * (xa[:, Na:] + xv[:, Nv:])
        return self.norm_a(a), self.norm_v(v)


def build_fusion(kind: str, cfg: ViTConfig, n_bottleneck: int = 4) -> nn.Module:
    """``'none'`` | ``'vanilla'`` | ``'mbt'`` (``cfg.depth`` layers, the width and heads of the encoders)."""
    if kind == "none":
        return NoFusion(cfg.embed_dim)
    if kind == "vanilla":
        return VanillaFusion(cfg)
    if kind == "mbt":
        return BottleneckFusion(cfg, n_bottleneck)
    raise ValueError(f"fusion must be one of {list(FUSIONS)}, got {kind!r}")
