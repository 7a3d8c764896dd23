"""AdamW parameter groups, per-iteration schedules and gradient clipping (Supp. Table S4)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from avlib.config import OptimConfig
from avlib.train.schedules import cosine_schedule


def param_groups(model: nn.Module) -> list[dict]:
    """Two groups: 1-D parameters and biases get no weight decay, everything else is regularised.

    (``pos_embed``/``cls_token``/``mask_token`` are >= 2-D and therefore decayed, as in the XKD code.)"""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "apply_wd": True}, {"params": no_decay, "weight_decay": 0.0, "apply_wd": False}]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    groups = param_groups(model)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def lr_wd_schedules(cfg: OptimConfig, total_iters: int, iters_per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    warm = int(round(cfg.warmup_epochs * iters_per_epoch))
    warm = min(warm, max(total_iters - 1, 0))
    lr = cosine_schedule(cfg.lr, cfg.min_lr, total_iters, warmup_iters=warm, warmup_start=0.0)
    wd = cosine_schedule(cfg.weight_decay, cfg.weight_decay_end, total_iters)
    return lr, wd


def set_lr_wd(optimizer: torch.optim.Optimizer, lr: float, wd: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr
        if g.get("apply_wd", True):
            g["weight_decay"] = wd


@torch.no_grad()
def clip_gradients(params, max_norm: float, mode: str) -> float:
    """``per_param_students``: DINO/XKD per-parameter norm clipping; ``global``: one norm over all
    parameters. Returns the global gradient norm before clipping (for logging)."""
    params = [p for p in params if p.grad is not None]
    if not params:
        raise RuntimeError("clip_gradients: no parameter received a gradient (is the loss connected?)")
    norms = torch._foreach_norm([p.grad for p in params])
    total = torch.linalg.vector_norm(torch.stack(norms))
    if mode == "global" and max_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_norm)
    elif mode == "per_param_students" and max_norm > 0:
        for p, n in zip(params, norms):  # no host sync per parameter
            p.grad.mul_((max_norm / (n + 1e-6)).clamp(max=1.0))
    return float(total)


@torch.no_grad()
def grads_finite(params) -> bool:
    """True when every gradient of ``params`` is finite (one fused norm, one host sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    return bool(torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()) if grads else True
