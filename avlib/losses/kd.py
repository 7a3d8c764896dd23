"""Knowledge-distillation baselines of the C2KD comparison (reference-notes §2.4), each from its paper:

* :func:`hinton_kd`: Hinton et al. (2015): ``T^2 KL(softmax(t/T) || softmax(s/T))``.
* :func:`dkd`: decoupled KD (Zhao et al., CVPR'22): ``alpha TCKD + beta NCKD``, the binary target/non-target KL
  and the KL among the non-target classes, both at temperature ``T`` and scaled by ``T^2``.
* :func:`fitnet`: FitNets hints (Romero et al., 2015): the MSE between a regressor of the student's feature map and
  the teacher's; across modalities the maps differ in size, so the regressed student map is resized to the
  teacher's by bilinear interpolation first (C2KD App. C.3).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

__all__ = ["hinton_kd", "dkd", "FitNetHint", "fitnet"]


def hinton_kd(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """Batch-mean ``T^2 KL(softmax(t/T) || softmax(s/T))``, the teacher detached."""
    T = float(temperature)
    t = F.log_softmax(teacher_logits.detach().float() / T, -1)
    s = F.log_softmax(student_logits.float() / T, -1)
    return (t.exp() * (t - s)).sum(-1).mean() * T * T


def dkd(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor,
    alpha: float = 1.0,
    beta: float = 8.0,
    temperature: float = 4.0,
) -> Tensor:
    """Decoupled KD: ``alpha * TCKD + beta * NCKD`` (Zhao et al. 2022, Eq. 7; their CIFAR defaults)."""
    T = float(temperature)
    gt = F.one_hot(labels, student_logits.shape[-1]).bool()
    ps = F.softmax(student_logits.float() / T, -1)
    pt = F.softmax(teacher_logits.detach().float() / T, -1)
    bs = torch.stack([(ps * gt).sum(-1), (ps * ~gt).sum(-1)], -1).clamp_min(1e-12)
    bt = torch.stack([(pt * gt).sum(-1), (pt * ~gt).sum(-1)], -1).clamp_min(1e-12)
    tckd = (bt * (bt.log() - bs.log())).sum(-1).mean() * T * T
    ls = F.log_softmax(student_logits.float() / T - 1000.0 * gt, -1)
    lt = F.log_softmax(teacher_logits.detach().float() / T - 1000.0 * gt, -1)
    nckd = (lt.exp() * (lt - ls)).sum(-1).mean() * T * T
    return alpha * tckd + beta * nckd


class FitNetHint(nn.Module):
    """FitNets' regressor: a 1x1 convolution (+ BN) from the student's channels to the teacher's."""

    def __init__(self, student_channels: int, teacher_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(student_channels, teacher_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(teacher_channels)

    def forward(self, student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
        return fitnet(self.bn(self.conv(student_feat)), teacher_feat)


def fitnet(student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
    """MSE between the (regressed) student map ``[B, C, h, w]`` resized bilinearly to the teacher's ``[B, C, H, W]``
    and the detached teacher map."""
    if student_feat.shape[:2] != teacher_feat.shape[:2]:
        raise ValueError(
            f"fitnet: the regressed student map {tuple(student_feat.shape)} must match the teacher's batch and "
            f"channels {tuple(teacher_feat.shape[:2])}"
        )
    s = student_feat
    if s.shape[-2:] != teacher_feat.shape[-2:]:
        s = F.interpolate(s, size=teacher_feat.shape[-2:], mode="bilinear", align_corners=False)
    return F.mse_loss(s.float(), teacher_feat.detach().float())
