"""MAE decoder (XKD ``mask_model.py``, reference-notes §1.1 and §6 item 6).

``tokens [B, 1+K, enc_dim]`` (encoder output, CLS first) -> ``mid_proj`` -> append ``N-K`` mask tokens
-> unshuffle with ``ids_restore`` -> add the decoder pos-embed (CLS slot included; interpolated for
non-native grids like the encoder's) -> timm blocks -> optional final LayerNorm (XKD: none; MAE and
CAV-MAE: yes) -> ``out_proj`` -> drop CLS -> ``pred [B, N, patch_dim]`` in the tokenizer's patch order.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from .pos_embed import InterpMode, LearnablePosEmbed
from .vit import ViTConfig, build_blocks, init_weights

__all__ = ["MAEDecoder"]


class MAEDecoder(nn.Module):
    """Lightweight transformer decoder predicting every patch.

    Args:
        enc_dim: encoder width. dec_dim: decoder width. depth, num_heads: decoder blocks.
        patch_dim: values per patch to predict (e.g. ``4*16*16*3`` video, ``4*16*1`` audio).
        max_grid: token grid of the largest input (native pos-embed grid).
        decoder_norm: final LayerNorm before ``out_proj`` (XKD: False).
        qkv_bias: XKD: False. mlp_ratio, norm_eps: as in :class:`~avlib.models.vit.ViTConfig`.
        interp_mode: pos-embed interpolation (``'auto'``: trilinear for 3-D grids, bicubic along time
            for 2-D grids).
    """

    def __init__(
        self,
        enc_dim: int,
        dec_dim: int,
        depth: int,
        num_heads: int,
        patch_dim: int,
        max_grid: Sequence[int],
        decoder_norm: bool = False,
        qkv_bias: bool = False,
        mlp_ratio: float = 4.0,
        norm_eps: float = 1e-5,
        interp_mode: InterpMode = "auto",
        interp_offset: float = 0.1,
    ):
        super().__init__()
        if min(enc_dim, dec_dim, patch_dim) < 1:
            raise ValueError(f"enc_dim, dec_dim and patch_dim must be positive, got {enc_dim}, {dec_dim}, {patch_dim}")
        cfg = ViTConfig(dec_dim, depth, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, norm_eps=norm_eps)
        self.enc_dim, self.dec_dim, self.patch_dim = int(enc_dim), int(dec_dim), int(patch_dim)
        self.max_grid = tuple(int(g) for g in max_grid)
        self.mid_proj = nn.Linear(enc_dim, dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_dim))
        self.pos_embed = LearnablePosEmbed(
            self.max_grid, dec_dim, cls_token=True, mode=interp_mode, offset=interp_offset
        )
        self.blocks = build_blocks(cfg)
        self.norm = nn.LayerNorm(dec_dim, eps=norm_eps) if decoder_norm else nn.Identity()
        self.out_proj = nn.Linear(dec_dim, patch_dim)
        init_weights(self)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, tokens: Tensor, ids_restore: Tensor, grid: Sequence[int] | None = None) -> Tensor:
        """Predict all patches.

        Args:
            tokens: encoder output ``[B, 1+K, enc_dim]``, CLS first, kept tokens in encoder order.
            ids_restore: ``[B, N]`` from the masking (restores the original token order).
            grid: token grid of the input (default: ``max_grid``); ``prod(grid)`` must equal ``N``.

        Returns:
            ``pred [B, N, patch_dim]`` (CLS dropped).
        """
        grid = self.max_grid if grid is None else tuple(int(g) for g in grid)
        if tokens.ndim != 3 or tokens.shape[-1] != self.enc_dim:
            raise ValueError(f"tokens must be [B, 1+K, {self.enc_dim}], got {tuple(tokens.shape)}")
        B, K1, _ = tokens.shape
        N = ids_restore.shape[1]
        if ids_restore.shape[0] != B or not 1 <= K1 - 1 <= N:
            raise ValueError(f"ids_restore {tuple(ids_restore.shape)} does not match tokens {tuple(tokens.shape)}")
        n_grid = math.prod(grid)
        if n_grid != N:
            raise ValueError(f"grid {grid} has {n_grid} tokens but ids_restore has N={N}")
        x = self.mid_proj(tokens)
        body = torch.cat([x[:, 1:], self.mask_token.expand(B, N - (K1 - 1), -1)], dim=1)
        body = torch.gather(body, 1, ids_restore.unsqueeze(-1).expand(-1, -1, self.dec_dim))
        x = torch.cat([x[:, :1], body], dim=1) + self.pos_embed(grid)
        for blk in self.blocks:
            x = blk(x)
        return self.out_proj(self.norm(x))[:, 1:]
