"""Cross-modal knowledge distillation with centering (XKD Eq. 10-11; DINO's loss).

XKD uses two instances, one per teacher: ``vt2as`` (audio student <- video teacher, centre of the
video-teacher outputs) and ``at2vs`` (video student <- audio teacher). Each call computes the loss,
then moves its centre towards the batch mean of the teacher logits (EMA, Eq. 10's "mean").
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from avlib.numerics import accumulation_dtype, at_least_fp32

__all__ = ["CenteredCrossEntropy", "teacher_entropy_and_kl"]


def _check_temp(name: str, v) -> float:
    v = float(v)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    return v


class CenteredCrossEntropy(nn.Module):
    """DINO-style centred, sharpened cross-entropy ``H(P_t, P_s) = -sum_k q_k log p_k`` (Eq. 10-11).

    Args:
        out_dim: K, the projector output dimension (8192 in XKD).
        center_momentum: m in ``center <- m * center + (1 - m) * batch_mean`` (0.9 in XKD).

    Buffers:
        center: ``[1, K]`` running mean (float32; float64 after ``.double()``) of the teacher logits (starts at 0).
    """

    center: Tensor

    def __init__(self, out_dim: int, center_momentum: float = 0.9) -> None:
        super().__init__()
        if int(out_dim) != out_dim or out_dim < 1:
            raise ValueError(f"out_dim must be a positive int, got {out_dim}")
        if not 0.0 <= float(center_momentum) <= 1.0:
            raise ValueError(f"center_momentum must be in [0, 1], got {center_momentum}")
        self.out_dim = int(out_dim)
        self.center_momentum = float(center_momentum)
        self.register_buffer("center", torch.zeros(1, self.out_dim))

    def extra_repr(self) -> str:
        return f"out_dim={self.out_dim}, center_momentum={self.center_momentum}"

    def forward(
        self,
        student_logits: Tensor,
        teacher_logits: Tensor,
        student_temp: float,
        teacher_temp: float,
        n_student_views: int,
        n_teacher_views: int,
        skip_same_view: bool = False,
    ) -> Tensor:
        """Loss averaged over the batch and over all (teacher view, student view) pairs.

        Args:
            student_logits: ``[(Vs * B), K]`` student projector outputs, view-major (view 0's B rows
                first, as produced by ``torch.cat`` over views).
            teacher_logits: ``[(Vt * B), K]`` teacher outputs, same layout; detached here.
            student_temp: tau_s; ``p = softmax(s / tau_s)``.
            teacher_temp: tau_t; ``q = softmax((t - center) / tau_t)``.
            n_student_views: Vs (XKD: 1 global masked + n local).
            n_teacher_views: Vt (XKD: 1).
            skip_same_view: skip pairs whose teacher and student view indices are equal (DINO's
                rule; the XKD code pairs every student view with the cross-modal teacher: False).

        Returns:
            0-d loss in at least float32. Side effect: after the loss is computed, ``self.center`` is updated
            (no grad) on every call, in train and eval mode alike, as in DINO and the XKD code.
        """
        tau_s = _check_temp("student_temp", student_temp)
        tau_t = _check_temp("teacher_temp", teacher_temp)
        for name, v in (("n_student_views", n_student_views), ("n_teacher_views", n_teacher_views)):
            if int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v}")
        for name, t in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
            if t.ndim != 2 or t.shape[1] != self.out_dim:
                raise ValueError(f"{name} must be [(V*B), {self.out_dim}], got {tuple(t.shape)}")
        if student_logits.shape[0] % n_student_views:
            raise ValueError(
                f"student_logits rows ({student_logits.shape[0]}) not divisible by n_student_views={n_student_views}"
            )
        if teacher_logits.shape[0] % n_teacher_views:
            raise ValueError(
                f"teacher_logits rows ({teacher_logits.shape[0]}) not divisible by n_teacher_views={n_teacher_views}"
            )
        b_s = student_logits.shape[0] // n_student_views
        b_t = teacher_logits.shape[0] // n_teacher_views
        if b_s != b_t:
            raise ValueError(f"per-view batch sizes differ: student {b_s} vs teacher {b_t}")

        with torch.autocast(device_type=student_logits.device.type, enabled=False):
            acc = accumulation_dtype(student_logits.dtype, teacher_logits.dtype, self.center.dtype)
            log_p = F.log_softmax(student_logits.to(acc) / tau_s, dim=-1).chunk(n_student_views)
            t = teacher_logits.detach().to(acc)
            q = F.softmax((t - self.center.to(acc)) / tau_t, dim=-1).chunk(n_teacher_views)
            total = student_logits.new_zeros((), dtype=acc)
            n_terms = 0
            for iq, q_chunk in enumerate(q):
                for v, lp_chunk in enumerate(log_p):
                    if skip_same_view and v == iq:
                        continue
                    total = total + torch.sum(-q_chunk * lp_chunk, dim=-1).mean()
                    n_terms += 1
        if n_terms == 0:
            raise ValueError("skip_same_view=True left no (teacher, student) view pair; add student views")
        self.update_center(teacher_logits)
        return total / n_terms

    @torch.no_grad()
    def update_center(self, teacher_logits: Tensor) -> None:
        """EMA of the global batch mean of ``teacher_logits [(Vt*B), K]``.

        Under ``torch.distributed`` the per-rank sums and row counts are all-reduced together, so the
        mean is exact even when ranks hold different batch sizes.
        """
        t = at_least_fp32(teacher_logits.detach())
        packed = torch.cat([t.sum(dim=0), t.new_tensor([t.shape[0]])])  # [K + 1]
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(packed)
        batch_center = (packed[:-1] / packed[-1]).unsqueeze(0).to(self.center.dtype)
        m = self.center_momentum
        self.center.mul_(m).add_(batch_center, alpha=1.0 - m)


@torch.no_grad()
def teacher_entropy_and_kl(teacher_logits: Tensor, center: Tensor | None, tau: float) -> dict[str, Tensor]:
    """Collapse signals (Supp. B.5) from the centred, sharpened teacher distribution.

    ``P_t = softmax((t - center) / tau)`` row-wise, ``Pbar = mean_b P_t``.

    Args:
        teacher_logits: ``[B, K]``.
        center: ``[1, K]`` or ``[K]`` centre (``None`` = no centring).
        tau: teacher temperature > 0.

    Returns:
        ``entropy``: mean_b H(P_t[b]) in nats; -> 0 when every row is one-hot (sharpening collapse),
        -> log K when rows are uniform (centring collapse).
        ``kl_to_mean``: mean_b KL(P_t[b] || Pbar) in nats (the mutual information between sample and
        output); -> 0 when every sample gets the same output (constant-vector collapse).
        Both are 0-d float32 tensors.
    """
    tau = _check_temp("tau", tau)
    if teacher_logits.ndim != 2:
        raise ValueError(f"teacher_logits must be [B, K], got {tuple(teacher_logits.shape)}")
    t = at_least_fp32(teacher_logits)
    if center is not None:
        if center.numel() != t.shape[1]:
            raise ValueError(f"center must have K={t.shape[1]} values, got shape {tuple(center.shape)}")
        t = t - center.reshape(1, -1).to(t.dtype)
    logp = F.log_softmax(t / tau, dim=-1)
    p = logp.exp()
    entropy = -(p * logp).sum(dim=-1).mean()
    log_pbar = p.mean(dim=0, keepdim=True).clamp_min(torch.finfo(t.dtype).tiny).log()
    kl = (p * (logp - log_pbar)).sum(dim=-1).mean()
    return {"entropy": entropy, "kl_to_mean": kl}
