"""One function per artifact: read evaluation results, compare with the paper, render.

Notebooks call exactly one of these and display what it returns."""

from __future__ import annotations

import json
import time

import pandas as pd

from avlib.paths import resolve
from avlib.profiles import active_profile_name
from avlib.report.artifact import Result, claims_block, finish_bar_table, overall_verdict
from avlib.report.claims import Claim
from avlib.report.collect import collect_evals, load_eval
from avlib.report.collect import stage_times as read_stage_times
from avlib.report.figures import save_figure
from avlib.report.provenance import write_provenance
from avlib.report.tables import (
    diff_spread,
    fmt_diff,
    fmt_ms,
    markdown_table,
    mean_std,
    paired_diff_spread,
    write_outputs,
)

LOSS_LABELS = {"recon": "L_recon", "ae": "L_ae", "xkd": "L_xkd"}


def run_xkd_tab01_kd_effect(
    *,
    runs: dict,
    tasks: dict,
    video_tasks: list,
    evals_dir: str = "evals",
    runs_dir: str = "runs",
    reference: str = "params/reference/xkd_tab01_kd_effect.csv",
    out_dir: str = "results/xkd_tab01_kd_effect",
    artifact_id: str = "xkd_tab01_kd_effect",
    root: str | None = None,
) -> Result:
    """XKD Table 1: linear evaluation of L_recon / L_ae / L_xkd on six downstream tasks.

    ``runs`` maps a row ('recon_video', 'recon_audio', 'ae', 'xkd') to its seed runs; the paper's
    L_recon row uses video reconstruction for video tasks and audio reconstruction for audio tasks.
    ``tasks`` maps our task name to the paper's column name."""
    t0 = time.time()
    ev_dir, rn_dir, out = resolve(evals_dir, root), resolve(runs_dir, root), resolve(out_dir, root)
    ref = pd.read_csv(resolve(reference, root))
    profile = active_profile_name(root)
    rows = []
    for row_key, run_names in runs.items():
        for run in run_names:
            ev = load_eval(ev_dir, run)
            for task, res in ev["tasks"].items():
                if task not in tasks or "skipped" in res:
                    continue
                method = "recon" if row_key.startswith("recon") else row_key
                rows.append(
                    {
                        "method": method,
                        "run": run,
                        "seed": ev["seed"],
                        "task": task,
                        "dataset": tasks[task],
                        "encoder": res["encoder"],
                        "protocol": res["protocol"],
                        "metric": res["metric"],
                        "value": res["test"],
                        "val_value": res["val"],
                        "chance": res.get("chance", float("nan")),
                    }
                )
    tidy = pd.DataFrame(rows)
    if tidy.empty:
        raise ValueError("no evaluation results found for the runs listed in the params")

    def vals(method, task):
        return tidy[(tidy.method == method) & (tidy.task == task)]["value"].tolist()

    header = ["Loss"] + [f"{tasks[t]} (paper)" for t in tasks] + [f"{tasks[t]} (ours)" for t in tasks]
    chance = {
        t: float(tidy[tidy.task == t]["chance"].mean()) if (tidy.task == t).any() else float("nan") for t in tasks
    }
    md_rows, metrics, plot = [], {}, []
    for method in ("recon", "ae", "xkd"):
        paper_cells, our_cells = [], []
        for t in tasks:
            p = ref[(ref.method == method) & (ref.task == t)]["paper_value"]
            pv = float(p.iloc[0]) if len(p) else float("nan")
            pxkd = ref[(ref.method == "xkd") & (ref.task == t)]["paper_value"]
            m, s, n = mean_std(vals(method, t))
            mx, _, _ = mean_std(vals("xkd", t))
            dp = f" (↓{float(pxkd.iloc[0]) - pv:.1f})" if method != "xkd" and len(pxkd) else ""
            dm = f" ({'↓' if mx - m >= 0 else '↑'}{abs(mx - m):.1f})" if method != "xkd" and n else ""
            paper_cells.append(f"{pv:.1f}{dp}")
            our_cells.append(fmt_ms(m, s, n) + dm)
            metrics[f"{method}/{t}/mean"], metrics[f"{method}/{t}/std"], metrics[f"{method}/{t}/n_seeds"] = m, s, n
            plot.append(
                {"task": tasks[t], "method": LOSS_LABELS[method], "mean": m, "std": s, "paper": pv, "chance": chance[t]}
            )
        md_rows.append([LOSS_LABELS[method]] + paper_cells + our_cells)
    md_rows.append(["chance level"] + ["" for _ in tasks] + [f"{chance[t]:.1f}" for t in tasks])

    claims = []
    for t in video_tasks:
        for other in ("recon", "ae"):
            d, sp = diff_spread(vals("xkd", t), vals(other, t))
            claims.append(
                Claim(
                    f"L_xkd beats {LOSS_LABELS[other]} on {tasks[t]} (video)",
                    t,
                    d,
                    sp,
                ).to_dict()
            )
    overall, counts = overall_verdict(claims)
    seeds = sorted(tidy.seed.unique().tolist())
    stage_times = read_stage_times([r for rs in runs.values() for r in rs], ev_dir, rn_dir)
    md = [
        f"# XKD Table 1: effect of cross-modal knowledge distillation (profile `{profile}`)",
        "",
        "Linear evaluation on the avsynth downstream tasks standing in for the paper's datasets "
        "(top-1 %, mAP % for the FSD50K role). *(paper)* columns quote Sarkar & Etemad (2024), Table 1 "
        "(ViT-B, Kinetics-400, 800 epochs); *(ours)* columns are measured here, mean ± std over seeds "
        f"{seeds}; arrows give the gap to L_xkd; the last row is the chance level of each task.",
        "",
        markdown_table(header, md_rows),
        "",
        f"**Directional claim** (does L_xkd beat L_ae and L_recon on the video tasks?): **{overall}** "
        f"by the measurement ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}).",
        "",
    ]
    md.append(
        markdown_table(
            ["claim", "measured diff", "spread (SE over seeds)", "verdict"],
            [[c["claim"], fmt_diff(c["diff"]), fmt_diff(c["spread"], sign=False), c["verdict"]] for c in claims],
        )
    )
    md += [
        "",
        "Protocols: "
        + ", ".join(
            f"{tasks[t]} → `{t}` ({tidy[tidy.task == t].protocol.iloc[0]}, {tidy[tidy.task == t].metric.iloc[0]})"
            for t in tasks
            if (tidy.task == t).any()
        ),
        "",
        "Stage wall times (s): "
        + ", ".join(f"{r}: pretrain {v['pretrain_s']}, eval {v['eval_s']}" for r, v in stage_times.items()),
    ]
    return finish_bar_table(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=claims,
        plot=plot,
        title=f"XKD Table 1 (profile {profile}): measured vs paper",
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "runs": runs, "stage_times_s": stage_times},
    )


