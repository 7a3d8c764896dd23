"""Fixed sin-cos positional embeddings for encoders and decoders (MAE, AudioMAE, MAViL).

MAViL (Sec. 3.1, App. B) adds fixed sin-cos tables: 2-D over the audio ``(time, frequency)`` patch grid and,
as in the av-superb port's encoder, 3-D over the video ``(time, height, width)`` grid (reference-notes §3.1;
the paper says "2-D" for the decoders too, which for video is the 3-D rule at one frame pair per slot).
:class:`FixedPosEmbed` has the call signature of :class:`~avlib.models.pos_embed.LearnablePosEmbed`
(``pos(grid) -> [1, 1+N, D]``, CLS slot zero), so :func:`with_fixed_pos` swaps it into a
:class:`~avlib.models.vit.ViTEncoder` or :class:`~avlib.models.decoder.MAEDecoder`. The table is a
non-persistent buffer: nothing to learn, nothing in the state dict.
"""

from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor, nn

from .pos_embed import sincos_pos_embed_2d, sincos_pos_embed_3d

__all__ = ["FixedPosEmbed", "with_fixed_pos"]


class FixedPosEmbed(nn.Module):
    """``[1, 1+prod(grid), dim]`` fixed sin-cos table (CLS row zero) for a 2-D or 3-D token grid."""

    def __init__(self, grid: Sequence[int], dim: int):
        super().__init__()
        self.grid = tuple(int(g) for g in grid)
        if len(self.grid) == 2:
            table = sincos_pos_embed_2d(dim, self.grid, cls_token=True)
        elif len(self.grid) == 3:
            table = sincos_pos_embed_3d(dim, self.grid, cls_token=True)
        else:
            raise ValueError(f"FixedPosEmbed: grid must have 2 or 3 dims, got {self.grid}")
        self.register_buffer("table", table[None], persistent=False)

    def forward(self, grid: Sequence[int] | None = None) -> Tensor:
        if grid is not None and tuple(int(g) for g in grid) != self.grid:
            raise ValueError(
                f"fixed sin-cos positions are built for the token grid {self.grid} ({math.prod(self.grid)} tokens); "
                f"got an input with grid {tuple(grid)}: give clips of the pretraining size"
            )
        return self.table

    def extra_repr(self) -> str:
        return f"grid={self.grid}, dim={self.table.shape[-1]}"


def with_fixed_pos(module: nn.Module, grid: Sequence[int]) -> nn.Module:
    """Replace ``module.pos_embed`` (a learnable table) by a :class:`FixedPosEmbed` of the same width."""
    old = getattr(module, "pos_embed", None)
    if old is None or not hasattr(old, "dim"):
        raise ValueError(f"{type(module).__name__} has no learnable pos_embed to replace")
    module.pos_embed = FixedPosEmbed(grid, old.dim)
    return module
