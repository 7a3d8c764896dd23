"""Comparison tables with prior work (XKD Tables 6, 7 and 8): the paper's rows quoted and marked as such,
our measured rows (linear evaluation and fine-tuning) below them, and the claims the method itself can
test (fine-tuning beats linear evaluation; XKD's fusion beats the L_ae baseline's)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pandas as pd

from avlib.paths import resolve
from avlib.profiles import active_profile_name
from avlib.report.artifact import Result, claims_block, finish_bar_table, overall_verdict
from avlib.report.claims import Claim
from avlib.report.tables import (
    by_seed,
    fmt_ms,
    fmt_paper,
    markdown_table,
    mean_std,
    paper_value,
    read_reference,
)

PROTOCOL_COLUMN = {"linear": "Lin.", "fc": "Lin.", "finetune": "FT."}


def _read(path: Path, what: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"missing {what} {path}: run `dvc repro` (its stage is named after the file)")
    return json.loads(path.read_text())


def _measure(ours: dict, tasks: dict, linear_tasks: dict, ev_dir: Path, ft_dir: Path) -> pd.DataFrame:
    rows = []
    for key, spec in ours.items():
        for name in spec.get("linear", []):
            ev = _read(ev_dir / f"{name}.json", "evaluation")
            for t in tasks:
                et = linear_tasks.get(t, t)
                res = ev["tasks"].get(et)
                if res is None or "skipped" in res:
                    raise ValueError(f"evaluation {name} has no result for task {et!r}")
                rows.append(
                    {
                        "row": key,
                        "protocol": "linear",
                        "task": t,
                        "run": name,
                        "seed": ev["seed"],
                        "value": res["test"],
                        "eval_protocol": res["protocol"],
                        "chance": res.get("chance"),
                    }
                )
        for name in spec.get("finetune", []):
            for t in spec.get("finetune_tasks", tasks):
                ft = _read(ft_dir / f"{name}_{t}.json", "fine-tuning result")
                rows.append(
                    {
                        "row": key,
                        "protocol": "finetune",
                        "task": t,
                        "run": name,
                        "seed": ft["seed"],
                        "value": ft["test"],
                        "eval_protocol": "finetune",
                        "chance": None,
                    }
                )
    return pd.DataFrame(rows)


def run_sota_table(
    *,
    artifact_id: str,
    title: str,
    caption: str,
    statement: str,
    tasks: dict,
    ours: dict,
    claims: list,
    paper_xkd_row: str,
    linear_tasks: dict | None = None,
    evals_dir: str = "evals",
    finetunes_dir: str = "finetunes",
    reference: str | None = None,
    out_dir: str | None = None,
    column_names: dict | None = None,
    data_label: str = "avsynth (pretrain role)",
    paper_label: str = "XKD",
    root: str | None = None,
) -> Result:
    """Quoted prior work + our measured rows.

    Args:
        tasks: our task -> the paper's dataset column.
        ours: ``{key: {label, linear: [eval names], finetune: [run names], finetune_tasks, paper_row
            (optional)}}``; fine-tuning results are read from ``<finetunes_dir>/<run>_<task>.json``;
            ``paper_row`` (default ``paper_xkd_row``) is the reference row drawn beside this row in the figure.
        claims: ``{kind: ft_over_linear, row}`` (fine-tuning beats linear evaluation of ``row``, per task)
            or ``{better, worse, protocol}`` (row vs row), each with an optional ``text``.
        paper_xkd_row: the reference row drawn beside our rows in the figure unless a row names its own.
        linear_tasks: our task -> the evaluation task that holds its linear number (Table 8: ks -> ks_av).
        column_names: the protocol columns' names (default ``{"Lin.": "Lin.", "FT.": "FT."}``; XDC Table 4
            calls them ``fc`` and ``all``).
        data_label: the "Pretraining data" cell of our rows (a row's own ``data`` wins).
        paper_label: the method the paper rows of the figure belong to.
    """
    t0 = time.time()
    ev_dir, ft_dir = resolve(evals_dir, root), resolve(finetunes_dir, root)
    out = resolve(out_dir or f"results/{artifact_id}", root)
    ref = read_reference(resolve(reference or f"params/reference/{artifact_id}.csv", root), artifact_id)
    ref["column"] = ref.protocol.map(PROTOCOL_COLUMN)
    profile = active_profile_name(root)
    tidy = _measure(ours, tasks, linear_tasks or {}, ev_dir, ft_dir)
    protocols = [p for p in ("Lin.", "FT.") if p in set(ref.column)]
    cols = [(t, p) for t in tasks for p in protocols]
    names = {"Lin.": "Lin.", "FT.": "FT.", **(column_names or {})}
    header = ["Method", "Pretraining data", "source"] + [f"{tasks[t]} {names[p]}" for t, p in cols]
    md_rows = []
    for _row, d in ref[ref.task.isin(list(tasks))].groupby("row", sort=False):
        cells = [fmt_paper(paper_value(d, _row, t, column=p)) for t, p in cols]
        md_rows.append(
            [d.method.iloc[0], "" if pd.isna(d.pretrain_data.iloc[0]) else d.pretrain_data.iloc[0], "quoted (paper)"]
            + cells
        )

    def vals(row, protocol, task):
        return tidy[(tidy.row == row) & (tidy.protocol == protocol) & (tidy.task == task)]["value"].tolist()

    def seed_vals(row, protocol, task):
        return by_seed(tidy[(tidy.row == row) & (tidy.protocol == protocol) & (tidy.task == task)])

    metrics, plot = {}, []
    for key, spec in ours.items():
        cells = []
        for t, p in cols:
            proto = "finetune" if p == "FT." else "linear"
            m, s, n = mean_std(vals(key, proto, t))
            cells.append(fmt_ms(m, s, n) if n else "—")
            if n:
                metrics[f"{key}/{proto}/{t}/mean"], metrics[f"{key}/{proto}/{t}/std"] = m, s
                prow = spec.get("paper_row", paper_xkd_row)
                ch = tidy[(tidy.task == t) & tidy.chance.notna()]["chance"]
                plot.append(
                    {
                        "task": tasks[t],
                        "method": f"{spec.get('label', key).replace(' (ours)', '')} {names[p]}",
                        "mean": m,
                        "std": s,
                        "paper": paper_value(ref, prow, t, column=p),
                        "chance": float(ch.mean()) if len(ch) else float("nan"),
                    }
                )
        md_rows.append(
            [f"**{spec.get('label', key)}**", spec.get("data", data_label), f"measured (profile {profile})"] + cells
        )

    judged = []
    for c in claims:
        if c.get("kind") == "ft_over_linear":
            for t in tasks:
                text = c.get("text", "fine-tuning beats linear evaluation on {dataset}").format(dataset=tasks[t])
                judged.append(
                    Claim(text, t, seed_vals(c["row"], "finetune", t), seed_vals(c["row"], "linear", t)).to_dict()
                )
        else:
            for t in tasks:
                text = c.get("text", "{better} beats {worse} on {dataset}").format(
                    dataset=tasks[t], better=ours[c["better"]].get("label"), worse=ours[c["worse"]].get("label")
                )
                proto = c.get("protocol", "linear")
                judged.append(
                    Claim(text, t, seed_vals(c["better"], proto, t), seed_vals(c["worse"], proto, t)).to_dict()
                )
    judged = [j for j in judged if math.isfinite(j["diff"])]
    overall, counts = overall_verdict(judged) if judged else ("n/a", {})
    seeds = sorted(tidy.seed.unique().tolist())
    md = [
        f"# {title} (profile `{profile}`)",
        "",
        caption.strip(),
        "",
        "Rows marked *quoted (paper)* are copied from the paper (its datasets, backbones and compute); rows "
        f"marked *measured* are this project's, on the avsynth stand-ins, mean ± std over seeds {seeds}. "
        "The two are not comparable in absolute terms; only our rows' differences are tested.",
        "",
        markdown_table(header, md_rows),
        "",
    ]
    if judged:
        md += claims_block(statement, overall, counts, judged)
    return finish_bar_table(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=judged,
        plot=plot,
        title=f"{title} (profile {profile}): ours vs the paper's {paper_label} ({paper_xkd_row})",
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "ours": ours, "paper_xkd_row": paper_xkd_row},
    )