def run_xkd_tab05_teacher_student(
    *,
    teacher_evals: list,
    student_evals: list,
    tasks: dict,
    evals_dir: str = "evals",
    reference: str = "params/reference/xkd_tab05_teacher_student.csv",
    out_dir: str = "results/xkd_tab05_teacher_student",
    artifact_id: str = "xkd_tab05_teacher_student",
    root: str | None = None,
) -> Result:
    """XKD Table 5: linear evaluation of the EMA teachers vs the students of the same XKD runs.

    ``teacher_evals`` / ``student_evals`` are evaluation names (``evals/<name>.json``) in the same seed
    order; the claim "teacher beats student" is judged on the per-seed paired difference."""
    t0 = time.time()
    ev_dir, out = resolve(evals_dir, root), resolve(out_dir, root)
    ref = pd.read_csv(resolve(reference, root))
    profile = active_profile_name(root)
    if len(teacher_evals) != len(student_evals):
        raise ValueError(
            f"{artifact_id}: teacher_evals and student_evals must pair up seed by seed, got "
            f"{len(teacher_evals)} and {len(student_evals)}"
        )
    tidy = collect_evals({"teacher": teacher_evals, "student": student_evals}, tasks, ev_dir)
    wrong = tidy[tidy.encoder != tidy.row]
    if len(wrong):
        w = wrong.iloc[0]
        raise ValueError(f"{artifact_id}: {w.run} evaluated the {w.encoder} encoder, listed as {w.row}")
    by_seed = {role: tidy[tidy.encoder == role].sort_values("seed") for role in ("teacher", "student")}
    if by_seed["teacher"].seed.tolist() != by_seed["student"].seed.tolist():
        raise ValueError(f"{artifact_id}: teacher and student evaluations cover different seeds")

    def vals(role, task):
        d = by_seed[role]
        return d[d.task == task]["value"].tolist()

    md_rows, metrics, plot, claims = [], {}, [], []
    for t in tasks:
        paper = {r: ref[(ref.encoder == r) & (ref.task == t)]["paper_value"] for r in ("student", "teacher")}
        pv = {r: float(p.iloc[0]) if len(p) else float("nan") for r, p in paper.items()}
        ms = {r: mean_std(vals(r, t)) for r in ("student", "teacher")}
        d, sp = paired_diff_spread(vals("teacher", t), vals("student", t))
        chance = float(tidy[tidy.task == t]["chance"].mean())
        md_rows.append(
            [
                tasks[t],
                f"{pv['student']:.1f} (↓{pv['teacher'] - pv['student']:.1f})",
                f"{pv['teacher']:.1f}",
                fmt_ms(*ms["student"]) + f" ({'↓' if d >= 0 else '↑'}{abs(d):.1f})",
                fmt_ms(*ms["teacher"]),
                f"{chance:.1f}",
            ]
        )
        claims.append(
            Claim(
                f"the teacher beats the student on {tasks[t]}",
                t,
                d,
                sp,
            ).to_dict()
        )
        for r in ("student", "teacher"):
            m, s, n = ms[r]
            metrics[f"{r}/{t}/mean"], metrics[f"{r}/{t}/std"], metrics[f"{r}/{t}/n_seeds"] = m, s, n
            plot.append({"task": tasks[t], "method": r, "mean": m, "std": s, "paper": pv[r], "chance": chance})
    overall, counts = overall_verdict(claims)
    seeds = by_seed["teacher"].seed.unique().tolist()
    md = [
        f"# XKD Table 5: students vs teachers (profile `{profile}`)",
        "",
        "Linear evaluation (top-1 %) of the student and the EMA teacher encoders of the same XKD runs. "
        "*(paper)* columns quote Sarkar & Etemad (2024), Table 5 (ViT-B, Kinetics-400); *(ours)* columns are "
        f"measured here, mean ± std over seeds {seeds}; the arrow gives the student's gap to the teacher "
        "(mean of the per-seed differences).",
        "",
        markdown_table(
            ["Dataset", "Student (paper)", "Teacher (paper)", "Student (ours)", "Teacher (ours)", "chance"], md_rows
        ),
        "",
        *claims_block(
            "teachers are slightly stronger than students",
            overall,
            counts,
            claims,
            "measured diff (teacher - student)",
            "spread (SE of paired diffs)",
        ),
    ]
    return finish_bar_table(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=claims,
        plot=plot,
        title=f"XKD Table 5 (profile {profile}): student vs teacher",
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "teacher_evals": teacher_evals, "student_evals": student_evals},
    )


