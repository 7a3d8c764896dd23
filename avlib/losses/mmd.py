"""Domain-alignment losses for XKD (paper Eq. 7-9, Supp. B.7).

* :func:`mmd` -- the released code's kernel: a fixed sum of 7 Gaussian kernels
  ``K(a, b) = sum_g exp(-g * ||a - b||^2)`` with ``g in {1e-3, ..., 1e3}`` and the biased
  V-statistic ``mean(Kxx) + mean(Kyy) - 2 mean(Kxy)`` (diagonals included). This is what produced
  the paper's numbers (reference-notes §1.4) and is the default used by ``avlib.methods.xkd``.
* :func:`mmd_single_sigma` -- the paper-faithful option: Eq. 8's single-bandwidth kernel
  ``exp(-||a - b||^2 / (2 sigma^2))`` with the same V-statistic (Eq. 7).
* :func:`coral` -- the CORAL alternative (difference of means and covariances).

All three compute in at least float32 (float64 inputs stay float64) even inside an ``autocast`` region: the 8192-d, LayerNorm-ed projector
outputs XKD aligns have ``||a - b||^2`` in the thousands, where fp16/bf16 distances lose the
small differences the kernel is sensitive to.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from avlib.numerics import to_accumulation

__all__ = ["DEFAULT_GAMMAS", "mmd", "mmd_single_sigma", "coral", "pairwise_sq_dists"]

DEFAULT_GAMMAS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
_MIN_SQ_DIST = 1e-30


def _check_pair(x: Tensor, y: Tensor, min_rows: int = 1) -> None:
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 2:
            raise ValueError(f"{name} must be 2-D [n, d], got shape {tuple(t.shape)}")
        if t.shape[0] < min_rows:
            raise ValueError(f"{name} needs at least {min_rows} row(s), got shape {tuple(t.shape)}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same feature dim, got x {tuple(x.shape)} and y {tuple(y.shape)}")


def _fp32_off_autocast(x: Tensor):
    """Context that disables autocast for ``x``'s device type (no-op where unsupported)."""
    try:
        return torch.autocast(device_type=x.device.type, enabled=False)
    except RuntimeError:  # device type without autocast support
        import contextlib

        return contextlib.nullcontext()


def pairwise_sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distances ``||x_i - y_j||^2`` -> ``[n, m]``, clamped at 1e-30.

    ``x: [n, d]``, ``y: [m, d]``. Uses ``||x||^2 + ||y||^2 - 2 x y^T`` (one matmul), so rounding can
    produce tiny negatives on the diagonal; the clamp removes them (as in the released code).
    """
    xx = x.pow(2).sum(dim=-1, keepdim=True)  # [n, 1]
    yy = y.pow(2).sum(dim=-1, keepdim=True)  # [m, 1]
    d = torch.addmm(yy.transpose(0, 1), x, y.transpose(0, 1), alpha=-2.0)  # [n, m]
    return (d + xx).clamp_min(_MIN_SQ_DIST)


def _v_statistic(x: Tensor, y: Tensor, kernel) -> Tensor:
    kxx = kernel(pairwise_sq_dists(x, x))
    kyy = kernel(pairwise_sq_dists(y, y))
    kxy = kernel(pairwise_sq_dists(x, y))
    return kxx.mean() + kyy.mean() - 2.0 * kxy.mean()


def mmd(x: Tensor, y: Tensor, gammas: Sequence[float] = DEFAULT_GAMMAS) -> Tensor:
    """Biased multi-Gaussian MMD^2 (V-statistic), XKD Eq. 7 with the released code's kernel.

    Args:
        x: ``[n, d]`` samples of the first distribution (e.g. video projector outputs).
        y: ``[m, d]`` samples of the second; ``n != m`` is allowed (XKD-MAS/MATS: 4B vs 2B).
        gammas: kernel precisions; ``K(a, b) = sum_g exp(-g * ||a - b||^2)``.

    Returns:
        0-d float32 tensor ``mean(Kxx) + mean(Kyy) - 2 mean(Kxy)`` (diagonals included, so it is
        >= 0 up to rounding and exactly 0 for identical sets). Differentiable w.r.t. ``x``, ``y``.
    """
    _check_pair(x, y)
    gammas = tuple(float(g) for g in gammas)
    if len(gammas) == 0:
        raise ValueError("gammas must contain at least one value")
    if any(not g > 0 for g in gammas):
        raise ValueError(f"gammas must all be > 0, got {gammas}")

    def kernel(d: Tensor) -> Tensor:
        k = torch.zeros_like(d)
        for g in gammas:
            k = k + torch.exp(d * (-g))
        return k

    with _fp32_off_autocast(x):
        return _v_statistic(*to_accumulation(x, y), kernel)


def mmd_single_sigma(x: Tensor, y: Tensor, sigma: float, *, squared: bool = True) -> Tensor:
    """Single-bandwidth Gaussian MMD, the paper's Eq. 7 with Eq. 8's kernel.

    ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))``; ``x: [n, d]``, ``y: [m, d]``.

    Args:
        sigma: kernel bandwidth (> 0).
        squared: return the (biased) MMD^2 V-statistic (default; what is minimised in practice and
            matches :func:`mmd`). ``False`` returns its square root, i.e. the RKHS norm literally
            written in Eq. 7 (its gradient is unbounded near 0, so it is not the default).

    Returns:
        0-d float32 tensor.
    """
    _check_pair(x, y)
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    inv = 1.0 / (2.0 * sigma * sigma)
    with _fp32_off_autocast(x):
        val = _v_statistic(*to_accumulation(x, y), lambda d: torch.exp(d * (-inv)))
        if squared:
            return val
        return val.clamp_min(0.0).sqrt()


def coral(x: Tensor, y: Tensor) -> Tensor:
    """CORAL-style discrepancy (Supp. B.7 alternative to MMD).

    ``mean_k (mu_x - mu_y)_k^2 + mean_{k,l} (C_x - C_y)_{kl}^2`` with ``mu`` the feature means and
    ``C`` the unbiased (n - 1) feature covariances. ``x: [n, d]``, ``y: [m, d]``, ``n, m >= 2``.

    Returns:
        0-d float32 tensor.
    """
    _check_pair(x, y, min_rows=2)
    with _fp32_off_autocast(x):
        x, y = to_accumulation(x, y)
        mx, my = x.mean(dim=0, keepdim=True), y.mean(dim=0, keepdim=True)
        cx = (x - mx).transpose(0, 1) @ (x - mx) / (x.shape[0] - 1)
        cy = (y - my).transpose(0, 1) @ (y - my) / (y.shape[0] - 1)
        return (mx - my).pow(2).mean() + (cx - cy).pow(2).mean()
