"""The collapse rule (XKD Supp. B.5), shared by the training runner and the figures that read its logs.

A logging step *looks collapsed* when the smallest ``teacher_kl_*`` (KL of each sample's centred,
sharpened teacher distribution to the batch mean: 0 when every sample gets the same output) is below
``kl_min``; the runner stops a run after ``train.collapse_patience`` such steps in a row."""

from __future__ import annotations


def collapsed(logs: dict, kl_min: float) -> bool:
    """Whether one logging step's metrics look collapsed (False when the run has no teachers)."""
    kls = [float(v) for k, v in logs.items() if k.startswith("teacher_kl_")]
    return bool(kls) and min(kls) < kl_min
