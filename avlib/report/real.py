"""Results pages of the real-data benchmarks (``results/real_*``): table, per-seed metrics, figure,
provenance. The numbers come from the benchmark's evaluation JSONs; nothing here is quoted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from avlib.paths import resolve  # noqa: E402

from .artifact import Result  # noqa: E402
from .figures import save_figure  # noqa: E402
from .provenance import write_provenance  # noqa: E402
from .tables import fmt_ms, mean_std, write_outputs  # noqa: E402

__all__ = ["run_real_avmnist"]


def _check_size(sizes: set, size: str, artifact_id: str, ev) -> None:
    """The page's size label must be what the evaluation files were computed at."""
    if len(sizes) != 1 or size not in sizes:
        raise ValueError(
            f"{artifact_id}: evaluation files in {ev} are from size(s) {sorted(map(str, sizes))}, "
            f"the page was asked for size {size!r}"
        )


def _grouped_bars(summary: pd.DataFrame, columns: dict, title: str, chance: float | None):
    rows = list(dict.fromkeys(summary["row"]))
    fig, ax = plt.subplots(figsize=(1.9 * len(columns) + 3, 3.6))
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        sub = summary[summary["row"] == r].set_index("column").reindex(list(columns))
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(columns))]
        ax.bar(xs, sub["mean"], width, yerr=sub["std"].fillna(0), capsize=3, label=r)
    if chance is not None:
        ax.axhline(chance, color="red", lw=1.2, label="chance")
    ax.set_xticks(range(len(columns)), list(columns.values()))
    ax.set_ylabel("test %")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=len(rows) + 1, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=True)
    return fig


