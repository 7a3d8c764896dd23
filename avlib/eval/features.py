"""Frozen features: mean of patch tokens after the final norm (CLS excluded), per clip.

Training samples get ``train_clips`` augmented clips each (Supp. Table S1/S2 "Linear Eval." column);
validation/test samples get ``test_clips`` uniformly spaced clips, whose decisions are averaged later.
Fusion (XKD Table 8): :func:`extract_av_features` takes the video and audio views of one clip from one
window, and :func:`fuse_av` concatenates the two modalities' features."""

from __future__ import annotations

import numpy as np
import torch

from avlib.data.audio import rand_int, volume_jitter
from avlib.data.views import waveform_window
from avlib.log import progress

FUSIONS = ("l2_per_modality", "raw")


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


def _batches(ids: np.ndarray, batch_size: int, desc: str | None):
    """Yield ``(sorted ids, order back to the caller's order)`` per batch (sorted reads from the cache)."""
    for i in progress(range(0, len(ids), batch_size), desc=desc, leave=False):
        yield np.sort(ids[i : i + batch_size]), np.argsort(np.argsort(ids[i : i + batch_size]))


def _load(data, b: np.ndarray, device: str, video: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The cached video (``None`` unless ``video``) and float32 audio of the sorted ids ``b``, on ``device``."""
    v = torch.from_numpy(np.ascontiguousarray(data.video[b])).to(device) if video else None
    return v, torch.from_numpy(np.ascontiguousarray(data.audio[b]).astype(np.float32)).to(device)


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
    for b, order in _batches(ids, batch_size, desc):
        video, audio = _load(data, b, device, video=modality == "video")
        if modality == "video":
            x, _ = eval_views.clips(video, audio, n_clips=n_clips, train_aug=train_aug, generator=generator)
        else:
            x = audio_clips(eval_views, audio, n_clips, train_aug, generator)
        f = encoder.features(x, pool="mean").float().cpu().numpy()
        out.append(f.reshape(len(b), n_clips, -1)[order])
    return np.concatenate(out, 0)


@torch.no_grad()
def extract_av_features(
    encoders: dict,
    data,
    ids: np.ndarray,
    eval_views,
    *,
    n_clips: int,
    train_aug: bool,
    generator: torch.Generator,
    batch_size: int = 32,
    device: str = "cpu",
    desc: str | None = None,
) -> dict:
    """Fusion features: ``{"video": [len(ids), n_clips, Dv], "audio": [len(ids), n_clips, Da]}`` float32.

    ``encoders`` maps ``"video"`` and ``"audio"`` to encoders. Both modalities of clip ``k`` of a sample come
    from one call of ``eval_views.clips``: the same sample and the same time window (the audio window is
    the one aligned with the video frames), in every batch, whatever each modality's augmentation draws."""
    if set(encoders) != {"video", "audio"}:
        raise ValueError(f"extract_av_features: encoders must have keys 'video' and 'audio', got {sorted(encoders)}")
    if data.video is None:
        raise ValueError("extract_av_features: this cache has no video array")
    for enc in encoders.values():
        enc.eval()
    out = {"video": [], "audio": []}
    for b, order in _batches(ids, batch_size, desc):
        video, audio = _load(data, b, device, video=True)
        views = eval_views.clips(video, audio, n_clips=n_clips, train_aug=train_aug, generator=generator)
        for m, x in zip(("video", "audio"), views):
            f = encoders[m].features(x, pool="mean").float().cpu().numpy()
            out[m].append(f.reshape(len(b), n_clips, -1)[order])
    return {m: np.concatenate(v, 0) for m, v in out.items()}


def fuse_av(video: np.ndarray, audio: np.ndarray, fusion: str = "l2_per_modality") -> np.ndarray:
    """Concatenate per-clip video and audio features (``[..., Dv]``, ``[..., Da]`` -> ``[..., Dv + Da]``).

    ``fusion="l2_per_modality"`` (default; the released XKD code, ``Feature_Bank_AV(apply_l2=True)``)
    first L2-normalises each clip's feature of each modality (``F.normalize``: norms below 1e-12 are
    clamped); ``"raw"`` concatenates the features as extracted (the paper only says "concatenate")."""
    if fusion not in FUSIONS:
        raise ValueError(f"fuse_av: fusion must be one of {list(FUSIONS)}, got {fusion!r}")
    if fusion == "l2_per_modality":
        video, audio = (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12) for x in (video, audio))
    return np.concatenate([video, audio], -1).astype(np.float32)
