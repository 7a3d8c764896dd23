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
        ax.bar(x, sub["mean"], w, yerr=sub["std"].fillna(0), capsize=3, color=colors[i % len(colors)],
               label=f"{m} (ours)")
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
    """One row per claim: measured difference (dot) ± spread (bar), coloured by verdict, zero line."""
    colours = {"supports": "tab:green", "contradicts": "tab:red", "cannot resolve": "tab:gray"}
    n = len(df)
    fig, ax = plt.subplots(figsize=(8, 0.32 * n + 1.4))
    y = np.arange(n)[::-1]
    for yi, (_, r) in zip(y, df.iterrows()):
        c = colours.get(r["verdict"], "k")
        ax.errorbar(r["diff"], yi, xerr=r["spread"] if np.isfinite(r["spread"]) else 0, fmt="o", color=c, capsize=3)
    ax.axvline(0, color="k", linewidth=0.8)
    ax.set_yticks(y, [f"{r['artifact'].split('_', 2)[1]}: {r['claim']}" for _, r in df.iterrows()], fontsize=7)
    ax.set_xlabel("measured difference (points), ± spread over seeds")
    for v, c in colours.items():
        ax.scatter([], [], color=c, label=v)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10, pad=22)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
