"""Frozen features: mean of patch tokens after the final norm (CLS excluded), per clip.

Training samples get ``train_clips`` augmented clips each (Supp. Table S1/S2 "Linear Eval." column);
validation/test samples get ``test_clips`` uniformly spaced clips, whose decisions are averaged later."""
from __future__ import annotations

import numpy as np
import torch

from avlib.log import progress


@torch.no_grad()
def extract_features(encoder: torch.nn.Module, data, ids: np.ndarray, eval_views, *, modality: str,
                     n_clips: int, train_aug: bool, generator: torch.Generator, batch_size: int = 32,
                     device: str = "cpu", desc: str | None = None) -> np.ndarray:
    """Return ``[len(ids), n_clips, D]`` float32 features of ``modality`` ('video' or 'audio')."""
    if modality not in ("video", "audio"):
        raise ValueError(f"extract_features: modality must be 'video' or 'audio', got {modality!r}")
    if modality == "video" and data.video is None:
        raise ValueError("extract_features: this cache has no video array")
    encoder.eval()
    out = []
    for i in progress(range(0, len(ids), batch_size), desc=desc, leave=False):
        b = np.sort(ids[i:i + batch_size])
        order = np.argsort(np.argsort(ids[i:i + batch_size]))  # back to the caller's order
        video = torch.from_numpy(np.ascontiguousarray(data.video[b])).to(device) if modality == "video" else None
        audio = torch.from_numpy(np.ascontiguousarray(data.audio[b]).astype(np.float32)).to(device)
        clips = eval_views.clips(video, audio, n_clips=n_clips, train_aug=train_aug, generator=generator,
                                 modality=modality)
        f = encoder.features(clips[modality], pool="mean").float().cpu().numpy()
        out.append(f.reshape(len(b), n_clips, -1)[order])
    return np.concatenate(out, 0)
