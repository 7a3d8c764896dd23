"""Patch tokenizers for video and spectrograms (XKD layout: rearrange + ``nn.Linear``).

XKD (reference-notes §1.1) does not use a strided convolution: it rearranges the input into
non-overlapping patches, flattens each patch in ``(pt ph pw c)`` order (video) or ``(pf pt c)`` order
(audio, frequency-major tokens) and applies a Linear layer. The functions below fix that layout once:

* ``patchify_video``: ``[B, C, T, H, W] -> [B, t*h*w, pt*ph*pw*C]`` (token order t, h, w).
* ``patchify_audio``: ``[B, C, F, T] -> [B, f*t, pf*pt*C]`` (frequency-major: row f, column t).

A Conv3d/Conv2d patch embedding with kernel = stride = patch is the same linear map; the weight
converters permute between ``[D, pt*ph*pw*C]`` and ``[D, C, pt, ph, pw]`` (and the 2-D analogue).
"""

from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor, nn

__all__ = [
    "VideoTokenizer",
    "AudioTokenizer",
    "patch_grid",
    "patchify_video",
    "unpatchify_video",
    "patchify_audio",
    "unpatchify_audio",
    "linear_to_conv_weight",
    "conv_to_linear_weight",
]


def _as_patch(patch: Sequence[int], n: int, name: str = "patch") -> tuple[int, ...]:
    patch = tuple(int(p) for p in patch)
    if len(patch) != n or any(p < 1 for p in patch):
        raise ValueError(f"{name} must be {n} positive ints, got {patch}")
    return patch


