"""Masked reconstruction loss (XKD Eq. 1; summed over modalities in Eq. 2 by the caller)."""

from __future__ import annotations

import torch
from torch import Tensor

from avlib.numerics import to_accumulation

__all__ = ["masked_mse"]


def masked_mse(
    pred: Tensor,
    target: Tensor,
    mask: Tensor,
    norm_pix: bool = True,
    eps: float = 1e-6,
    *,
    unbiased_var: bool = True,
) -> Tensor:
    """MSE over masked patches only, with optional per-patch target standardisation (Eq. 1).

    ``L = (1 / N_m) sum_{b,i: mask=1} mean_p (pred[b,i,p] - t[b,i,p])^2`` where, if ``norm_pix``,
    ``t = (target - mean_p target) / sqrt(var_p target + eps)`` per patch (MAE's ``norm_pix_loss``;
    the XKD code uses the same with eps 1e-6).

    Args:
        pred: ``[B, N, P]`` decoder predictions for all N patches (P = values per patch).
        target: ``[B, N, P]`` patchified input.
        mask: ``[B, N]``, 1 = masked (reconstructed), 0 = visible; bool or float.
        norm_pix: standardise each target patch.
        eps: added to the per-patch variance.
        unbiased_var: use the (P - 1) variance, as ``torch.var``'s default in MAE and XKD.

    Returns:
        0-d tensor, float32 (float64 for float64 inputs). If no patch is masked the loss is 0 (the denominator is clamped at 1).
    """
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, Tensor) or t.ndim != 3:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a 3-D tensor [B, N, P], got {shape}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if not isinstance(mask, Tensor) or tuple(mask.shape) != tuple(pred.shape[:2]):
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must have shape [B, N] = {tuple(pred.shape[:2])}, got {shape}")
    if norm_pix and unbiased_var and pred.shape[-1] < 2:
        raise ValueError("norm_pix with unbiased_var needs at least 2 values per patch (P >= 2)")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")

    with torch.autocast(device_type=pred.device.type, enabled=False):
        pred, target = to_accumulation(pred, target)
        if norm_pix:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True, unbiased=unbiased_var)
            target = (target - mean) / (var + eps).sqrt()
        per_patch = (pred - target).pow(2).mean(dim=-1)  # [B, N]
        m = mask.to(per_patch.dtype)
        return (per_patch * m).sum() / m.sum().clamp_min(1.0)
