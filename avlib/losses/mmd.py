"""Domain-alignment losses for XKD (paper Eq. 7-9, Supp. B.7).

* :func:`mmd` -- the released code's kernel: a fixed sum of 7 Gaussian kernels
  ``K(a, b) = sum_g exp(-g * ||a - b||^2)`` with ``g in {1e-3, ..., 1e3}`` and the biased
  V-statistic ``mean(Kxx) + mean(Kyy) - 2 mean(Kxy)`` (diagonals included). This is what produced
  the paper's numbers (reference-notes §1.4) and is the default used by ``avlib.methods.xkd``.
* :func:`mmd_single_sigma` -- the paper-faithful option: Eq. 8's single-bandwidth kernel
  ``exp(-||a - b||^2 / (2 sigma^2))`` with the same V-statistic (Eq. 7).
* :func:`coral` -- the CORAL alternative (difference of means and covariances).

Squared distances are exact to ~1e-12 at the projector width: :func:`pairwise_sq_dists` forms the Gram expansion
``|a|^2 + |b|^2 - 2 a.b`` in float64 (whatever the input dtype, autocast regions included) and sets a set's
distances to itself on the diagonal to exactly 0. In float32 the expansion is wrong where it matters: the
8192-d, LayerNorm-ed projector outputs XKD aligns have ``|a|^2 ~ 8192``, so a sample's distance to itself came
out up to ~3e-3 instead of 0 and the gamma = 100 / 1000 kernels, which should give 1 there, gave 0.75 / 0.05
(the released code computes this way, and ``exact=False`` still does; ``tests/losses/test_mmd.py`` measures the
difference). The matmuls are
[n, d] x [d, m] with n, m the batch, so float64 costs nothing next to the encoders. The losses return the
inputs' accumulation dtype (float32 for fp16/bf16/fp32 inputs, float64 for float64).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from avlib.numerics import accumulation_dtype, to_accumulation

__all__ = ["DEFAULT_GAMMAS", "mmd", "mmd_single_sigma", "coral", "pairwise_sq_dists"]

DEFAULT_GAMMAS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


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


def pairwise_sq_dists(x: Tensor, y: Tensor | None = None, *, exact: bool = True) -> Tensor:
    """Squared Euclidean distances ``||x_i - y_j||^2`` -> ``[n, m]``, ``>= 0``.

    ``x: [n, d]``, ``y: [m, d]``; ``y=None`` is ``x`` against itself. ``exact``: the Gram expansion
    ``|x|^2 + |y|^2 - 2 x y^T`` (one matmul) is formed in float64, where its cancellation error at ``|x|^2 ~ 1e4``
    is ~1e-12, and a set's self-distances are exactly 0; gradients flow back to ``x`` and ``y`` in their dtypes.
    ``exact=False``: the released code's expansion in the inputs' accumulation dtype (float32: errors ~1e-3 at
    ``|x|^2 ~ 1e4``), clamped at 1e-30.
    """
    same = y is None
    if not exact:
        x, y = to_accumulation(x, x if same else y)
        xx, yy = x.pow(2).sum(dim=-1, keepdim=True), y.pow(2).sum(dim=-1, keepdim=True)
        return (torch.addmm(yy.transpose(0, 1), x, y.transpose(0, 1), alpha=-2.0) + xx).clamp_min(1e-30)
    x64 = x.double()
    y64 = x64 if same else y.double()
    xx = x64.pow(2).sum(dim=-1, keepdim=True)  # [n, 1]
    yy = xx if same else y64.pow(2).sum(dim=-1, keepdim=True)  # [m, 1]
    d = (torch.addmm(yy.transpose(0, 1), x64, y64.transpose(0, 1), alpha=-2.0) + xx).clamp_min(0.0)
    if same:
        d = d.masked_fill(torch.eye(d.shape[0], dtype=torch.bool, device=d.device), 0.0)
    return d


def _v_statistic(x: Tensor, y: Tensor, kernel, exact: bool) -> Tensor:
    out = accumulation_dtype(x.dtype, y.dtype)
    kxx = kernel(pairwise_sq_dists(x, exact=exact))
    kyy = kernel(pairwise_sq_dists(y, exact=exact))
    kxy = kernel(pairwise_sq_dists(x, y, exact=exact))
    return (kxx.mean() + kyy.mean() - 2.0 * kxy.mean()).to(out)


def mmd(x: Tensor, y: Tensor, gammas: Sequence[float] = DEFAULT_GAMMAS, *, exact: bool = True) -> Tensor:
    """Biased multi-Gaussian MMD^2 (V-statistic), XKD Eq. 7 with the released code's kernel.

    Args:
        x: ``[n, d]`` samples of the first distribution (e.g. video projector outputs).
        y: ``[m, d]`` samples of the second; ``n != m`` is allowed (XKD-MAS/MATS: 4B vs 2B).
        gammas: kernel precisions; ``K(a, b) = sum_g exp(-g * ||a - b||^2)``.
        exact: exact squared distances (default); ``False``: the released code's float32 ones
            (:func:`pairwise_sq_dists`).

    Returns:
        0-d tensor (float32, float64 for float64 inputs) ``mean(Kxx) + mean(Kyy) - 2 mean(Kxy)`` (diagonals
        included, so it is >= 0 up to rounding and 0 for identical sets). Differentiable w.r.t. ``x``, ``y``.
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
        return _v_statistic(x, y, kernel, exact)


def mmd_single_sigma(x: Tensor, y: Tensor, sigma: float, *, squared: bool = True, exact: bool = True) -> Tensor:
    """Single-bandwidth Gaussian MMD, the paper's Eq. 7 with Eq. 8's kernel.

    ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))``; ``x: [n, d]``, ``y: [m, d]``.

    Args:
        sigma: kernel bandwidth (> 0).
        squared: return the (biased) MMD^2 V-statistic (default; what is minimised in practice and
            matches :func:`mmd`). ``False`` returns its square root, i.e. the RKHS norm literally
            written in Eq. 7 (its gradient is unbounded near 0, so it is not the default).
        exact: as in :func:`mmd`.

    Returns:
        0-d float32 tensor.
    """
    _check_pair(x, y)
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    inv = 1.0 / (2.0 * sigma * sigma)
    with _fp32_off_autocast(x):
        val = _v_statistic(x, y, lambda d: torch.exp(d * (-inv)), exact)
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
