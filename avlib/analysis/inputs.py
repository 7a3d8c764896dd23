"""Deterministic evaluation inputs for inspecting a model: paired video/audio clips from a cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from avlib.data.cache import load_cache
from avlib.data.views import IMAGENET_MEAN, IMAGENET_STD, EvalViews
from avlib.methods import views_config


def paired_clips(
    cfg, logmel, cache_dir: str | Path, *, split: str = "test", n: int = 64, seed: int = 0, device: str = "cpu"
) -> dict:
    """``n`` clips of ``split`` (a seeded random subset, sorted), one centred view each, exactly as linear
    evaluation sees test clips: ``video [n, 3, T, S, S]`` (normalised), ``audio [n, 1, F, Tf]`` (log-mel),
    ``labels [n]`` and ``ids [n]``. :func:`display_frames` turns ``video`` back into viewable frames."""
    data = load_cache(cache_dir)
    ids = np.asarray(data.split_indices(split))
    if len(ids) == 0:
        raise ValueError(f"paired_clips: {cache_dir} has no {split!r} clips")
    if data.video is None:
        raise ValueError(f"paired_clips: {cache_dir} has no video (needs an audio-visual cache)")
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(ids, size=min(n, len(ids)), replace=False))
    ev = EvalViews(views_config(cfg), logmel)
    video_u8 = torch.from_numpy(np.ascontiguousarray(data.video[ids])).to(device)
    audio = torch.from_numpy(np.ascontiguousarray(data.audio[ids]).astype(np.float32)).to(device)
    v, a = ev.clips(video_u8, audio, n_clips=1, train_aug=False)
    return {"video": v, "audio": a, "labels": np.asarray(data.labels[ids]), "ids": ids}


def display_frames(video: torch.Tensor) -> np.ndarray:
    """Undo the ImageNet normalisation of ``video [B, 3, T, S, S]``: ``[B, T, S, S, 3]`` floats in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1, 1)
    x = video.detach().float().cpu() * std + mean
    return x.clamp(0, 1).permute(0, 2, 3, 4, 1).numpy()
