"""Masked reconstruction from a trained model (XKD Fig. 5, Supp. Figs. S8-S12).

With ``norm_pix_loss`` the decoder predicts each patch *standardised* (Eq. 1), so a picture needs the
patch's mean and variance: as in MAE's demo we take them from the ground-truth patch. The reported
error (:func:`masked_error_curve`) is on the standardised targets, where predicting the patch mean
scores 1.0, so "below 1" means the model reconstructs structure, not just brightness."""
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
    like ``x`` as float32 NumPy, ``mask [B, N]`` (1 = masked) and ``error`` (masked-patch MSE on
    standardised targets, the training loss)."""
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
    if model.cfg.xkd.norm_pix_loss:
        mu, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        pred = pred * (var + 1e-6).sqrt() + mu
    m = mask.unsqueeze(-1)
    recon = inv(pred * m + target * (1 - m), patch, enc["grid"])
    masked = inv(torch.where(m.bool(), torch.full_like(target, float("nan")), target), patch, enc["grid"])
    return {"input": x.float().cpu().numpy(), "masked": masked.cpu().numpy(), "recon": recon.cpu().numpy(),
            "mask": mask.cpu().numpy(), "error": float(err)}


def masked_error_curve(model, modality: str, x: torch.Tensor, ratios, seeds=(0, 1, 2)) -> np.ndarray:
    """Masked-patch reconstruction error (standardised targets) at each ratio, mean over mask seeds:
    ``[len(ratios)]``."""
    return np.array([np.mean([reconstruct(model, modality, x, r, seed=s)["error"] for s in seeds]) for r in ratios])
