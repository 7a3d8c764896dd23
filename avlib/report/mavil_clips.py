"""MAViL Table 11: one test clip against N uniformly spaced clips at inference, per fine-tuning setting.

Every fine-tuning result of :func:`avlib.finetune.mavil.finetune_mavil` holds the test metric twice, for the same
fine-tuned model: ``test`` (``test_clips`` windows averaged, the paper's 10) and ``test_1clip`` (one window, its 1: the first,
where the shared evaluation views put a single clip; the paper does not say which). The claim "more clips help" is therefore paired by seed (the same model scored two ways). The audio input
of the paper's A and A+V settings is the same 10 s recording in every clip, so its audio column cannot change; here
the audio windows do move with the clips, and the audio row is reported beside the others without a claim."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from avlib.paths import resolve
from avlib.profiles import active_profile_name
from avlib.report.artifact import Result, claims_block, finish_artifact, overall_verdict
from avlib.report.claims import Claim
from avlib.report.tables import by_seed, markdown_table, read_reference

__all__ = ["run_mavil_tab11_clips"]


def _load(ft_dir, run: str, task: str) -> dict:
    path = ft_dir / f"{run}_{task}.json"
    if not path.is_file():
        raise FileNotFoundError(f"missing fine-tuning result {path}: run `dvc repro` (its stage writes it)")
    return json.loads(path.read_text())


def run_mavil_tab11_clips(
    *,
    tasks: dict,
    runs: list,
    claim_tasks: list,
    statement: str,
    finetunes_dir: str = "work/mavil/finetunes",
    reference: str = "params/reference/mavil_tab11_clips.csv",
    out_dir: str = "results/mavil_tab11_clips",
    artifact_id: str = "mavil_tab11_clips",
    root: str | None = None,
) -> Result:
    """``tasks``: our fine-tuning task -> the paper's row (Audio / Video / Audio+Video); ``runs``: the fine-tuned
    runs (one per seed); ``claim_tasks``: the tasks whose N-clip score is claimed above the 1-clip one."""
    t0 = time.time()
    ft_dir, out = resolve(finetunes_dir, root), resolve(out_dir, root)
    profile = active_profile_name(root)
    ref = read_reference(resolve(reference, root), artifact_id)
    bad = [t for t in claim_tasks if t not in tasks]
    if bad:
        raise ValueError(f"{artifact_id}: claim_tasks {bad} are not among the tasks {list(tasks)}")
    recs = []
    for task in tasks:
        for run in runs:
            r = _load(ft_dir, run, task)
            for clips, key in ((1, "test_1clip"), (int(r["test_clips"]), "test")):
                recs.append(
                    {
                        "task": task,
                        "run": run,
                        "seed": int(r["seed"]),
                        "clips": "1" if clips == 1 else "N",
                        "n_clips": clips,
                        "value": float(r[key]),
                        "metric": r["metric"],
                    }
                )
    tidy = pd.DataFrame(recs)
    n_clips = sorted(set(tidy[tidy.clips == "N"].n_clips))
    judged = []
    for task in claim_tasks:
        cell = tidy[tidy.task == task]
        judged.append(
            Claim(
                f"{n_clips[0] if len(n_clips) == 1 else 'N'} test clips beat 1 on {tasks[task]}",
                task,
                by_seed(cell[cell.clips == "N"]),
                by_seed(cell[cell.clips == "1"]),
            ).to_dict()
        )
    overall, counts = overall_verdict(judged) if judged else ("n/a", {})
    table, metrics = [], {}
    for task, label in tasks.items():
        cells = [label]
        for ref_col in ("1", "10"):
            paper = ref[(ref.task == task) & (ref.row.astype(str) == ref_col)].paper_value
            cells.append(f"{float(paper.iloc[0]):.1f}" if len(paper) else "—")
        for clips in ("1", "N"):
            v = tidy[(tidy.task == task) & (tidy.clips == clips)].value
            cells.append(f"{v.mean():.1f} ± {v.std():.1f}" if len(v) > 1 else f"{v.mean():.1f}")
            metrics[f"{task}/{clips}/mean"] = float(v.mean())
        d = (
            tidy[(tidy.task == task) & (tidy.clips == "N")].set_index("seed").value
            - tidy[(tidy.task == task) & (tidy.clips == "1")].set_index("seed").value
        )
        cells.append(f"{d.mean():+.2f}")
        table.append(cells)
    metric = "/".join(sorted(set(tidy.metric)))
    md = [
        f"# MAViL Table 11: number of test clips at inference (profile `{profile}`)",
        "",
        f"The stage-2 student fine-tuned on each setting of the AudioSet role (runs {', '.join(runs)}), its test "
        f"{metric} with one clip (the first window) and with {', '.join(map(str, n_clips))} uniformly spaced clips averaged "
        "(the profile's `test_clips`), the same fine-tuned model scored both ways. *(paper)* columns quote Table 11 "
        "(AS-2M, 1 and 10 clips).",
        "",
        markdown_table(
            ["Setting", "1 clip (paper)", "10 clips (paper)", "1 clip (ours)", "N clips (ours)", "N - 1 (ours)"], table
        ),
        "",
    ]
    if judged:
        md += claims_block(statement, overall, counts, judged, "measured diff (points)")
    fig = _figure(tidy, tasks, profile)
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=judged,
        fig=fig,
        fig_data=tidy,
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "runs": list(runs), "tasks": tasks},
    )


def _figure(tidy: pd.DataFrame, tasks: dict, profile: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    x = np.arange(len(tasks))
    for i, clips in enumerate(("1", "N")):
        g = tidy[tidy.clips == clips].groupby("task").value.agg(["mean", "std"]).reindex(list(tasks))
        ax.bar(x + (i - 0.5) * 0.38, g["mean"], 0.38, yerr=g["std"].fillna(0), capsize=3, label=f"{clips} clip(s)")
    for task_i, task in enumerate(tasks):  # each seed's pair, joined
        cell = tidy[tidy.task == task].pivot(index="seed", columns="clips", values="value")
        for _, r in cell.iterrows():
            ax.plot([task_i - 0.19, task_i + 0.19], [r["1"], r["N"]], color="k", lw=0.7, alpha=0.6, marker=".")
    ax.set_xticks(x, list(tasks.values()))
    ax.set_ylabel("/".join(sorted(set(tidy.metric))) + " (%)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"MAViL: 1 vs N test clips (profile {profile})", fontsize=10)
    fig.tight_layout()
    return fig
