"""Positional embeddings: learnable with a CLS slot (XKD) and fixed sin-cos tables (MAE/MAViL).

XKD (reference-notes §1.1) learns ``pos [1, 1+N, D]`` (trunc_normal std .02) for the largest grid and
interpolates it for local views: trilinear over ``(t, h, w)`` for video, bicubic along time only for
audio (the frequency size must not change). The CLS slot is never interpolated. Following DINO,
``F.interpolate`` is called with ``scale_factor = (dst + offset) / src`` (``offset=0.1``: the "+0.1
trick"), which fixes both the output size and the sampling positions; ``offset=0`` uses ``size=dst``.
Equal grids return the table unchanged (exact identity).

Grids are token grids: ``(t, h, w)`` for video, ``(f, t)`` (frequency-major) for audio.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "InterpMode",
    "LearnablePosEmbed",
    "interpolate",
    "interpolation_matrix",
    "sincos_pos_embed_1d",
    "sincos_pos_embed_2d",
    "sincos_pos_embed_3d",
]

InterpMode = Literal["auto", "trilinear", "bicubic_time", "bicubic", "linear"]
_MODE_NDIM = {"trilinear": 3, "bicubic_time": 2, "bicubic": 2, "linear": 1}


def _resolve_mode(mode: str, ndim: int) -> str:
    if mode == "auto":
        mode = {3: "trilinear", 2: "bicubic_time", 1: "linear"}.get(ndim, "")
        if not mode:
            raise ValueError(f"mode='auto' supports 1-3 dim grids, got a {ndim}-dim grid")
    if mode not in _MODE_NDIM:
        raise ValueError(f"mode must be one of {['auto', *_MODE_NDIM]}, got {mode!r}")
    if _MODE_NDIM[mode] != ndim:
        raise ValueError(f"mode {mode!r} needs a {_MODE_NDIM[mode]}-dim grid, got a {ndim}-dim grid")
    return mode


def _resize(x: Tensor, src: tuple[int, ...], dst: tuple[int, ...], mode: str, offset: float) -> Tensor:
    """Resample ``x [1, C, *src] -> [1, C, *dst]`` with the module's conventions."""
    if mode == "bicubic_time" and src[0] != dst[0]:
        raise ValueError(
            f"bicubic_time interpolation keeps the frequency size: src grid {src} and dst grid {dst} differ in axis 0"
        )
    torch_mode = {"trilinear": "trilinear", "bicubic_time": "bicubic", "bicubic": "bicubic", "linear": "linear"}[mode]
    if offset > 0:
        scale = tuple(
            1.0 if (mode == "bicubic_time" and i == 0) else (d + offset) / s for i, (s, d) in enumerate(zip(src, dst))
        )
        out = F.interpolate(x, scale_factor=scale, mode=torch_mode, align_corners=False)
    else:
        out = F.interpolate(x, size=dst, mode=torch_mode, align_corners=False)
    if tuple(out.shape[2:]) != tuple(dst):  # pragma: no cover - guards float rounding of scale_factor
        raise RuntimeError(f"interpolation produced grid {tuple(out.shape[2:])}, expected {dst}")
    return out


