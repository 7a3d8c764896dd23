"""The generic comparison table: XKD Tables 1-5, S8-S15, Figs. S1, S2, S4-scalability, S5, S6 and XDC Tables 1-3.

Every such artifact has the same shape: *rows* (pretraining configurations, or encoders of the same runs, each
with its seed evaluations), *columns* (downstream tasks), the paper's number beside ours in every cell, optional
arrows giving each row's gap to a reference row, optional paper remarks, and directional claims of the form
"row A beats row B on task T". What differs between artifacts is data, so it lives in ``params/<artifact>.yaml``
(labels, remarks, claims and their wording included); the notebooks call :func:`run_comparison_table` with it.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.paths import resolve
from avlib.profiles import active_profile_name
from avlib.report.artifact import Result, claims_block, finish_artifact, finish_bar_table, overall_verdict
from avlib.report.claims import Claim
from avlib.report.collect import collect_evals
from avlib.report.collect import stage_times as read_stage_times
from avlib.report.tables import (
    by_seed,
    fmt_ms,
    fmt_paper,
    markdown_table,
    mean_std,
    paper_value,
    read_reference,
    record_stats,
)

CLAIM_KEYS = {"better", "worse", "tasks", "text", "paired"}
ROW_KEYS = {"label", "runs", "task_runs", "encoder", "remark", "x", "x_from", "x_key", "series"}


def _check_spec(artifact_id: str, rows: dict, tasks: dict, claims: list, reference_row: str | None) -> None:
    if not rows:
        raise ValueError(f"{artifact_id}: no rows")
    if reference_row is not None and reference_row not in rows:
        raise ValueError(f"{artifact_id}: reference_row={reference_row!r} is not a row ({list(rows)})")
    for key, row in rows.items():
        unknown = set(row) - ROW_KEYS
        if unknown:
            raise ValueError(f"{artifact_id}: rows.{key}: unknown key(s) {sorted(unknown)}; allowed {sorted(ROW_KEYS)}")
        if not row.get("runs"):
            raise ValueError(f"{artifact_id}: rows.{key}: needs a non-empty 'runs' list")
        bad = set(row.get("task_runs", {})) - set(tasks)
        if bad:
            raise ValueError(f"{artifact_id}: rows.{key}.task_runs: {sorted(bad)} are not tasks ({list(tasks)})")
    for i, c in enumerate(claims):
        unknown = set(c) - CLAIM_KEYS
        if unknown:
            raise ValueError(
                f"{artifact_id}: claims[{i}]: unknown key(s) {sorted(unknown)}; allowed {sorted(CLAIM_KEYS)}"
            )
        for side in ("better", "worse"):
            if c.get(side) not in rows:
                raise ValueError(f"{artifact_id}: claims[{i}].{side}={c.get(side)!r} is not a row ({list(rows)})")
        bad = set(c.get("tasks", tasks)) - set(tasks)
        if bad:
            raise ValueError(f"{artifact_id}: claims[{i}].tasks {sorted(bad)} are not tasks ({list(tasks)})")


def _x_value(row: dict, runs_dir: Path) -> float:
    """A row's x for line figures: ``x``, or field ``x_key`` (default ``epochs``; e.g. ``clips``) of run
    ``x_from``'s summary.json, so schedule- and data-size figures stay right at every profile."""
    if "x_from" in row:
        path = runs_dir / row["x_from"] / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"missing {path} (x_from): run its pretrain stage first")
        return float(json.loads(path.read_text())[row.get("x_key", "epochs")])
    return float(row.get("x", np.nan))


def _gap(value: float, ref: float) -> str:
    """`` (↓2.1)``: how far ``value`` lies below (↓) or above (↑) the reference row's ``ref``."""
    if not (math.isfinite(value) and math.isfinite(ref)):
        return ""
    return f" ({'↓' if ref - value >= 0 else '↑'}{abs(ref - value):.1f})"