def run_real_avmnist(
    *,
    evals_dir: str,
    rows: dict,
    columns: dict,
    title: str,
    caption: str,
    out_dir: str = "results/real_avmnist",
    artifact_id: str = "real_avmnist",
    size: str = "full",
    root: str | None = None,
) -> Result:
    """AV-MNIST table: ``rows`` maps an evaluation-file prefix (``inputs``, ``random``, ``ae``, ``xkd``, ``mavil``)
    to its label; ``columns`` maps a task (``audio``, ``video``, ``late_fusion``, ``a2v_retrieval``) to its
    header. Every seed's file ``<prefix>_s<seed>.json`` (or ``<prefix>.json``) is read; a row without any is an
    error, and so is a missing task, except retrieval for the ``inputs`` row (no shared space; shown as —)."""
    t0 = time.time()
    ev, out = resolve(evals_dir, root), resolve(out_dir, root)
    recs, sizes = [], set()
    for key, label in rows.items():
        files = sorted(ev.glob(f"{key}_s*.json")) or sorted(ev.glob(f"{key}.json"))
        if not files:
            raise FileNotFoundError(f"{artifact_id}: no evaluation {ev}/{key}_s*.json (run the benchmark first)")
        for f in files:
            r = json.loads(f.read_text())
            sizes.add(r.get("size"))
            for task in columns:
                if task not in r["tasks"]:
                    if key == "inputs":  # input features have no shared space: no retrieval
                        continue
                    raise KeyError(f"{artifact_id}: {f} has no task {task!r} (re-run the benchmark's evaluation)")
                recs.append(
                    {
                        "row": label,
                        "key": key,
                        "seed": r["seed"],
                        "column": task,
                        "split": "test",
                        "value": r["tasks"][task]["test"],
                        "val": r["tasks"][task].get("val"),
                        "n_train": r["n"]["train"],
                        "n_test": r["n"]["test"],
                    }
                )
    tidy = pd.DataFrame(recs)
    _check_size(sizes, size, artifact_id, ev)
    summ = []
    for (label, task), g in tidy.groupby(["row", "column"], sort=False):
        m, s, n = mean_std(g["value"])
        summ.append({"row": label, "column": task, "mean": m, "std": s, "n_seeds": n})
    summary = pd.DataFrame(summ)
    n_train, n_test = int(tidy["n_train"].iloc[0]), int(tidy["n_test"].iloc[0])
    md = [
        f"**{title}** (size `{size}`; {n_train} training pairs, {n_test} test pairs of a held-out speaker; "
        "test top-1 %, mean ± std over seeds)",
        "",
        caption,
        "",
        "| | " + " | ".join(columns.values()) + " | seeds |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    metrics = {"size": size, "n_train": n_train, "n_test": n_test, "chance": 10.0}
    for label in dict.fromkeys(summary["row"]):
        sub = summary[summary["row"] == label].set_index("column")
        md.append(
            f"| {label} | "
            + " | ".join(
                fmt_ms(sub.at[c, "mean"], sub.at[c, "std"], sub.at[c, "n_seeds"]) if c in sub.index else "—"
                for c in columns
            )
            + f" | {int(sub['n_seeds'].max())} |"
        )
        key = tidy.loc[tidy["row"] == label, "key"].iloc[0]
        for c in (c for c in columns if c in sub.index):
            metrics[f"{key}/{c}/mean"] = sub.at[c, "mean"]
            metrics[f"{key}/{c}/std"] = sub.at[c, "std"]
            metrics[f"{key}/{c}/per_seed"] = tidy.loc[(tidy["key"] == key) & (tidy["column"] == c), "value"].tolist()
    md += ["", "Chance is 10 % (top-1 and R@1: a digit is a tenth of the test pairs)."]
    write_outputs(out, tidy=tidy, markdown="\n".join(md), metrics=metrics)
    fig = _grouped_bars(summary, columns, f"{title} (size {size})", 10.0)
    save_figure(fig, Path(out) / "fig.png")
    summary.to_csv(Path(out) / "fig_data.csv", index=False)
    write_provenance(out, profile=size, started=t0, root=root, extra={"artifact": artifact_id, "evals": str(ev)})
    return Result(tidy=tidy, markdown="\n".join(md), metrics=metrics, figure=fig, claims=[])


def run_real_esc50_linear(
    *,
    evals_dir: str,
    title: str,
    caption: str,
    out_dir: str = "results/real_esc50_linear",
    artifact_id: str = "real_esc50_linear",
    size: str = "full",
    root: str | None = None,
) -> Result:
    """ESC-50 page: per-fold and mean top-1 of the log-mel-statistics baseline and the audio MAE."""
    t0 = time.time()
    ev, out = resolve(evals_dir, root), resolve(out_dir, root)
    base_file = ev / "baseline.json"
    if not base_file.is_file():
        raise FileNotFoundError(f"{artifact_id}: no {base_file} (run the benchmark first)")
    base_rec = json.loads(base_file.read_text())
    base = {r["fold"]: r for r in base_rec["folds"]}
    mae = {}
    for k in range(1, 6):
        f = ev / f"mae_fold{k}.json"
        if not f.is_file():
            raise FileNotFoundError(f"{artifact_id}: no {f}; every fold must finish (the benchmark resumes)")
        mae[k] = json.loads(f.read_text())
    _check_size({base_rec.get("size")} | {r.get("size") for r in mae.values()}, size, artifact_id, ev)
    rows = [
        {
            "fold": k,
            "method": m,
            "test": r[k]["test"],
            "best_C": r[k]["best_C"],
            "val_fold": r[k]["val_fold"],
            "n_train": r[k]["n_train"],
            "n_test": r[k]["n_test"],
        }
        for k in range(1, 6)
        for m, r in (("log-mel statistics + linear", base), ("audio MAE (L_recon^a) + linear", mae))
    ]
    tidy = pd.DataFrame(rows)
    methods = list(dict.fromkeys(tidy["method"]))
    md = [
        f"**{title}** (size `{size}`; top-1 %, official folds; {base[1]['n_train']} training / "
        f"{base[1]['n_test']} test clips per round)",
        "",
        caption,
        "",
        "| fold | " + " | ".join(methods) + " | difference |",
        "|---:|" + "---:|" * (len(methods) + 1),
    ]
    metrics = {"size": size}
    for k in range(1, 6):
        a, b = base[k]["test"], mae[k]["test"]
        md.append(f"| {k} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
        metrics[f"fold{k}/logmel_stats"], metrics[f"fold{k}/audio_mae"] = a, b
    ma, sa, _ = mean_std([base[k]["test"] for k in range(1, 6)])
    mb, sb, _ = mean_std([mae[k]["test"] for k in range(1, 6)])
    md.append(f"| **mean ± std over folds** | **{ma:.1f} ± {sa:.1f}** | **{mb:.1f} ± {sb:.1f}** | {mb - ma:+.1f} |")
    n_classes = base_rec["n_classes"]
    metrics.update(
        {
            "mean/logmel_stats": ma,
            "std/logmel_stats": sa,
            "mean/audio_mae": mb,
            "std/audio_mae": sb,
            "n_classes": n_classes,
            "chance": 100.0 / n_classes,
        }
    )
    md += [
        "",
        f"Chance is {metrics['chance']:.0f} %. Each round's audio MAE saw only that round's four training "
        "folds during pretraining.",
    ]
    write_outputs(out, tidy=tidy, markdown="\n".join(md), metrics=metrics)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for i, m in enumerate(methods):
        sub = tidy[tidy["method"] == m]
        ax.bar([k + (i - 0.5) * 0.38 for k in sub["fold"]], sub["test"], 0.38, label=m)
    ax.axhline(metrics["chance"], color="red", lw=1.2, label="chance")
    ax.set_xticks(range(1, 6), [f"fold {k}" for k in range(1, 6)])
    ax.set_ylabel("test %")
    ax.set_ylim(0, 100)
    ax.set_title(f"{title} (size {size})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3)
    save_figure(fig, Path(out) / "fig.png")
    tidy.to_csv(Path(out) / "fig_data.csv", index=False)
    write_provenance(out, profile=size, started=t0, root=root, extra={"artifact": artifact_id, "evals": str(ev)})
    return Result(tidy=tidy, markdown="\n".join(md), metrics=metrics, figure=fig, claims=[])
