"""Token masking: MAE random masking (XKD) and VideoMAE tube masking.

Conventions (MAE): ``mask [B, N]`` float, 1 = masked (dropped), 0 = kept; ``ids_keep [B, K]`` are the
kept token indices in the order the encoder sees them; ``ids_restore [B, N]`` maps the encoder order
``[kept..., masked...]`` back to the original token order (``gather(cat(kept, masked), ids_restore)``).
Every sample keeps the same number ``K`` of tokens (the decoders rely on it).

Kept count: XKD uses ``K = round(N * (1 - ratio))`` (Python ``round``), MAE ``K = int(N * (1 - ratio))``.
Video 392 tokens at 0.85 keeps 59 (round) vs 58 (int); audio 560 at 0.80 keeps 112 vs 111.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import Tensor

__all__ = ["Rounding", "num_kept", "random_masking", "tube_masking", "gather_tokens", "masking_from_keep"]

Rounding = Literal["round", "int"]


def num_kept(n_tokens: int, ratio: float, rounding: Rounding = "round") -> int:
    """Number of kept tokens ``K`` for ``n_tokens`` at mask ``ratio`` under the ``rounding`` rule."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    if rounding == "round":
        k = round(n_tokens * (1 - ratio))
    elif rounding == "int":
        k = int(n_tokens * (1 - ratio))
    else:
        raise ValueError(f"rounding must be 'round' or 'int', got {rounding!r}")
    if k < 1:
        raise ValueError(f"ratio {ratio} keeps no token out of {n_tokens} (rounding={rounding!r})")
    return k


def gather_tokens(x: Tensor, ids: Tensor) -> Tensor:
    """``x [B, N, D]``, ``ids [B, K]`` -> ``x[b, ids[b]]`` of shape ``[B, K, D]``."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def _noise(shape: tuple[int, int], generator: torch.Generator | None, device: torch.device) -> Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def _from_shuffle(ids_shuffle: Tensor, k: int, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """``ids_shuffle [B, N]`` (kept first) -> ``(mask, ids_restore, ids_keep)``."""
    B, N = ids_shuffle.shape
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(B, N, device=ids_shuffle.device, dtype=dtype)
    mask[:, :k] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return mask, ids_restore, ids_shuffle[:, :k]


def random_masking(
    x: Tensor,
    ratio: float,
    generator: torch.Generator | None = None,
    rounding: Rounding = "round",
    noise: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-sample unstructured masking by argsort of uniform noise (MAE; XKD ``models/mask.py``).

    Args:
        x: tokens ``[B, N, D]``.
        ratio: fraction of tokens to mask, in ``[0, 1)``.
        generator: optional ``torch.Generator`` for reproducible masks (any device).
        rounding: ``'round'`` (XKD) or ``'int'`` (MAE) for the kept count.
        noise: explicit masking noise ``[B, N]`` instead of a random draw: the ``K`` tokens with the
            smallest noise are kept, in ascending noise order (MAE's rule). An ``ids_restore`` of an
            earlier masking used as the noise reproduces that masking exactly; ``-noise`` keeps a
            disjoint set when ``ratio >= 0.5`` (MAViL's two views with exclusive visible tokens).

    Returns:
        ``(x_kept [B, K, D], mask [B, N] (x.dtype, 1=masked), ids_restore [B, N], ids_keep [B, K])``.
    """
    if x.ndim != 3:
        raise ValueError(f"x must be [B, N, D], got shape {tuple(x.shape)}")
    B, N, _ = x.shape
    k = num_kept(N, ratio, rounding)
    if noise is None:
        noise = _noise((B, N), generator, x.device)
    elif tuple(noise.shape) != (B, N):
        raise ValueError(f"noise must be [B, N] = {(B, N)} for these tokens, got {tuple(noise.shape)}")
    ids_shuffle = torch.argsort(noise.to(x.device), dim=1)
    mask, ids_restore, ids_keep = _from_shuffle(ids_shuffle, k, x.dtype)
    return gather_tokens(x, ids_keep), mask, ids_restore, ids_keep


def tube_masking(
    grid: Sequence[int],
    ratio: float,
    batch_size: int,
    generator: torch.Generator | None = None,
    rounding: Rounding = "round",
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """VideoMAE tube masking: one random spatial mask per sample, repeated over all ``t`` slices.

    Args:
        grid: token grid ``(t, h, w)``; tokens are ordered ``(t h w)`` as in :mod:`avlib.models.patch`.
        ratio: fraction of spatial positions masked (the kept count uses ``rounding`` on ``h*w``).
        batch_size: ``B``.

    Returns:
        ``(mask [B, N] float 1=masked, ids_restore [B, N], ids_keep [B, t*K_s])`` with ``ids_keep``
        ascending (token order preserved); use :func:`gather_tokens` to select the kept tokens.
    """
    if len(grid) != 3 or min(grid) < 1:
        raise ValueError(f"grid must be (t, h, w) positive ints, got {tuple(grid)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    t, h, w = (int(g) for g in grid)
    device = torch.device(device) if device is not None else torch.device("cpu")
    k_s = num_kept(h * w, ratio, rounding)
    spatial = torch.argsort(_noise((batch_size, h * w), generator, device), dim=1)[:, :k_s]
    keep_s = torch.zeros(batch_size, h * w, dtype=torch.bool, device=device).scatter_(1, spatial, True)
    keep = keep_s.repeat(1, t)  # [B, t*h*w]
    ids_keep = keep.nonzero()[:, 1].reshape(batch_size, t * k_s)  # ascending per row
    return masking_from_keep(ids_keep, t * h * w)


def masking_from_keep(
    ids_keep: Tensor, n_tokens: int, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor, Tensor]:
    """Build ``(mask [B, N], ids_restore [B, N], ids_keep [B, K])`` from given kept indices.

    The masked tokens follow the kept ones in ascending index order. ``ids_keep`` must hold ``K``
    distinct indices in ``[0, n_tokens)`` per row.
    """
    if ids_keep.ndim != 2:
        raise ValueError(f"ids_keep must be [B, K], got shape {tuple(ids_keep.shape)}")
    B, K = ids_keep.shape
    if not 0 < K <= n_tokens:
        raise ValueError(f"ids_keep keeps {K} tokens, must be in [1, n_tokens={n_tokens}]")
    if int(ids_keep.min()) < 0 or int(ids_keep.max()) >= n_tokens:
        raise ValueError(f"ids_keep values must lie in [0, n_tokens={n_tokens})")
    keep = torch.zeros(B, n_tokens, dtype=torch.bool, device=ids_keep.device).scatter_(1, ids_keep, True)
    if int(keep.sum(1).min()) != K:
        raise ValueError("ids_keep has repeated indices in some row")
    ids_masked = (~keep).nonzero()[:, 1].reshape(B, n_tokens - K)
    ids_shuffle = torch.cat([ids_keep, ids_masked], dim=1)
    mask, ids_restore, _ = _from_shuffle(ids_shuffle, K, dtype)
    return mask, ids_restore, ids_keep