def line_figure(plot: pd.DataFrame, *, xlabel: str, title: str):
    """One panel per task: measured mean ± std against the row's x value (one line per ``series``), with
    the paper's points where it gives numbers."""
    tasks = list(dict.fromkeys(plot.task))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.2), squeeze=False)
    for ax, t in zip(axes[0], tasks):
        d = plot[plot.task == t].sort_values("x")
        for series, ds in d.groupby("series", sort=False):
            ax.errorbar(
                ds.x,
                ds["mean"],
                yerr=ds["std"].fillna(0),
                marker="o",
                capsize=3,
                label=f"{series} (ours, mean ± std)" if series else "ours (mean ± std)",
            )
        if d.paper.notna().any():
            ax2 = ax.twinx()
            ax2.plot(d.x, d.paper, "s--", color="tab:gray", alpha=0.7, label="paper (right axis)")
            ax2.set_ylabel("paper %", color="tab:gray")
            ax2.tick_params(axis="y", colors="tab:gray")
        ax.axhline(float(d.chance.mean()), color="tab:red", lw=0.8, ls=":", label="chance")
        ax.set_title(t)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("ours, top-1 % (mAP % for FSD50K)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def run_comparison_table(
    *,
    artifact_id: str,
    title: str,
    caption: str,
    statement: str,
    rows: dict,
    tasks: dict,
    claims: list,
    evals_dir: str = "evals/ablation",
    runs_dir: str = "runs/ablation",
    reference: str | None = None,
    reference_row: str | None = None,
    out_dir: str | None = None,
    figure: dict | None = None,
    evaluated: str | None = None,
    root: str | None = None,
) -> Result:
    """Measured vs paper for a set of rows (configurations or encoders) x tasks, with directional claims.

    Args:
        rows: ``{row_key: {label, runs: [<eval names>], task_runs: {task: [<eval names>]} (optional: other
            runs for some tasks, e.g. Table 1's L_recon row: video reconstruction for the video tasks, audio
            reconstruction for the audio ones), encoder (optional: the encoder the evaluations must have
            probed, checked), remark (optional: the paper's remark, a column), x / x_from / x_key / series
            (line figures)}}``. The row keys are the ``row`` column of the reference CSV (paper numbers).
        tasks: our task -> the paper's dataset name (column order).
        claims: ``[{better, worse, tasks (default: all), text, paired}]``; ``text`` may use ``{dataset}``,
            ``{better}``, ``{worse}`` (row labels). Each claim is judged per task by :meth:`Claim.judge` on the
            per-seed values of both rows: paired by seed when both rows have the same seeds, Welch otherwise;
            ``paired: true`` requires the pairing (two encoders of the same runs).
        reference_row: every other row's cells show their gap to this row (``↓`` below it, ``↑`` above), in
            the paper's columns and in ours.
        figure: ``None`` (bars per task and row) or ``{kind: line, xlabel: ...}`` (rows need ``x``).
        evaluated: what the *(ours)* columns evaluate, for methods without teacher/student encoders (XDC:
            ``"the frozen encoders"``); by default the table names the evaluated encoder per row.
    Writes ``table.md``, ``table.csv``, ``metrics.json`` (``<row>/<task>/mean|std|n_seeds`` and the claims),
    ``fig.png``, ``fig_data.csv`` and ``provenance.json`` to ``out_dir`` (default ``results/<artifact_id>``).
    """
    t0 = time.time()
    _check_spec(artifact_id, rows, tasks, claims, reference_row)
    ev_dir, rn_dir = resolve(evals_dir, root), resolve(runs_dir, root)
    out = resolve(out_dir or f"results/{artifact_id}", root)
    ref = read_reference(resolve(reference or f"params/reference/{artifact_id}.csv", root), artifact_id)
    profile = active_profile_name(root)
    tidy = collect_evals(
        {k: {t: r.get("task_runs", {}).get(t, r["runs"]) for t in tasks} for k, r in rows.items()}, tasks, ev_dir
    )
    for key, row in rows.items():
        wrong = tidy[(tidy.row == key) & (tidy.encoder != row["encoder"])] if "encoder" in row else tidy[:0]
        if len(wrong):
            w = wrong.iloc[0]
            raise ValueError(
                f"{artifact_id}: rows.{key}: {w.run} evaluated the {w.encoder} encoder, not the {row['encoder']}"
            )

    def vals(row, task):
        return tidy[(tidy.row == row) & (tidy.task == task)].sort_values("seed")["value"].tolist()

    def seed_vals(row, task):
        return by_seed(tidy[(tidy.row == row) & (tidy.task == task)])

    chance = {t: float(tidy[tidy.task == t]["chance"].mean()) for t in tasks}
    xs = {key: _x_value(row, rn_dir) for key, row in rows.items()}
    enc_col = evaluated is None
    remarks = any("remark" in r for r in rows.values())
    header = (
        ["Setting"]
        + (["encoder"] if enc_col else [])
        + [f"{tasks[t]} (paper)" for t in tasks]
        + [f"{tasks[t]} (ours)" for t in tasks]
        + (["Remarks (paper)"] if remarks else [])
    )
    md_rows, metrics, plot = [], {}, []
    for key, row in rows.items():
        paper_cells, our_cells = [], []
        for t in tasks:
            pv = paper_value(ref, key, t)
            m, s, n = record_stats(metrics, f"{key}/{t}", vals(key, t))
            if reference_row is not None and key != reference_row:
                ours_ref = mean_std(vals(reference_row, t))[0]
                paper_cells.append(fmt_paper(pv) + _gap(pv, paper_value(ref, reference_row, t)))
                our_cells.append(fmt_ms(m, s, n) + _gap(m, ours_ref))
            else:
                paper_cells.append(fmt_paper(pv))
                our_cells.append(fmt_ms(m, s, n))
            plot.append(
                {
                    "task": tasks[t],
                    "method": row.get("label", key),
                    "row": key,
                    "x": xs[key],
                    "series": row.get("series", ""),
                    "mean": m,
                    "std": s,
                    "paper": pv,
                    "chance": chance[t],
                }
            )
        enc = sorted(tidy[tidy.row == key]["encoder"].unique())
        md_rows.append(
            [row.get("label", key)]
            + (["/".join(enc)] if enc_col else [])
            + paper_cells
            + our_cells
            + ([row.get("remark", "")] if remarks else [])
        )
    quoted = [r for r in dict.fromkeys(ref["row"]) if r not in rows]  # paper rows not run here
    for r in quoted:
        cells = [fmt_paper(paper_value(ref, r, t)) for t in tasks]
        md_rows.append(
            [f"{r} (paper only, not run)"]
            + ([""] if enc_col else [])
            + cells
            + ["" for _ in tasks]
            + ([""] if remarks else [])
        )
    md_rows.append(
        ["chance level"]
        + ([""] if enc_col else [])
        + ["" for _ in tasks]
        + [f"{chance[t]:.1f}" for t in tasks]
        + ([""] if remarks else [])
    )

    judged = []
    for c in claims:
        for t in c.get("tasks", list(tasks)):
            text = c.get("text", "{better} beats {worse} on {dataset}").format(
                dataset=tasks[t],
                better=rows[c["better"]].get("label", c["better"]),
                worse=rows[c["worse"]].get("label", c["worse"]),
            )
            judged.append(
                Claim(
                    text,
                    t,
                    seed_vals(c["better"], t),
                    seed_vals(c["worse"], t),
                    paired=True if c.get("paired") else None,
                ).to_dict()
            )
    overall, counts = overall_verdict(judged) if judged else ("n/a", {})
    seeds = sorted(tidy.seed.unique().tolist())
    all_runs = list(
        dict.fromkeys(
            r for row in rows.values() for rs in [row["runs"], *row.get("task_runs", {}).values()] for r in rs
        )
    )
    stage_times = read_stage_times(all_runs, ev_dir, rn_dir)
    gaps = (
        f"; arrows give each row's gap to *{rows[reference_row].get('label', reference_row)}*" if reference_row else ""
    )
    md = [
        f"# {title} (profile `{profile}`)",
        "",
        caption.strip(),
        "",
        f"*(paper)* columns quote the paper (— where it has no such row or column); *(ours)* columns are "
        f"measured here, linear evaluation of {'the encoder named in the second column' if enc_col else evaluated}, "
        f"mean ± std over seeds {seeds}{gaps}; the last row is the chance level.",
        "",
        markdown_table(header, md_rows),
        "",
    ]
    if judged:
        md += claims_block(statement, overall, counts, judged)
    md += [
        "",
        "Protocols: "
        + ", ".join(
            f"{tasks[t]} → `{t}` ({tidy[tidy.task == t].protocol.iloc[0]}, {tidy[tidy.task == t].metric.iloc[0]})"
            for t in tasks
        ),
        "",
        "Stage wall times (s): "
        + ", ".join(f"{r}: pretrain {v['pretrain_s']}, eval {v['eval_s']}" for r, v in stage_times.items()),
    ]
    extra = {"artifact": artifact_id, "rows": rows, "stage_times_s": stage_times}
    fig_title = f"{title} (profile {profile})"
    if not figure or figure.get("kind", "bars") == "bars":
        return finish_bar_table(
            out,
            tidy=tidy,
            md=md,
            metrics=metrics,
            claims=judged,
            plot=plot,
            title=fig_title,
            profile=profile,
            started=t0,
            root=root,
            extra=extra,
        )
    if figure.get("kind") != "line":
        raise ValueError(f"{artifact_id}: figure.kind must be 'bars' or 'line', got {figure.get('kind')!r}")
    missing = [k for k, r in rows.items() if not np.isfinite(xs[k])]
    if missing:
        raise ValueError(f"{artifact_id}: a line figure needs an 'x' or 'x_from' in rows {missing}")
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=judged,
        fig=line_figure(pd.DataFrame(plot), xlabel=figure.get("xlabel", "setting"), title=fig_title),
        fig_data=pd.DataFrame(plot),
        profile=profile,
        started=t0,
        root=root,
        extra=extra,
    )
