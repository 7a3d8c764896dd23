"""Frozen features: mean of patch tokens after the final norm (CLS excluded), per clip.

Training samples get ``train_clips`` augmented clips each (Supp. Table S1/S2 "Linear Eval." column);
validation/test samples get ``test_clips`` uniformly spaced clips, whose decisions are averaged later."""

from __future__ import annotations

import numpy as np
import torch

from avlib.data.audio import rand_int, volume_jitter
from avlib.data.views import waveform_window
from avlib.log import progress


def audio_clips(eval_views, audio: torch.Tensor, n_clips: int, train_aug: bool, generator) -> torch.Tensor:
    """Audio-only multi-clip views: ``n_clips`` uniformly spaced windows of the global length per
    sample, volume jitter when ``train_aug``; returns log-mel ``[B*n, 1, F, T]`` (sample-major)."""
    B, S = audio.shape
    L = eval_views.global_audio_samples
    if S < L:
        raise ValueError(f"audio clips too short: {S} samples, need {L}")
    if train_aug:  # random training windows (Supp. A.5), uniformly spaced test windows
        starts = rand_int(0, S - L, (B * n_clips,), generator, audio.device)
    else:
        starts = torch.as_tensor(np.linspace(0, S - L, n_clips).round().astype(np.int64), device=audio.device).repeat(B)
    rows = torch.arange(B, device=audio.device).repeat_interleave(n_clips)
    wave = waveform_window(audio.float()[rows], starts, L)
    if train_aug:
        wave = volume_jitter(wave, eval_views.cfg.eval_volume_jitter, generator)
    return eval_views.logmel(wave)


@torch.no_grad()
def extract_features(
    encoder: torch.nn.Module,
    data,
    ids: np.ndarray,
    eval_views,
    *,
    modality: str,
    n_clips: int,
    train_aug: bool,
    generator: torch.Generator,
    batch_size: int = 32,
    device: str = "cpu",
    desc: str | None = None,
) -> np.ndarray:
    """Return ``[len(ids), n_clips, D]`` float32 features of ``modality`` ('video' or 'audio')."""
    if modality not in ("video", "audio"):
        raise ValueError(f"extract_features: modality must be 'video' or 'audio', got {modality!r}")
    if modality == "video" and data.video is None:
        raise ValueError("extract_features: this cache has no video array")
    encoder.eval()
    out = []
    for i in progress(range(0, len(ids), batch_size), desc=desc, leave=False):
        b = np.sort(ids[i : i + batch_size])
        order = np.argsort(np.argsort(ids[i : i + batch_size]))  # back to the caller's order
        video = torch.from_numpy(np.ascontiguousarray(data.video[b])).to(device) if modality == "video" else None
        audio = torch.from_numpy(np.ascontiguousarray(data.audio[b]).astype(np.float32)).to(device)
        if modality == "video":
            x, _ = eval_views.clips(video, audio, n_clips=n_clips, train_aug=train_aug, generator=generator)
        else:
            x = audio_clips(eval_views, audio, n_clips, train_aug, generator)
        f = encoder.features(x, pool="mean").float().cpu().numpy()
        out.append(f.reshape(len(b), n_clips, -1)[order])
    return np.concatenate(out, 0)