def _grids(src_grid: Sequence[int], dst_grid: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    src, dst = tuple(int(g) for g in src_grid), tuple(int(g) for g in dst_grid)
    if len(src) != len(dst) or min(src + dst) < 1:
        raise ValueError(f"src_grid {src} and dst_grid {dst} must be positive grids of the same rank")
    return src, dst


def interpolate(
    pos: Tensor,
    src_grid: Sequence[int],
    dst_grid: Sequence[int],
    mode: InterpMode = "auto",
    offset: float = 0.1,
    cls_token: bool = True,
) -> Tensor:
    """Interpolate ``pos [1, c+N_src, D] -> [1, c+N_dst, D]`` (``c = 1`` with a CLS slot, else 0).

    ``mode``: ``trilinear`` (video ``(t, h, w)``), ``bicubic_time`` (audio ``(f, t)``, frequency size
    must match), ``bicubic`` (2-D images), ``linear`` (1-D) or ``auto`` (by grid rank: 3 -> trilinear,
    2 -> bicubic_time, 1 -> linear). Identical grids return ``pos`` itself.
    """
    src, dst = _grids(src_grid, dst_grid)
    mode = _resolve_mode(mode, len(src))
    c = int(cls_token)
    if pos.ndim != 3 or pos.shape[0] != 1 or pos.shape[1] != c + math.prod(src):
        raise ValueError(f"pos must be [1, {c}+{math.prod(src)}, D] for src_grid {src}, got {tuple(pos.shape)}")
    if src == dst:
        return pos
    D = pos.shape[-1]
    grid = pos[:, c:].reshape(1, *src, D).movedim(-1, 1)
    out = _resize(grid, src, dst, mode, offset).movedim(1, -1).reshape(1, -1, D)
    return torch.cat([pos[:, :c], out], dim=1)


def interpolation_matrix(
    src_grid: Sequence[int],
    dst_grid: Sequence[int],
    mode: InterpMode = "auto",
    offset: float = 0.1,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Matrix ``M [N_dst, N_src]`` with ``interpolate(pos)[c:] == M @ pos[c:]`` (interpolation is linear)."""
    src, dst = _grids(src_grid, dst_grid)
    mode = _resolve_mode(mode, len(src))
    n = math.prod(src)
    eye = torch.eye(n, dtype=torch.float64, device=device).reshape(1, n, *src)
    m = _resize(eye, src, dst, mode, offset).reshape(n, -1).t()
    return m.to(dtype).contiguous()


class LearnablePosEmbed(nn.Module):
    """Learnable table ``weight [1, c+N, D]`` for ``grid`` (``c = 1`` with a CLS slot), trunc_normal .02.

    ``forward(grid)`` returns the table for another grid, interpolated as in :func:`interpolate`. The
    interpolation matrix is cached per (grid, device, dtype); the result is recomputed from the
    parameter at every call, so gradients always reach ``weight`` and the table never goes stale.
    """

    def __init__(
        self, grid: Sequence[int], dim: int, cls_token: bool = True, mode: InterpMode = "auto", offset: float = 0.1
    ):
        super().__init__()
        self.grid = tuple(int(g) for g in grid)
        if not self.grid or min(self.grid) < 1 or dim < 1:
            raise ValueError(f"grid must be positive ints and dim > 0, got grid={grid}, dim={dim}")
        self.mode = _resolve_mode(mode, len(self.grid))
        self.offset, self.cls_token, self.dim = float(offset), bool(cls_token), int(dim)
        self.weight = nn.Parameter(torch.zeros(1, int(cls_token) + math.prod(self.grid), dim))
        nn.init.trunc_normal_(self.weight, std=0.02)
        self._cache: dict = {}

    def matrix(self, grid: Sequence[int]) -> Tensor:
        """Cached ``[N_grid, N_self]`` interpolation matrix on the parameter's device and dtype."""
        key = (tuple(int(g) for g in grid), self.weight.device, self.weight.dtype)
        if key not in self._cache:
            self._cache[key] = interpolation_matrix(
                self.grid, key[0], self.mode, self.offset, self.weight.dtype, self.weight.device
            )
        return self._cache[key]

    def forward(self, grid: Sequence[int] | None = None) -> Tensor:
        """Table ``[1, c+N_grid, D]`` for ``grid`` (default: the native grid, returned as is)."""
        if grid is None or tuple(int(g) for g in grid) == self.grid:
            return self.weight
        if len(grid) != len(self.grid):
            raise ValueError(f"grid {tuple(grid)} must have the rank of the native grid {self.grid}")
        c = int(self.cls_token)
        body = torch.matmul(self.matrix(grid), self.weight[0, c:]).unsqueeze(0)
        return torch.cat([self.weight[:, :c], body], dim=1)

    def extra_repr(self) -> str:
        return f"grid={self.grid}, dim={self.dim}, cls_token={self.cls_token}, mode={self.mode!r}"


# ----------------------------------------------------------------------------- fixed sin-cos tables


def sincos_pos_embed_1d(dim: int, positions: Tensor | int) -> Tensor:
    """Sin-cos table ``[L, dim]``: first half ``sin(p * w_k)``, second half ``cos(p * w_k)``,
    ``w_k = 10000^(-k / (dim/2))``. ``positions`` is a length ``L`` or a 1-D tensor of positions."""
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be a positive even number, got {dim}")
    pos = torch.arange(positions, dtype=torch.float64) if isinstance(positions, int) else positions.double().flatten()
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = pos[:, None] * omega[None]
    return torch.cat([out.sin(), out.cos()], dim=1).float()


def _with_cls(table: Tensor, cls_token: bool) -> Tensor:
    return torch.cat([torch.zeros(1, table.shape[1]), table]) if cls_token else table


def sincos_pos_embed_2d(dim: int, grid: Sequence[int], cls_token: bool = False) -> Tensor:
    """Fixed 2-D table ``[(1)+h*w, dim]`` for a (possibly rectangular) grid ``(h, w)``, row-major tokens.

    MAE convention: the first ``dim/2`` channels encode the column (last-axis) index, the second half
    the row index. A CLS row of zeros is prepended when ``cls_token``.
    """
    if dim % 4:
        raise ValueError(f"dim must be divisible by 4 for a 2-D sin-cos table, got {dim}")
    h, w = (int(g) for g in grid)
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    table = torch.cat([sincos_pos_embed_1d(dim // 2, cols), sincos_pos_embed_1d(dim // 2, rows)], dim=1)
    return _with_cls(table, cls_token)


def sincos_pos_embed_3d(dim: int, grid: Sequence[int], cls_token: bool = False) -> Tensor:
    """Fixed 3-D table ``[(1)+t*h*w, dim]`` for ``(t, h, w)``: the first ``dim/4`` channels encode time
    (1-D sin-cos), the remaining ``3*dim/4`` the spatial position (2-D rule). Needs ``dim % 16 == 0``."""
    if dim % 16:
        raise ValueError(f"dim must be divisible by 16 for a 3-D sin-cos table, got {dim}")
    t, h, w = (int(g) for g in grid)
    d_t = dim // 4
    temporal = sincos_pos_embed_1d(d_t, t)  # [t, d_t]
    spatial = sincos_pos_embed_2d(dim - d_t, (h, w))  # [h*w, d_s]
    table = torch.cat(
        [temporal[:, None].expand(t, h * w, d_t), spatial[None].expand(t, h * w, dim - d_t)], dim=2
    ).reshape(t * h * w, dim)
    return _with_cls(table, cls_token)
