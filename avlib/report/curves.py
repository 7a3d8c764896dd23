"""XKD Supp. Fig. S3 (collapse and instability) and Fig. S4 (stable training curves), from the runs'
logged metrics."""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.analysis.curves import collapse_step, min_teacher_kl, read_metrics, tail_mean
from avlib.paths import resolve
from avlib.profiles import active_profile_name
from avlib.report.artifact import Result, claims_block, finish_artifact, overall_verdict
from avlib.report.claims import Claim
from avlib.report.tables import markdown_table, seed_of_run

SIGNALS = {"kl": ("min teacher KL (nats)", "min_teacher_kl"), "kd": ("L_kd", "loss_kd")}


def out_dim(run: str, rn_dir) -> int:
    """The projector output dimension K of a run (from its checkpointed config)."""
    from avlib import checkpoint

    state = checkpoint.load(rn_dir / run / "final.pt", map_location="cpu")
    return int(state["config"]["model"]["projector"]["out_dim"])


def _load_runs(runs: list, rn_dir) -> list[tuple[str, pd.DataFrame]]:
    """``(run, metrics)`` per run, with a ``min_teacher_kl`` column (the detector's signal)."""
    out = []
    for run in runs:
        df = read_metrics(rn_dir / run)
        df["min_teacher_kl"] = min_teacher_kl(df)
        out.append((run, df))
    return out


def run_xkd_figS03_collapse(
    *,
    configs: dict,
    default: str,
    kl_min: float = 1e-4,
    patience: int = 10,
    runs_dir: str = "runs/ablation",
    out_dir: str = "results/xkd_figS03_collapse",
    artifact_id: str = "xkd_figS03_collapse",
    root: str | None = None,
) -> Result:
    """Training curves of the distillation loss and the teachers' KL for configurations the paper reports
    as collapsing (``configs``: ``{key: {label, runs, signal: kl | kd}}``) and the ``default``.

    Claim per configuration: it collapses, i.e. its final ``signal`` (mean over the last 10 % of logged
    steps: the smallest teacher KL, or L_kd for 'no centering') is below the default's, paired by seed.
    The detector column says where the runner's collapse detector (``kl_min``, ``patience``) fires."""
    t0 = time.time()
    if default not in configs:
        raise ValueError(f"{artifact_id}: default {default!r} is not one of the configs {list(configs)}")
    rn_dir, out = resolve(runs_dir, root), resolve(out_dir, root)
    profile = active_profile_name(root)
    loaded = {k: _load_runs(c["runs"], rn_dir) for k, c in configs.items()}
    rows = []
    for key, runs in loaded.items():
        for run, df in runs:
            rows.append(
                {
                    "config": key,
                    "label": configs[key].get("label", key),
                    "run": run,
                    "final_min_teacher_kl": tail_mean(df, "min_teacher_kl"),
                    "final_loss_kd": tail_mean(df, "loss_kd"),
                    "final_loss_ae": tail_mean(df, "loss_ae"),
                    "collapse_step": collapse_step(df, kl_min, patience),
                    "steps": int(df.step.max()),
                }
            )
    tidy = pd.DataFrame(rows)
    claims = []
    for key, c in configs.items():
        if key == default:
            continue
        sig = SIGNALS[c.get("signal", "kl")][1]
        col = "final_min_teacher_kl" if sig == "min_teacher_kl" else "final_loss_kd"

        def side(k, col=col):
            sel = tidy[tidy.config == k]
            return {seed_of_run(r): float(v) for r, v in zip(sel.run, sel[col])}

        claims.append(
            Claim(
                f"{c.get('label', key)} collapses (final {SIGNALS[c.get('signal', 'kl')][0]} below the default's)",
                key,
                side(default),
                side(key),
            ).to_dict()
        )
    overall, counts = overall_verdict(claims)
    md = [
        f"# XKD Fig. S3: collapse and training instability (profile `{profile}`)",
        "",
        "Logged curves of the ablation-schedule runs; final values are means over the last 10 % of logged steps. "
        f"*detector*: the step at which the runner's collapse detector (smallest teacher KL < {kl_min:g} for "
        f"{patience} logging steps) fires; these runs log it without stopping (`train.stop_on_collapse: false`).",
        "",
        markdown_table(
            ["configuration", "run", "final min teacher KL", "final L_kd", "final L_ae", "detector"],
            [
                [
                    r.label,
                    r.run,
                    f"{r.final_min_teacher_kl:.3g}",
                    f"{r.final_loss_kd:.4g}",
                    f"{r.final_loss_ae:.4g}",
                    "—" if pd.isna(r.collapse_step) else f"step {int(r.collapse_step)}",
                ]
                for r in tidy.itertuples()
            ],
        ),
        "",
        *claims_block(
            "without projector norm, L_da, centering or L_ae, distillation collapses",
            overall,
            counts,
            claims,
            "measured diff (default - config)",
        ),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    curves = []
    for i, (key, runs) in enumerate(loaded.items()):
        for j, (run, df) in enumerate(runs):
            for ax, (_name, col) in zip(axes, [SIGNALS["kl"], SIGNALS["kd"]]):
                if col in df and df[col].notna().any():
                    ax.plot(
                        df.step,
                        df[col],
                        color=colours[i % len(colours)],
                        alpha=0.85,
                        lw=1.2,
                        ls="-" if j == 0 else "--",
                        label=configs[key].get("label", key) if j == 0 else None,
                    )
            cs = collapse_step(df, kl_min, patience)
            if cs is not None:
                axes[0].axvline(cs, color=colours[i % len(colours)], lw=0.8, ls=":")
            curves.append(
                df.assign(config=key, run=run)[
                    ["config", "run", "step", "min_teacher_kl"] + [c for c in ("loss_kd", "loss_ae") if c in df]
                ]
            )
    axes[0].set_yscale("log")
    axes[0].axhline(kl_min, color="k", lw=0.8, ls=":", label=f"detector threshold {kl_min:g}")
    for ax, (name, _) in zip(axes, [SIGNALS["kl"], SIGNALS["kd"]]):
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"XKD Fig. S3 (profile {profile}): collapse signals (solid: seed 0, dashed: seed 1; dotted "
        "verticals: detector)",
        fontsize=10,
    )
    fig.tight_layout()
    metrics = {f"{r.config}/{r.run}/final_min_teacher_kl": r.final_min_teacher_kl for r in tidy.itertuples()}
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=claims,
        fig=fig,
        fig_data=pd.concat(curves, ignore_index=True),
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "configs": configs},
    )


