"""Tidy tables, paper-vs-measured markdown, and the per-seed samples that claims are judged on."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.paths import atomic_write_text


def mean_std(values) -> tuple[float, float, int]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, int(len(v))


def record_stats(metrics: dict, key: str, values) -> tuple[float, float, int]:
    """:func:`mean_std` of ``values``, also written to ``metrics`` as ``<key>/mean``, ``/std`` and ``/n_seeds``."""
    m, s, n = mean_std(values)
    metrics[f"{key}/mean"], metrics[f"{key}/std"], metrics[f"{key}/n_seeds"] = m, s, n
    return m, s, n


REFERENCE_COLUMNS = ("row", "task", "paper_value")


def read_reference(path: str | Path, artifact_id: str = "") -> pd.DataFrame:
    """A paper-numbers CSV (``params/reference/<artifact>.csv``). One schema for all: a ``row`` (the params'
    row key), a ``task`` (our task name) and a ``paper_value``, plus optional columns (``paper_dataset``,
    ``metric``, ``protocol``, ``note``, ...); header only where the paper prints no numbers."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{artifact_id}: missing reference {path} (header only when the paper gives no numbers)"
        )
    ref = pd.read_csv(path)
    missing = [c for c in REFERENCE_COLUMNS if c not in ref.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; a reference CSV has {list(REFERENCE_COLUMNS)} + notes")
    return ref


def paper_value(ref: pd.DataFrame, row: str, task: str, **match) -> float:
    """The paper's number for ``row`` x ``task`` (and e.g. ``protocol=...``), NaN where it prints none."""
    sel = (ref.row == row) & (ref.task == task)
    for col, v in match.items():
        sel &= ref[col] == v
    p = ref[sel]["paper_value"]
    return float(p.iloc[0]) if len(p) else float("nan")


def fmt_paper(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "—"


def fmt_ms(mean: float, std: float, n: int) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.1f} ± {std:.1f}" if n > 1 else f"{mean:.1f}"


def fmt_diff(x: float, sign: bool = True) -> str:
    """A measured difference with 3 significant digits (entropy gaps of 0.01 nats and accuracy gaps of
    5 points both stay readable); 'n/a' when not finite."""
    if not math.isfinite(x):
        return "n/a"
    if abs(x) < 1e-9:  # equal means up to float rounding (e.g. -3.55e-15) read as 0
        x = 0.0
    return f"{x:+.3g}" if sign else f"{x:.3g}"


def by_seed(df: pd.DataFrame, col: str = "value") -> dict:
    """``{seed: value}`` of ``df``'s rows (one per seed): the samples a :class:`~avlib.report.claims.Claim`
    pairs by seed. Raises on a repeated seed."""
    if df["seed"].duplicated().any():
        raise ValueError(f"by_seed: seeds repeat in {df['seed'].tolist()}")
    return {int(k): float(v) for k, v in zip(df["seed"], df[col])}


def seed_of_run(run: str) -> int:
    """The seed of a pipeline run name ``<config>_s<seed>`` (``avlib.pipeline`` names every run so)."""
    head, sep, tail = str(run).rpartition("_s")
    if not sep or not tail.isdigit():
        raise ValueError(f"run name {run!r} does not end in _s<seed>")
    return int(tail)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_outputs(out_dir: str | Path, *, tidy: pd.DataFrame, markdown: str, metrics: dict) -> None:
    """``table.csv`` (tidy), ``table.md`` and ``metrics.json``, each written atomically."""
    out = Path(out_dir)
    for name, text in (
        ("table.csv", tidy.to_csv(index=False)),
        ("table.md", markdown.rstrip() + "\n"),
        ("metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n"),
    ):
        atomic_write_text(out / name, text)
