"""Fine-tuning augmentations: MixUp / CutMix with label smoothing (video, Table S6) and SpecAugment-style
time and frequency masking (audio, Table S7). Vectorised over the batch; seeded by a generator."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def smooth_one_hot(y: Tensor, n_classes: int, smoothing: float = 0.0) -> Tensor:
    """``(1 - s) * one_hot(y) + s / n`` (rows sum to 1)."""
    if not 0 <= smoothing < 1:
        raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
    out = torch.full((len(y), n_classes), smoothing / n_classes, device=y.device)
    return out.scatter_(1, y.long().view(-1, 1), 1 - smoothing + smoothing / n_classes)


def mixup_cutmix(
    x: Tensor,
    target: Tensor,
    *,
    mixup_alpha: float,
    cutmix_alpha: float,
    switch_prob: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, dict]:
    """Mix a batch with its reverse (timm convention): with probability ``switch_prob`` CutMix (one box on
    the spatial axes, the same for every frame), else MixUp; ``lam ~ Beta(alpha, alpha)``. For CutMix the
    label weight is the area actually kept. ``x``: ``[B, C, (T,) H, W]``; ``target``: soft labels ``[B, K]``.
    Returns the mixed ``x``, mixed targets and ``{'mode', 'lam'}``."""
    use_mix, use_cut = mixup_alpha > 0, cutmix_alpha > 0
    if not (use_mix or use_cut):
        return x, target, {"mode": "none", "lam": 1.0}
    r = torch.rand((), generator=generator).item()
    cut = use_cut and (not use_mix or r < switch_prob)
    alpha = cutmix_alpha if cut else mixup_alpha
    lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (), generator=generator))).beta(alpha, alpha))
    flipped = x.flip(0)
    if cut:
        H, W = x.shape[-2:]
        ch, cw = int(H * np.sqrt(1 - lam)), int(W * np.sqrt(1 - lam))
        cy = int(torch.randint(0, H, (), generator=generator))
        cx = int(torch.randint(0, W, (), generator=generator))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, H)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
        x = x.clone()
        x[..., y0:y1, x0:x1] = flipped[..., y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (H * W)
    else:
        x = lam * x + (1 - lam) * flipped
    return x, lam * target + (1 - lam) * target.flip(0), {"mode": "cutmix" if cut else "mixup", "lam": lam}


def spec_augment(
    spec: Tensor,
    *,
    freq_mask: int,
    time_mask: int,
    n_masks: int,
    generator: torch.Generator | None = None,
    fill: float = 0.0,
) -> Tensor:
    """``n_masks`` frequency bands of width ``U[0, freq_mask]`` and ``n_masks`` time spans of width
    ``U[0, time_mask]`` per example, set to ``fill`` (0 = the normalised log-mel mean). ``spec``:
    ``[B, 1, F, T]``."""
    if spec.ndim != 4:
        raise ValueError(f"spec must be [B, 1, F, T], got {tuple(spec.shape)}")
    B, _, F, T = spec.shape
    keep = torch.ones(B, F, T, dtype=torch.bool, device=spec.device)
    for size, width, axis in ((F, freq_mask, 1), (T, time_mask, 2)):
        if width <= 0:
            continue
        w = torch.randint(0, min(width, size) + 1, (B, n_masks), generator=generator).to(spec.device)
        start = (torch.rand(B, n_masks, generator=generator).to(spec.device) * (size - w + 1)).long()
        pos = torch.arange(size, device=spec.device).view(1, 1, -1)
        hit = ((pos >= start.unsqueeze(-1)) & (pos < (start + w).unsqueeze(-1))).any(1)  # [B, size]
        keep &= ~(hit.unsqueeze(2) if axis == 1 else hit.unsqueeze(1))
    return torch.where(keep.unsqueeze(1), spec, torch.full_like(spec, fill))
