"""Training curves from a run's ``metrics.jsonl`` and the collapse detector (XKD Supp. B.5, Figs. S3/S4).

The paper identifies collapse when the KL divergence of the teacher outputs (``teacher_kl_*``: KL of each
sample's centred, sharpened distribution to the batch mean) or the distillation loss reaches zero.
:func:`collapse_step` applies the training runner's rule (:func:`avlib.train.collapse.collapsed` for
``patience`` consecutive logging steps) to a logged run, so a figure marks exactly where
``train.stop_on_collapse`` would have stopped it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.train.collapse import collapsed


def read_metrics(run_dir: str | Path) -> pd.DataFrame:
    """One row per logging step of ``run_dir/metrics.jsonl`` (sorted by step, duplicates of a resumed
    run's re-logged steps keep the last value)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"missing {path}: run its pretrain stage first")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path} is empty")
    return pd.DataFrame(rows).drop_duplicates("step", keep="last").sort_values("step").reset_index(drop=True)


def min_teacher_kl(df: pd.DataFrame) -> np.ndarray:
    """Per logging step, the smallest ``teacher_kl_*`` (NaN when the run has no teachers)."""
    cols = [c for c in df.columns if c.startswith("teacher_kl_")]
    return df[cols].min(axis=1).to_numpy(float) if cols else np.full(len(df), np.nan)


def collapse_step(df: pd.DataFrame, kl_min: float, patience: int) -> int | None:
    """The step at which the runner's detector fires (``patience`` consecutive logging steps that
    :func:`avlib.train.collapse.collapsed` flags), or ``None``."""
    count = 0
    for rec in df.to_dict("records"):
        logs = {k: v for k, v in rec.items() if k.startswith("teacher_kl_") and np.isfinite(v)}
        count = count + 1 if collapsed(logs, kl_min) else 0
        if count >= patience:
            return int(rec["step"])
    return None


def tail_mean(df: pd.DataFrame, column: str, fraction: float = 0.1) -> float:
    """Mean of ``column`` over the last ``fraction`` of the logged steps (at least one)."""
    if column not in df:
        return float("nan")
    n = max(1, int(round(len(df) * fraction)))
    return float(df[column].iloc[-n:].mean())