def patch_grid(size: Sequence[int], patch: Sequence[int]) -> tuple[int, ...]:
    """Token grid for spatial ``size`` (e.g. ``(T, H, W)`` or ``(F, T)``) cut by ``patch``.

    Raises ``ValueError`` naming the axis when a size is not divisible by its patch size.
    """
    size, patch = tuple(int(s) for s in size), tuple(int(p) for p in patch)
    if len(size) != len(patch):
        raise ValueError(f"input size {size} and patch {patch} have different ranks")
    for axis, (s, p) in enumerate(zip(size, patch)):
        if s % p != 0:
            raise ValueError(f"input size {size} is not divisible by patch {patch} (axis {axis}: {s} % {p} = {s % p})")
    return tuple(s // p for s, p in zip(size, patch))


def patchify_video(x: Tensor, patch: Sequence[int]) -> Tensor:
    """``x [B, C, T, H, W] -> [B, t*h*w, pt*ph*pw*C]`` (XKD ``(pt ph pw c)`` flatten order)."""
    if x.ndim != 5:
        raise ValueError(f"x must be [B, C, T, H, W], got shape {tuple(x.shape)}")
    pt, ph, pw = _as_patch(patch, 3)
    B, C = x.shape[:2]
    t, h, w = patch_grid(x.shape[2:], (pt, ph, pw))
    x = x.reshape(B, C, t, pt, h, ph, w, pw).permute(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(B, t * h * w, pt * ph * pw * C)


def unpatchify_video(p: Tensor, patch: Sequence[int], grid: Sequence[int]) -> Tensor:
    """Inverse of :func:`patchify_video`: ``p [B, t*h*w, pt*ph*pw*C] -> [B, C, T, H, W]``."""
    pt, ph, pw = _as_patch(patch, 3)
    t, h, w = _as_patch(grid, 3, "grid")
    B, N, P = p.shape
    if N != t * h * w or P % (pt * ph * pw) != 0:
        raise ValueError(f"p of shape {tuple(p.shape)} does not match grid {(t, h, w)} and patch {(pt, ph, pw)}")
    C = P // (pt * ph * pw)
    x = p.reshape(B, t, h, w, pt, ph, pw, C).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(B, C, t * pt, h * ph, w * pw)


def patchify_audio(x: Tensor, patch: Sequence[int]) -> Tensor:
    """``x [B, C, F, T] -> [B, f*t, pf*pt*C]``, frequency-major tokens (row f, column t)."""
    if x.ndim != 4:
        raise ValueError(f"x must be [B, C, F, T], got shape {tuple(x.shape)}")
    pf, pt = _as_patch(patch, 2)
    B, C = x.shape[:2]
    f, t = patch_grid(x.shape[2:], (pf, pt))
    x = x.reshape(B, C, f, pf, t, pt).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(B, f * t, pf * pt * C)


def unpatchify_audio(p: Tensor, patch: Sequence[int], grid: Sequence[int]) -> Tensor:
    """Inverse of :func:`patchify_audio`: ``p [B, f*t, pf*pt*C] -> [B, C, F, T]``."""
    pf, pt = _as_patch(patch, 2)
    f, t = _as_patch(grid, 2, "grid")
    B, N, P = p.shape
    if N != f * t or P % (pf * pt) != 0:
        raise ValueError(f"p of shape {tuple(p.shape)} does not match grid {(f, t)} and patch {(pf, pt)}")
    C = P // (pf * pt)
    x = p.reshape(B, f, t, pf, pt, C).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(B, C, f * pf, t * pt)


def linear_to_conv_weight(weight: Tensor, patch: Sequence[int], in_chans: int) -> Tensor:
    """Linear patch-embed weight ``[D, prod(patch)*C]`` -> conv weight ``[D, C, *patch]``.

    Works for 3-D (``(pt ph pw c)`` layout -> Conv3d) and 2-D (``(pf pt c)`` -> Conv2d) patches.
    The bias is identical in both layouts.
    """
    patch = tuple(int(p) for p in patch)
    if weight.ndim != 2 or weight.shape[1] != math.prod(patch) * in_chans:
        raise ValueError(f"weight of shape {tuple(weight.shape)} does not match patch {patch} x in_chans {in_chans}")
    D, n = weight.shape[0], len(patch)
    w = weight.reshape(D, *patch, in_chans)
    return w.permute(0, n + 1, *range(1, n + 1)).contiguous()


def conv_to_linear_weight(weight: Tensor) -> Tensor:
    """Conv patch-embed weight ``[D, C, *patch]`` -> Linear weight ``[D, prod(patch)*C]``."""
    if weight.ndim not in (4, 5):
        raise ValueError(f"weight must be a Conv2d/Conv3d weight [D, C, *patch], got {tuple(weight.shape)}")
    n = weight.ndim - 2
    return weight.permute(0, *range(2, n + 2), 1).reshape(weight.shape[0], -1).contiguous()


class _Tokenizer(nn.Module):
    """Common part: ``patchify`` then ``nn.Linear(patch_dim, embed_dim)``."""

    ndim_spatial: int = 0
    interp_mode: str = ""

    def __init__(self, patch: Sequence[int], in_chans: int, embed_dim: int):
        super().__init__()
        self.patch = _as_patch(patch, self.ndim_spatial)
        if in_chans < 1 or embed_dim < 1:
            raise ValueError(f"in_chans and embed_dim must be positive, got {in_chans}, {embed_dim}")
        self.in_chans, self.embed_dim = int(in_chans), int(embed_dim)
        self.patch_dim = math.prod(self.patch) * self.in_chans
        self.proj = nn.Linear(self.patch_dim, self.embed_dim)

    def grid(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Token grid for an input shape (full ``x.shape`` or just its trailing spatial dims)."""
        size = tuple(input_shape)[-self.ndim_spatial :]
        if len(size) != self.ndim_spatial:
            raise ValueError(f"input_shape {tuple(input_shape)} has fewer than {self.ndim_spatial} spatial dims")
        return patch_grid(size, self.patch)

    def _check(self, x: Tensor) -> None:
        if x.ndim != self.ndim_spatial + 2 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"x must have shape [B, {self.in_chans}, <{self.ndim_spatial} spatial dims>], got {tuple(x.shape)}"
            )

    def forward(self, x: Tensor) -> Tensor:
        """Input -> tokens ``[B, N, embed_dim]``."""
        self._check(x)
        return self.proj(self.patchify(x))


class VideoTokenizer(_Tokenizer):
    """``[B, C, T, H, W] -> [B, t*h*w, D]`` via ``(pt ph pw c)`` flatten + Linear (XKD ``Cuboids``)."""

    ndim_spatial = 3
    interp_mode = "trilinear"

    def __init__(self, patch: Sequence[int] = (4, 16, 16), in_chans: int = 3, embed_dim: int = 768):
        super().__init__(patch, in_chans, embed_dim)

    def patchify(self, x: Tensor) -> Tensor:
        """``[B, C, T, H, W] -> [B, N, patch_dim]`` (reconstruction targets)."""
        return patchify_video(x, self.patch)

    def unpatchify(self, p: Tensor, grid: Sequence[int]) -> Tensor:
        """``[B, N, patch_dim] -> [B, C, T, H, W]``."""
        return unpatchify_video(p, self.patch, grid)


class AudioTokenizer(_Tokenizer):
    """``[B, C, F, T] -> [B, f*t, D]`` frequency-major via ``(pf pt c)`` flatten + Linear (XKD ``SpecPatches``)."""

    ndim_spatial = 2
    interp_mode = "bicubic_time"

    def __init__(self, patch: Sequence[int] = (4, 16), in_chans: int = 1, embed_dim: int = 768):
        super().__init__(patch, in_chans, embed_dim)

    def patchify(self, x: Tensor) -> Tensor:
        """``[B, C, F, T] -> [B, N, patch_dim]`` (reconstruction targets)."""
        return patchify_audio(x, self.patch)

    def unpatchify(self, p: Tensor, grid: Sequence[int]) -> Tensor:
        """``[B, N, patch_dim] -> [B, C, F, T]``."""
        return unpatchify_audio(p, self.patch, grid)