def run_claims_page(
    *,
    sources: dict,
    results_dir: str = "results",
    out_dir: str = "results/xkd_claims",
    artifact_id: str = "xkd_claims",
    paper: str = "XKD",
    citation: str = "Sarkar & Etemad (AAAI'24)",
    root: str | None = None,
) -> Result:
    """The page a reader looks at first: every directional claim checked by a paper's artifacts, one row each.

    ``sources`` maps an artifact id to the paper statement it checks; each artifact's ``metrics.json``
    holds its ``claims`` (claim, diff, spread, verdict) and ``claim/overall``. ``paper`` and ``citation``
    name the paper (XKD by default; XDC: ``"XDC"``, ``"Alwassel et al. (NeurIPS'20)"``)."""
    t0 = time.time()
    res_dir, out = resolve(results_dir, root), resolve(out_dir, root)
    profile = active_profile_name(root)
    rows, overall, overall_by_artifact = [], [], {}
    for aid, statement in sources.items():
        path = res_dir / aid / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{artifact_id}: missing {path}: run `dvc repro table@{aid}`")
        m = json.loads(path.read_text())
        if "claims" not in m:
            raise KeyError(f"{artifact_id}: {path} has no 'claims' list")
        for c in m["claims"]:
            rows.append(
                {
                    "artifact": aid,
                    "statement": statement,
                    "claim": c["claim"],
                    "diff": c["diff"],
                    "spread": c["spread"],
                    "verdict": c["verdict"],
                }
            )
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
    md = [
        f"# {paper}: the paper's claims checked against the measurement (profile `{profile}`)",
        "",
        f"Each row is a directional claim of {citation} tested by one artifact of this project. "
        "*supports*: the measured difference has the claimed sign and exceeds its spread over seeds; "
        "*contradicts*: the opposite sign beyond the spread; *cannot resolve*: within the spread. "
        f"Totals: {', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}.",
        "",
        markdown_table(["artifact", "paper statement", "overall", "verdicts"], overall),
        "",
        markdown_table(
            ["artifact", "claim", "measured diff", "spread", "verdict"],
            [
                [f"`{r.artifact}`", r.claim, fmt_diff(r.diff), fmt_diff(r.spread, sign=False), r.verdict]
                for r in tidy.itertuples()
            ],
        ),
    ]
    metrics = {"counts": counts, "overall": overall_by_artifact}
    write_outputs(out, tidy=tidy, markdown="\n".join(md), metrics=metrics)
    from avlib.report.figures import claims_forest

    fig = claims_forest(tidy, title=f"{paper} claims (profile {profile}): measured difference per claim")
    save_figure(fig, out / "fig.png")
    tidy.to_csv(out / "fig_data.csv", index=False)
    write_provenance(out, profile=profile, started=t0, root=root, extra={"artifact": artifact_id, "sources": sources})
    return Result(tidy=tidy, markdown="\n".join(md), metrics=metrics, figure=fig, claims=rows)


