"""Masked reconstruction from a trained model (XKD Fig. 5, Supp. Figs. S8-S12).

With ``norm_pix_loss`` the decoder predicts each patch *standardised* (Eq. 1), so a picture needs the
patch's mean and variance: as in MAE's demo we take them from the ground-truth patch. The reported
error (:func:`masked_error_curve`) is the training loss on the standardised targets; its baseline is the
same loss of a decoder that predicts zeros (each patch's mean) on the same masked patches, computed
exactly (about 1 for textured patches, less for flat ones), so "below the baseline" means the model
reconstructs structure, not just brightness."""

from __future__ import annotations

import numpy as np
import torch

from avlib.losses import masked_mse
from avlib.models import patchify_audio, patchify_video, unpatchify_audio, unpatchify_video


def _patch(model, modality: str):
    m = model.cfg.model
    if modality == "video":
        return m.video_patch, patchify_video, unpatchify_video
    if modality == "audio":
        return m.audio_patch, patchify_audio, unpatchify_audio
    raise ValueError(f"modality must be 'video' or 'audio', got {modality!r}")


@torch.no_grad()
def reconstruct(model, modality: str, x: torch.Tensor, mask_ratio: float, seed: int = 0) -> dict:
    """Encode ``x`` with ``mask_ratio`` of its patches masked (seeded), decode all patches.

    Returns ``input`` (``x``), ``masked`` (visible patches, masked ones set to ``nan``), ``recon`` (the
    prediction de-standardised with the true patch statistics, visible patches pasted back), all shaped
    like ``x`` as float32 NumPy, ``mask [B, N]`` (1 = masked), ``error`` (masked-patch MSE on
    standardised targets, the training loss) and ``baseline`` (the same loss of an all-zero prediction)."""
    if modality not in getattr(model, "decoders", {}):
        raise ValueError(f"{model.cfg.name}: no {modality} decoder (reconstruction of {modality} is off)")
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    patch, fwd, inv = _patch(model, modality)
    g = torch.Generator(device=x.device).manual_seed(seed)
    enc = model.student[f"{modality}_encoder"](x, mask_ratio=mask_ratio, generator=g)
    pred = model.decoders[modality](enc["tokens"], enc["ids_restore"], enc["grid"]).float()
    target = fwd(x.float(), patch)
    mask = enc["mask"].float()
    err = masked_mse(pred, target, mask, norm_pix=model.cfg.xkd.norm_pix_loss)
    base = masked_mse(torch.zeros_like(pred), target, mask, norm_pix=model.cfg.xkd.norm_pix_loss)
    if model.cfg.xkd.norm_pix_loss:
        mu, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        pred = pred * (var + 1e-6).sqrt() + mu
    m = mask.unsqueeze(-1)
    recon = inv(pred * m + target * (1 - m), patch, enc["grid"])
    masked = inv(torch.where(m.bool(), torch.full_like(target, float("nan")), target), patch, enc["grid"])
    return {
        "input": x.float().cpu().numpy(),
        "masked": masked.cpu().numpy(),
        "recon": recon.cpu().numpy(),
        "mask": mask.cpu().numpy(),
        "error": float(err),
        "baseline": float(base),
    }


def masked_error_curve(model, modality: str, x: torch.Tensor, ratios, seeds=(0, 1, 2)) -> tuple[np.ndarray, np.ndarray]:
    """Masked-patch reconstruction error and its all-zero baseline at each ratio, each the mean over mask
    seeds: two ``[len(ratios)]`` arrays."""
    res = [[reconstruct(model, modality, x, r, seed=s) for s in seeds] for r in ratios]
    return (
        np.array([np.mean([o["error"] for o in rs]) for rs in res]),
        np.array([np.mean([o["baseline"] for o in rs]) for rs in res]),
    )
