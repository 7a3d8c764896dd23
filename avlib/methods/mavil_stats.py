"""``avlib data fbank-stats``: MAViL's fbank normalisation statistics over a config's training split, once.

The ``mavil_fbank_stats`` stage of ``dvc.yaml`` runs it before every MAViL run (their ``mavil.fbank.stats``
names its output); Table 10 of the paper uses AudioSet's training statistics in the same way."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from avlib.config import ConfigError
from avlib.data.cache import load_cache
from avlib.data.fbank_frontend import fbank_stats, write_fbank_stats
from avlib.methods.build import views_config
from avlib.methods.mavil import frontend
from avlib.paths import resolve
from avlib.profiles import load_pretrain_config
from avlib.train.runner import pretrain_indices

__all__ = ["config_fbank_stats"]

log = logging.getLogger("avlib")


def config_fbank_stats(
    config: str | Path,
    out: str | Path,
    *,
    profile: str | None = None,
    schedule: str = "mavil",
    overrides: list[str] | None = None,
    show_progress: bool = True,
) -> dict:
    """Statistics of the un-normalised fbank of ``config``'s front end over its cache's training split (the
    audio windows the views take), written to ``out`` (JSON, atomically) and returned. ``overrides``: ``--set``
    style ``key=value`` strings (e.g. another ``data.cache``, as the real-data benchmarks pass)."""
    cfg = load_pretrain_config(config, profile=profile, schedule=schedule, overrides=overrides)
    if not hasattr(cfg, "mavil"):
        raise ConfigError(f"{config}: fbank statistics are for MAViL configs (method {cfg.method!r})")
    fb = dataclasses.replace(cfg.mavil.fbank, stats="")  # the statistics being computed are not needed
    cfg = dataclasses.replace(cfg, mavil=dataclasses.replace(cfg.mavil, fbank=fb))
    fe = frontend(cfg)
    data = load_cache(resolve(cfg.data.cache))
    ids = np.sort(pretrain_indices(data, cfg))
    window = int(round(views_config(cfg).audio_seconds * fe.sample_rate))
    stats = fbank_stats(np.asarray(data.audio)[ids], fe, window_samples=window, show_progress=show_progress)
    stats.update(cache=cfg.data.cache, split=cfg.data.split, config=str(config))
    write_fbank_stats(stats, out)
    log.info(
        "fbank statistics of %d clips (%d frames): mean %.4f, std %.4f -> %s",
        stats["clips"],
        stats["frames"],
        stats["mean"],
        stats["std"],
        out,
    )
    return stats
