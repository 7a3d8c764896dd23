"""Losses of XKD, MAViL, XDC and C2KD (pure functions; modules only where there is state). XKD's cross-modal
attention and refine (Eq. 3-6) are not losses: :mod:`avlib.models.cross_modal`."""

from avlib.losses.contrastive import info_nce
from avlib.losses.distillation import CenteredCrossEntropy, teacher_entropy_and_kl
from avlib.losses.mmd import coral, mmd, mmd_single_sigma
from avlib.losses.reconstruction import masked_mse

__all__ = [
    "mmd",
    "mmd_single_sigma",
    "coral",
    "info_nce",
    "masked_mse",
    "CenteredCrossEntropy",
    "teacher_entropy_and_kl",
]
