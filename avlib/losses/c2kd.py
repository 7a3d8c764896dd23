"""C2KD's objective (reference-notes §2.2; the appendix's lambda1-3): bidirectional KL between each backbone and
its proxy, and the On-the-Fly Selection Distillation (OFSD) between the two proxies: a KL over the *non-target*
classes only, on the samples whose two proxies rank the classes alike (Kendall tau-b above a threshold).

``KL(a || b)`` below trains ``b`` toward ``a``: ``sum_c softmax(a)_c (log softmax(a)_c - log softmax(b)_c)``
with ``a`` detached, at temperature 1 as in the public code.

Departures of the public code from the stated method are options, the stated method by default (DESIGN §4):

* ``target="remove"`` (default): the non-target distributions renormalise over the classes other than the label
  (the target logit pushed to -inf); ``"zero"``: the public code's ``logits * ~gt_mask``, which sets the target
  logit to 0 so the target class stays in both softmaxes.
* ``reduction="mask"`` (default): the sum over the selected samples divided by their count; ``"batch"``: the public
  code's mean over the whole batch (the unselected samples count as zeros, so the term shrinks with the selection).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["kl_toward", "kendall_tau_b", "ofsd_mask", "non_target_kl", "C2KDTerms", "c2kd_terms"]


def kl_toward(target_logits: Tensor, logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Batch-mean ``KL(softmax(target/T) || softmax(logits/T))``, gradient into ``logits`` only."""
    t = F.log_softmax(target_logits.detach().float() / temperature, -1)
    s = F.log_softmax(logits.float() / temperature, -1)
    return (t.exp() * (t - s)).sum(-1).mean()


def kendall_tau_b(x: Tensor, y: Tensor) -> Tensor:
    """Row-wise Kendall tau-b of ``[B, C]`` score vectors (ties handled as scipy.stats.kendalltau's default
    variant 'b'): ``sum_{i<j} sign(x_i - x_j) sign(y_i - y_j) / sqrt(n_x n_y)``, ``n_x`` the pairs untied in ``x``.
    NaN where a row is constant (as SciPy). Vectorised on the input's device; no gradient."""
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(f"kendall_tau_b wants two [B, C] tensors of one shape, got {tuple(x.shape)}, {tuple(y.shape)}")
    with torch.no_grad():
        x, y = x.double(), y.double()
        sx = torch.sign(x[:, :, None] - x[:, None, :])
        sy = torch.sign(y[:, :, None] - y[:, None, :])
        s = (sx * sy).sum((1, 2)) / 2
        nx, ny = sx.abs().sum((1, 2)) / 2, sy.abs().sum((1, 2)) / 2
        return s / (nx * ny).sqrt()  # 0 / 0 -> NaN for a constant row


def ofsd_mask(p_teacher: Tensor, p_student: Tensor, threshold: float = 0.0) -> Tensor:
    """OFSD's per-sample selection: Kendall tau-b of the two proxies' logits above ``threshold`` (NaN: not selected)."""
    tau = kendall_tau_b(p_teacher, p_student)
    return torch.nan_to_num(tau, nan=-2.0) > threshold


def _non_target_log_softmax(logits: Tensor, labels: Tensor, target: str) -> Tensor:
    gt = F.one_hot(labels, logits.shape[-1]).bool()
    if target == "remove":
        return F.log_softmax(logits.float().masked_fill(gt, float("-inf")), -1)
    if target == "zero":  # the public code: the target logit multiplied by 0, still in the softmax
        return F.log_softmax(logits.float() * (~gt), -1)
    raise ValueError(f"non_target_kl: target must be 'remove' or 'zero', got {target!r}")


def non_target_kl(
    target_logits: Tensor,
    logits: Tensor,
    labels: Tensor,
    mask: Tensor | None = None,
    *,
    target: Literal["remove", "zero"] = "remove",
    reduction: Literal["mask", "batch"] = "mask",
) -> Tensor:
    """KL over the non-target classes, ``logits`` trained toward ``target_logits`` (detached), on the samples of
    ``mask`` (default: all). See the module doc for ``target`` and ``reduction``; 0 when no sample is selected."""
    t = _non_target_log_softmax(target_logits.detach(), labels, target)
    s = _non_target_log_softmax(logits, labels, target)
    pt = t.exp()
    per = torch.where(pt > 0, pt * (t - s), torch.zeros_like(pt)).sum(-1)  # the removed class: 0 * (-inf - -inf)
    m = torch.ones_like(per, dtype=torch.bool) if mask is None else mask.to(per.device).bool()
    if reduction == "batch":
        return (per * m).mean()
    if reduction == "mask":
        return (per * m).sum() / m.sum().clamp_min(1)
    raise ValueError(f"non_target_kl: reduction must be 'mask' or 'batch', got {reduction!r}")


class C2KDTerms(dict):
    """The named terms of :func:`c2kd_terms` (floats for logging via ``.detach()``) plus ``loss``."""


def c2kd_terms(
    z_t: Tensor,
    p_t: Tensor,
    z_s: Tensor,
    p_s: Tensor,
    labels: Tensor,
    *,
    lambda1: float = 1.0,
    lambda2: float = 1.0,
    lambda3: float = 1.0,
    threshold: float = 0.0,
    target: Literal["remove", "zero"] = "remove",
    reduction: Literal["mask", "batch"] = "mask",
) -> C2KDTerms:
    """C2KD's loss from the teacher/student backbone logits ``z_t, z_s`` and proxy logits ``p_t, p_s``:

    ``CE(z_t) + CE(z_s) + lambda2 [KL(z_t||p_t) + KL(p_t||z_t)] + lambda1 [KL(z_s||p_s) + KL(p_s||z_s)]
    + lambda3 [NTKL_m(p_s||p_t) + NTKL_m(p_t||p_s)]`` with ``m`` the OFSD mask of the proxies (lambda1: student <->
    its proxy, lambda2: teacher <-> its proxy, lambda3: proxy <-> proxy, as the appendix)."""
    m = ofsd_mask(p_t, p_s, threshold)
    terms = C2KDTerms(
        ce_teacher=F.cross_entropy(z_t.float(), labels),
        ce_student=F.cross_entropy(z_s.float(), labels),
        kl_teacher_proxy=kl_toward(z_t, p_t) + kl_toward(p_t, z_t),
        kl_student_proxy=kl_toward(z_s, p_s) + kl_toward(p_s, z_s),
        ntkl_proxies=non_target_kl(p_s, p_t, labels, m, target=target, reduction=reduction)
        + non_target_kl(p_t, p_s, labels, m, target=target, reduction=reduction),
    )
    terms["selected"] = m.float().mean()
    terms["loss"] = (
        terms["ce_teacher"]
        + terms["ce_student"]
        + lambda2 * terms["kl_teacher_proxy"]
        + lambda1 * terms["kl_student_proxy"]
        + lambda3 * terms["ntkl_proxies"]
    )
    return terms
