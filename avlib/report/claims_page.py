"""The page a reader opens first: every directional claim of a paper, one row each, gathered from the
``metrics.json`` of the artifacts that check them (``xkd_claims``, ``xdc_claims``)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd

from avlib.paths import resolve
from avlib.profiles import active_profile_name
from avlib.report.artifact import CLAIM_COLUMNS, Result, claims_rows, overall_verdict, rule_text
from avlib.report.claims import Claim, null_rates
from avlib.report.collect import collect_evals
from avlib.report.figures import save_figure
from avlib.report.provenance import write_provenance
from avlib.report.tables import fmt_diff, markdown_table, write_outputs

__all__ = ["judge_aa_control", "run_claims_page"]


def judge_aa_control(spec: dict, evals_dir, artifact_id: str) -> tuple[list[dict], list, list[dict]]:
    """The A/A control: the default configuration against itself under other seeds, judged by
    :meth:`Claim.judge` like every claim (the i-th run of ``a`` paired with the i-th of ``b``), one row per
    task, beside each the rule's simulated verdict rates under the null for those sample sizes, and
    :func:`variance_sources` of the control's runs.

    ``spec``: ``{text, a: [runs], b: [runs], tasks: {task: dataset}}``; ``b`` may be empty (the smoke profile
    trains one seed): the rows then read 'not resolved' with no test."""
    missing = {"a", "b", "tasks"} - set(spec)
    if missing:
        raise KeyError(f"{artifact_id}: aa_control lacks {sorted(missing)}")
    a_runs, b_runs, tasks = list(spec["a"]), list(spec["b"]), dict(spec["tasks"])
    if set(a_runs) & set(b_runs):
        raise ValueError(f"{artifact_id}: aa_control sides share runs {sorted(set(a_runs) & set(b_runs))}")
    tidy = collect_evals({"a": a_runs, "b": b_runs}, tasks, evals_dir) if a_runs or b_runs else pd.DataFrame()
    rows, rates = [], []
    paired = bool(b_runs) and len(a_runs) == len(b_runs)
    for t, name in tasks.items():

        def side(key, runs, t=t):
            if tidy.empty:
                return {}
            sel = tidy[(tidy.row == key) & (tidy.task == t)].set_index("run")["value"]
            return {i: float(sel[r]) for i, r in enumerate(runs)}

        text = spec.get("text", "A/A: the default configuration against itself under other seeds, on {dataset}")
        claim = Claim(text.format(dataset=name), t, side("a", a_runs), side("b", b_runs), paired=paired or None)
        rows.append(claim.to_dict())
        n_a, n_b = len(a_runs), len(b_runs)
        rates.append(null_rates(n_a, n_b, paired) if min(n_a, n_b) >= 2 else None)
    return rows, rates, variance_sources(tidy, tasks)


def variance_sources(tidy: pd.DataFrame, tasks: dict) -> list[dict]:
    """Where the seed-to-seed spread of one configuration's score comes from, per task: its standard deviation
    over every run of the control (both sides: independent seeds), the binomial standard deviation that
    sampling ``n_test`` test clips alone gives a top-1 accuracy ``p`` (``100 sqrt(p (1 - p) / n_test)``; not
    defined for mAP), and the share of the variance that test-set sampling explains (at most 1)."""
    out = []
    for t, name in tasks.items():
        sel = tidy[tidy.task == t] if not tidy.empty else tidy
        v = sel["value"].to_numpy(float) if len(sel) else np.array([])
        sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
        n_test = float(sel["n_test"].mean()) if len(sel) else float("nan")
        p = float(np.mean(v)) / 100 if len(v) else float("nan")
        top1 = len(sel) > 0 and (sel["metric"] == "top1").all()
        binom = 100 * math.sqrt(p * (1 - p) / n_test) if top1 and n_test > 0 and 0 <= p <= 1 else float("nan")
        share = min(1.0, binom**2 / sd**2) if math.isfinite(binom) and math.isfinite(sd) and sd > 0 else float("nan")
        out.append(
            {
                "task": t,
                "dataset": name,
                "n_runs": int(len(v)),
                "sd": sd,
                "n_test": n_test,
                "binomial_sd": binom,
                "test_share": share,
            }
        )
    return out


def run_claims_page(
    *,
    sources: dict,
    results_dir: str = "results",
    out_dir: str = "results/xkd_claims",
    artifact_id: str = "xkd_claims",
    paper: str = "XKD",
    citation: str = "Sarkar & Etemad (AAAI'24)",
    aa_control: dict | None = None,
    aa_evals_dir: str | None = None,
    root: str | None = None,
) -> Result:
    """The page a reader looks at first: every directional claim checked by a paper's artifacts, one row each.

    ``sources`` maps an artifact id to the paper statement it checks; each artifact's ``metrics.json``
    holds its ``claims`` (claim, diff, CI, p, detectable difference, verdict) and ``claim/overall``.
    ``paper`` and ``citation`` name the paper (XKD by default; XDC: ``"XDC"``, ``"Alwassel et al.
    (NeurIPS'20)"``). ``aa_control`` (with ``aa_evals_dir``, where its runs' evaluations are): see
    :func:`judge_aa_control`; its rows are printed first, with the rule's simulated false-positive rate."""
    t0 = time.time()
    res_dir, out = resolve(results_dir, root), resolve(out_dir, root)
    profile = active_profile_name(root)
    rows, overall, overall_by_artifact = [], [], {}
    for aid, statement in sources.items():
        path = res_dir / aid / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{artifact_id}: missing {path}: run `dvc repro {aid}`")
        m = json.loads(path.read_text())
        if "claims" not in m:
            raise KeyError(f"{artifact_id}: {path} has no 'claims' list")
        for c in m["claims"]:
            missing = {"claim", "diff", "ci", "p", "mdd", "verdict"} - set(c)
            if missing:
                raise KeyError(f"{artifact_id}: a claim in {path} lacks {sorted(missing)}: rerun `dvc repro {aid}`")
            rows.append({"artifact": aid, "statement": statement, **c})
        overall_by_artifact[aid] = m.get("claim/overall", "n/a")
        per_verdict = overall_verdict(m["claims"])[1]
        overall.append(
            [
                f"`{aid}`",
                statement,
                overall_by_artifact[aid],
                ", ".join(f"{k}: {v}" for k, v in sorted(per_verdict.items())),
            ]
        )
    tidy = pd.DataFrame(rows)
    counts = tidy.verdict.value_counts().to_dict()
    alpha = float(tidy["alpha"].iloc[0]) if "alpha" in tidy and len(tidy) else 0.05
    md = [
        f"# {paper}: the paper's claims checked against the measurement (profile `{profile}`)",
        "",
        f"Each row is a directional claim of {citation} tested by one artifact of this project. "
        + rule_text(rows)
        + f" Totals: {', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))} of {len(tidy)} claims; "
        f"if no claim held, about {alpha * len(tidy):.1f} would still read *supports* by chance "
        f"(level {alpha:g} per claim).",
        "",
    ]
    metrics = {"counts": counts, "overall": overall_by_artifact, "n_claims": len(tidy)}
    if aa_control is not None:
        if aa_evals_dir is None:
            raise ValueError(f"{artifact_id}: aa_control needs aa_evals_dir (where its runs' evaluations are)")
        aa_rows, rates, sources_of_variance = judge_aa_control(aa_control, resolve(aa_evals_dir, root), artifact_id)
        md += [
            "## A/A control",
            "",
            f"The default configuration against itself: runs {list(aa_control['a'])} against "
            f"{list(aa_control['b']) or '(none at this profile)'}, judged like every claim. It should read "
            "*not resolved*; beside it, how often the rule gives each verdict under the null for these sample "
            "sizes (simulated, normal samples).",
            "",
            markdown_table(
                ["control", "measured diff", *CLAIM_COLUMNS, "simulated false 'supports' (± MC s.e.)"],
                [
                    [c["claim"], *cells, f"{r['supports']:.3f} ± {r['mc_se']:.3f} ({r['n_sim']} draws)" if r else "n/a"]
                    for c, cells, r in zip(aa_rows, claims_rows(aa_rows), rates)
                ],
            ),
            "",
        ]
        md += [
            "Where the spread over seeds comes from (every run of the control, independent seeds): the standard "
            "deviation of the score, the binomial standard deviation that sampling the test clips alone gives "
            "that accuracy, and the share of the variance it explains (the rest: pretraining and probe seeds).",
            "",
            markdown_table(
                ["task", "runs", "SD over seeds", "test clips", "binomial SD", "share from the test set"],
                [
                    [
                        v["dataset"],
                        str(v["n_runs"]),
                        fmt_diff(v["sd"], sign=False),
                        "n/a" if not math.isfinite(v["n_test"]) else str(int(v["n_test"])),
                        fmt_diff(v["binomial_sd"], sign=False),
                        "n/a" if not math.isfinite(v["test_share"]) else f"{v['test_share']:.0%}",
                    ]
                    for v in sources_of_variance
                ],
            ),
            "",
        ]
        metrics["aa_control"] = {
            "claims": aa_rows,
            "null_rates": rates,
            "all_not_resolved": all(c["verdict"] == "not resolved" for c in aa_rows),
            "variance_sources": sources_of_variance,
        }
    md += [
        "## Claims",
        "",
        markdown_table(["artifact", "paper statement", "overall", "verdicts"], overall),
        "",
        markdown_table(
            ["artifact", "claim", "measured diff", *CLAIM_COLUMNS],
            [[f"`{r['artifact']}`", r["claim"], *cells] for r, cells in zip(rows, claims_rows(rows))],
        ),
    ]
    write_outputs(out, tidy=tidy, markdown="\n".join(md), metrics=metrics)
    from avlib.report.figures import claims_forest

    fig = claims_forest(tidy, title=f"{paper} claims (profile {profile}): measured difference per claim")
    save_figure(fig, out / "fig.png")
    tidy.to_csv(out / "fig_data.csv", index=False)
    write_provenance(out, profile=profile, started=t0, root=root, extra={"artifact": artifact_id, "sources": sources})
    return Result(tidy=tidy, markdown="\n".join(md), metrics=metrics, figure=fig, claims=rows)
