"""Last-layer attention of the XKD teachers, with and without refine (XKD Fig. 3, Supp. C.1).

``cls`` is the CLS-query attention over patch tokens (Eq. 3, averaged over heads) and, when the run
refines, ``refine`` is the head-averaged cross-modal map of Eq. 4 that re-weights the tokens (Eq. 5).
Maps are returned on the token grid (video ``[t, h, w]``, audio ``[f, t]``) for overlays."""

from __future__ import annotations

import numpy as np
import torch

from avlib.models.cross_modal import cls_attention, cross_modal_attention


def normalised_entropy(maps: np.ndarray) -> np.ndarray:
    """Entropy of each map (normalised to sum 1) divided by log(#tokens): 1 = uniform, 0 = one token."""
    p = maps.reshape(len(maps), -1).astype(np.float64)
    p = p / p.sum(1, keepdims=True)
    h = -(p * np.log(np.clip(p, 1e-300, None))).sum(1)
    return h / np.log(p.shape[1])


@torch.no_grad()
def teacher_attention(model, video: torch.Tensor, audio: torch.Tensor) -> dict:
    """``{'video': {'cls': [B, t, h, w], 'refine': ...}, 'audio': {'cls': [B, f, t], 'refine': ...}}``
    (``refine`` only when the run refines) as float64 NumPy."""
    if not getattr(model, "distill", False):
        raise ValueError(f"{model.cfg.name}: the run has no teachers (neither kd nor da is on)")
    x = model.cfg.xkd
    tv = model.teacher["video_encoder"](video, return_attn=True)
    ta = model.teacher["audio_encoder"](audio, return_attn=True)
    att = {
        "video": cls_attention(tv["attn"], use_cls=x.use_cls_attention),
        "audio": cls_attention(ta["attn"], use_cls=x.use_cls_attention),
    }
    grids = {"video": tuple(tv["grid"]), "audio": tuple(ta["grid"])}
    out = {}
    for m, other in (("video", "audio"), ("audio", "video")):
        B = att[m].shape[0]
        out[m] = {"cls": att[m].mean(1).double().cpu().numpy().reshape(B, *grids[m])}
        if x.refine:
            cross = cross_modal_attention(att[m], att[other], mode=x.cross_attention)
            out[m]["refine"] = cross.mean(1).double().cpu().numpy().reshape(B, *grids[m])
    return out
