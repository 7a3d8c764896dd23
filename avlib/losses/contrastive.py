"""Audio-visual InfoNCE (MAViL inter/intra-modal contrast, CAV-MAE; reference-notes §6 item 10)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from avlib.numerics import at_least_fp32

__all__ = ["info_nce"]


def info_nce(x: Tensor, y: Tensor, tau: float, *, symmetric: bool = False) -> Tensor:
    """InfoNCE with cosine similarity; the positive of ``x[i]`` is ``y[i]`` (diagonal).

    ``logits = cos(x_i, y_j) / tau`` (``[B, B]``), loss ``= mean_i -log softmax_j(logits)_{ii}``,
    i.e. the cross-entropy of ``x -> y`` averaged over ``x`` (DESIGN §8). Computed in at least float32.

    Args:
        x: ``[B, d]`` anchors (e.g. audio embeddings).
        y: ``[B, d]`` candidates (e.g. video embeddings); negatives are the other rows of ``y``.
        tau: temperature > 0 (CAV-MAE 0.05; MAViL inter 0.1, intra 1.0).
        symmetric: if True, return ``(CE(x->y) + CE(y->x)) / 2``.

    Returns:
        0-d tensor in at least float32.
    """
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor) or t.ndim != 2:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a 2-D tensor [B, d], got {shape}")
        if t.shape[0] < 1:
            raise ValueError(f"{name} must have at least one row, got shape {tuple(t.shape)}")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape [B, d], got {tuple(x.shape)} and {tuple(y.shape)}")
    tau = float(tau)
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")

    with torch.autocast(device_type=x.device.type, enabled=False):
        xn = F.normalize(at_least_fp32(x), dim=-1)
        yn = F.normalize(at_least_fp32(y), dim=-1)
        logits = xn @ yn.transpose(0, 1) / tau  # [B, B]
        target = torch.arange(x.shape[0], device=x.device)
        loss = F.cross_entropy(logits, target)
        if symmetric:
            loss = 0.5 * (loss + F.cross_entropy(logits.transpose(0, 1), target))
    return loss
