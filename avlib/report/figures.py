"""One matplotlib style; figures saved with fixed dpi and no timestamp metadata (stable hashes)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return path


def bar_compare(df: pd.DataFrame, title: str = ""):
    """Grouped bars per task: measured mean ± std per method (filled) and the paper's value (marker)."""
    tasks = list(dict.fromkeys(df["task"]))
    methods = list(dict.fromkeys(df["method"]))
    fig, ax = plt.subplots(figsize=(1.6 * len(tasks) + 2, 3.6))
    w = 0.8 / len(methods)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, m in enumerate(methods):
        sub = df[df.method == m].set_index("task").reindex(tasks)
        x = np.arange(len(tasks)) + (i - (len(methods) - 1) / 2) * w
        ax.bar(
            x, sub["mean"], w, yerr=sub["std"].fillna(0), capsize=3, color=colors[i % len(colors)], label=f"{m} (ours)"
        )
        ax.scatter(x, sub["paper"], marker="_", s=250, color="k", zorder=3, label="paper" if i == 0 else None)
    if "chance" in df:
        ch = df.drop_duplicates("task").set_index("task").reindex(tasks)["chance"]
        xs = np.arange(len(tasks))
        ax.hlines(ch, xs - 0.42, xs + 0.42, colors="red", linewidth=1.5, zorder=4, label="chance")
    ax.set_xticks(np.arange(len(tasks)), tasks)
    ax.set_ylabel("top-1 % (mAP % for FSD50K)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncol=len(methods) + 2, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.grid(axis="y", alpha=0.3)
    return fig


def claims_forest(df: pd.DataFrame, title: str = ""):
    """One row per artifact. Left: how many of its claims the measurement supports / contradicts / leaves not
    resolved. Right: each claim's measured difference in units of its one-sided critical difference
    (``diff / (t_{1-alpha} SE)``, the half-width of its CI; clipped to ±4; claims without a test at 0),
    coloured by verdict: beyond +1 the test supports the claim, beyond -1 it contradicts it. Units differ
    between claims (points, nats, loss), so only this standardised scale is comparable."""
    colours = {"supports": "tab:green", "contradicts": "tab:red", "not resolved": "tab:gray"}
    arts = list(dict.fromkeys(df["artifact"]))
    n = len(arts)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 0.3 * n + 2.4), sharey=True, gridspec_kw={"width_ratios": [1, 1.4]})
    y = {a: i for i, a in enumerate(arts[::-1])}
    left = np.zeros(n)
    for v, c in colours.items():
        counts = np.array([((df.artifact == a) & (df.verdict == v)).sum() for a in arts[::-1]], float)
        a1.barh(np.arange(n), counts, left=left, color=c, label=v)
        left += counts
    a1.set_yticks(np.arange(n), [a.replace("xkd_", "") for a in arts[::-1]], fontsize=8)
    a1.set_xlabel("claims")
    a1.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.06 - 1.0 / max(n, 1)), ncol=3, frameon=False)
    half = np.array([(c[1] - c[0]) / 2 if isinstance(c, (list, tuple)) else np.nan for c in df["ci"]], float)
    z = np.where(np.isfinite(half) & (half > 0), df["diff"].to_numpy(float) / np.where(half > 0, half, 1), 0.0)
    z = np.clip(np.nan_to_num(z), -4, 4)
    jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(df))
    a2.scatter(z, [y[a] for a in df.artifact] + jitter, c=[colours.get(v, "k") for v in df.verdict], s=14)
    for x in (-1, 1):
        a2.axvline(x, color="k", lw=0.6, ls=":")
    a2.axvline(0, color="k", lw=0.8)
    a2.set_xlim(-4.5, 4.5)
    a2.set_xlabel("measured difference / its one-sided critical difference (clipped at ±4)")
    a2.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