def run_xkd_figS04_training_curves(
    *,
    runs: list,
    kl_min: float = 1e-4,
    patience: int = 10,
    runs_dir: str = "runs",
    out_dir: str = "results/xkd_figS04_training_curves",
    artifact_id: str = "xkd_figS04_training_curves",
    root: str | None = None,
) -> Result:
    """Default XKD training curves (Supp. Fig. S4): every loss term, the teachers' KL and entropy, the LR
    and EMA schedules. Claims: the runs train stably (no collapse detected, L_ae falls)."""
    t0 = time.time()
    rn_dir, out = resolve(runs_dir, root), resolve(out_dir, root)
    profile = active_profile_name(root)
    loaded = _load_runs(runs, rn_dir)
    panels = [
        ("loss", "total loss"),
        ("loss_ae", "L_ae"),
        ("loss_kd", "L_kd"),
        ("loss_da", "L_da"),
        ("min_teacher_kl", "min teacher KL"),
        ("lr", "learning rate"),
        ("ema", "EMA coefficient"),
        ("teacher_entropy_video", "video teacher entropy"),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(14, 5.6))
    rows, falls, stable = [], [], []
    for run, df in loaded:
        for ax, (col, name) in zip(axes.ravel(), panels):
            if col in df:
                ax.plot(df.step, df[col], lw=1.0, label=run)
                ax.set_title(name, fontsize=9)
        n = max(1, len(df) // 10)
        start, end = float(df.loss_ae.iloc[:n].mean()), float(df.loss_ae.iloc[-n:].mean())
        falls.append(start - end)
        cs = collapse_step(df, kl_min, patience)
        stable.append(cs is None)
        rows.append(
            {
                "run": run,
                "steps": int(df.step.max()),
                "loss_ae_start": start,
                "loss_ae_end": end,
                "final_loss_kd": tail_mean(df, "loss_kd"),
                "final_min_teacher_kl": tail_mean(df, "min_teacher_kl"),
                "final_entropy_ratio": max(
                    tail_mean(df, "teacher_entropy_video"), tail_mean(df, "teacher_entropy_audio")
                )
                / np.log(out_dim(run, rn_dir)),
                "collapse_step": cs,
            }
        )
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
        ax.set_xlabel("step", fontsize=8)
    axes[1][0].set_yscale("log")
    axes[1][0].axhline(kl_min, color="k", lw=0.8, ls=":", label="detector threshold")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"XKD Fig. S4 (profile {profile}): training curves of the default XKD runs", fontsize=10)
    fig.tight_layout()
    tidy = pd.DataFrame(rows)
    claims = [
        Claim(
            "the masked-reconstruction loss L_ae falls during training (start - end)",
            "ae",
            dict(enumerate(falls)),
            dict.fromkeys(range(len(falls)), 0.0),
            paired=True,
        ).to_dict()
    ]
    md = [
        f"# XKD Fig. S4: stable training curves (profile `{profile}`)",
        "",
        f"Runs {list(runs)}; start/end are means over the first/last 10 % of logged steps. The collapse detector "
        f"(smallest teacher KL < {kl_min:g} for {patience} logging steps) "
        f"{'fires in no run' if all(stable) else 'fires in ' + str(sum(not s for s in stable)) + ' run(s)'}.",
        "",
        markdown_table(
            [
                "run",
                "steps",
                "L_ae start",
                "L_ae end",
                "final L_kd",
                "final min teacher KL",
                "final teacher entropy / log K",
                "detector",
            ],
            [
                [
                    r.run,
                    r.steps,
                    f"{r.loss_ae_start:.4f}",
                    f"{r.loss_ae_end:.4f}",
                    f"{r.final_loss_kd:.4f}",
                    f"{r.final_min_teacher_kl:.3g}",
                    f"{r.final_entropy_ratio:.4f}",
                    "—" if pd.isna(r.collapse_step) else f"step {int(r.collapse_step)}",
                ]
                for r in tidy.itertuples()
            ],
        ),
        "",
        "An entropy ratio near 1 means the teachers' (centred, sharpened) outputs are close to uniform: the "
        "distillation targets carry little information even though the detector (which looks for identical "
        "outputs across samples) does not fire.",
        "",
        *claims_block("XKD trains stably", *overall_verdict(claims), claims, "measured diff"),
    ]
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics={"collapse_free_runs": int(sum(stable))},
        claims=claims,
        fig=fig,
        fig_data=pd.concat([df.assign(run=run) for run, df in loaded], ignore_index=True),
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "runs": list(runs)},
    )
