"""Self-supervised methods. ``build_method(cfg, logmel)`` returns the ``nn.Module`` for ``cfg.method``."""
from __future__ import annotations

import dataclasses

from avlib.config import PretrainConfig
from avlib.data.views import ViewConfig


def views_config(cfg: PretrainConfig) -> ViewConfig:
    """The data-side view recipe of a pretraining config."""
    return ViewConfig(**dataclasses.asdict(cfg.views), audio_patch_frames=cfg.model.audio_patch[1])


def logmel_from_config(cfg: PretrainConfig):
    """The audio front end (:class:`avlib.data.audio.LogMel`) a pretraining config trains and evaluates with."""
    from avlib.data.audio import LogMel

    a = cfg.audio
    return LogMel(sample_rate=a.sample_rate, n_fft=a.n_fft, hop_length=a.hop_length, n_mels=a.n_mels,
                  mean=a.mean, std=a.std)


def build_method(cfg: PretrainConfig, logmel):
    if cfg.method == "xkd":
        from avlib.methods.xkd import XKD

        n_samples = int(round(cfg.views.audio_seconds * cfg.audio.sample_rate))
        return XKD(cfg, audio_frames_global=logmel.n_frames(n_samples))
    raise ValueError(f"unknown method {cfg.method!r}; available: ['xkd']")


METHODS = ("xkd",)
