"""Losses of XKD, MAViL, XDC and C2KD (pure functions; modules only where there is state)."""

from avlib.losses.contrastive import info_nce
from avlib.losses.distillation import CenteredCrossEntropy, teacher_entropy_and_kl
from avlib.losses.mmd import coral, mmd, mmd_single_sigma
from avlib.losses.reconstruction import masked_mse
from avlib.losses.refine import cls_attention, cross_modal_attention, refine

__all__ = [
    "mmd",
    "mmd_single_sigma",
    "coral",
    "info_nce",
    "masked_mse",
    "CenteredCrossEntropy",
    "teacher_entropy_and_kl",
    "cross_modal_attention",
    "refine",
    "cls_attention",
]