TAB02_ROWS = {
    "ae": ("L_ae", "multimodal baseline"),
    "ae_kd": ("L_ae + L_kd", "without L_da, knowledge distillation fails"),
    "ae_da": ("L_ae + L_da", "without L_kd, L_da has marginal impact"),
    "xkd": ("L_ae + L_kd + L_da", "L_da + L_kd improves the accuracy by 8-14 %"),
}


def run_xkd_tab02_domain_alignment(
    *,
    runs: dict,
    tasks: dict,
    evals_dir: str = "evals",
    reference: str = "params/reference/xkd_tab02_domain_alignment.csv",
    out_dir: str = "results/xkd_tab02_domain_alignment",
    artifact_id: str = "xkd_tab02_domain_alignment",
    root: str | None = None,
) -> Result:
    """XKD Table 2: L_ae, + L_kd, + L_da and both, on the video tasks (linear evaluation of the teachers).

    ``runs`` maps a row of :data:`TAB02_ROWS` to its seed runs. Claims: the combination beats each part
    and the baseline, per task (unpaired difference of seed means, spread = its standard error)."""
    t0 = time.time()
    ev_dir, out = resolve(evals_dir, root), resolve(out_dir, root)
    unknown = set(runs) - set(TAB02_ROWS)
    if unknown:
        raise ValueError(f"{artifact_id}: unknown row(s) {sorted(unknown)}; rows are {list(TAB02_ROWS)}")
    ref = pd.read_csv(resolve(reference, root))
    profile = active_profile_name(root)
    tidy = collect_evals(runs, tasks, ev_dir)

    def vals(row, task):
        return tidy[(tidy.row == row) & (tidy.task == task)]["value"].tolist()

    header = (
        ["Loss"] + [f"{tasks[t]} (paper)" for t in tasks] + [f"{tasks[t]} (ours)" for t in tasks] + ["Remarks (paper)"]
    )
    md_rows, metrics, plot = [], {}, []
    for row in runs:
        label, remark = TAB02_ROWS[row]
        paper_cells, our_cells = [], []
        for t in tasks:
            p = ref[(ref.row == row) & (ref.task == t)]["paper_value"]
            pv = float(p.iloc[0]) if len(p) else float("nan")
            m, s, n = mean_std(vals(row, t))
            paper_cells.append(f"{pv:.1f}")
            our_cells.append(fmt_ms(m, s, n))
            metrics[f"{row}/{t}/mean"], metrics[f"{row}/{t}/std"], metrics[f"{row}/{t}/n_seeds"] = m, s, n
            plot.append(
                {
                    "task": tasks[t],
                    "method": label,
                    "mean": m,
                    "std": s,
                    "paper": pv,
                    "chance": float(tidy[tidy.task == t]["chance"].mean()),
                }
            )
        md_rows.append([label] + paper_cells + our_cells + [remark])
    md_rows.append(
        ["chance level"] + ["" for _ in tasks] + [f"{tidy[tidy.task == t]['chance'].mean():.1f}" for t in tasks] + [""]
    )
    claims = []
    for t in tasks:
        for other in ("ae_kd", "ae_da", "ae"):
            if other in runs and "xkd" in runs:
                d, sp = diff_spread(vals("xkd", t), vals(other, t))
                claims.append(
                    Claim(
                        f"{TAB02_ROWS['xkd'][0]} beats {TAB02_ROWS[other][0]} on {tasks[t]}",
                        t,
                        d,
                        sp,
                    ).to_dict()
                )
    overall, counts = overall_verdict(claims)
    seeds = sorted(tidy.seed.unique().tolist())
    gains = [
        [TAB02_ROWS[r][0]] + ["{:+.1f} ± {:.1f}".format(*diff_spread(vals(r, t), vals("ae", t))) for t in tasks]
        for r in runs
        if r != "ae" and "ae" in runs
    ]
    md = [
        f"# XKD Table 2: effect of domain alignment (profile `{profile}`)",
        "",
        "Linear evaluation (top-1 %) of the video teachers. *(paper)* columns quote Sarkar & Etemad (2024), "
        "Table 2 (ViT-B, Kinetics-400, 800 epochs); *(ours)* columns are measured here, mean ± std over seeds "
        f"{seeds}; the last row is the chance level.",
        "",
        markdown_table(header, md_rows),
        "",
        "Gain over L_ae (measured, points ± SE over seeds):",
        "",
        markdown_table(["Loss"] + [tasks[t] for t in tasks], gains),
        "",
        *claims_block(
            "L_da and L_kd are complementary: together they beat each alone and the baseline", overall, counts, claims
        ),
    ]
    return finish_bar_table(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=claims,
        plot=plot,
        title=f"XKD Table 2 (profile {profile}): domain alignment",
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "runs": runs},
    )
