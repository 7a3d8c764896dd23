"""XKD figures read from trained models rather than from evaluation files: Fig. 2 (teacher output
distributions), Fig. 3 (attention with and without refine) and Fig. 5 / Figs. S8-S12 (reconstructions).

Each runner loads the listed runs, measures, writes the DESIGN section 6 files (``fig.png``,
``fig_data.csv``, ``table.md``, ``table.csv``, ``metrics.json`` with claims, ``provenance.json``) and
returns a :class:`avlib.report.artifact.Result`."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.paths import resolve
from avlib.profiles import active_profile_name
from avlib.report.artifact import Result, claims_block, finish_artifact, overall_verdict
from avlib.report.claims import Claim
from avlib.report.figures_models import attention_figure, distributions_figure
from avlib.report.reconstruction_page import reconstruction_artifact
from avlib.report.tables import markdown_table


def _load(runs_dir: Path, run: str):
    from avlib.eval.protocol import load_pretrained

    path = runs_dir / run
    if not (path / "final.pt").is_file():
        raise FileNotFoundError(f"missing {path}/final.pt: run its pretrain stage first (`dvc repro`)")
    return load_pretrained(path)


def run_xkd_fig02_distributions(
    *,
    runs: list,
    dataset: str = "cache/k400",
    split: str = "test",
    n_clips: int = 128,
    common_tau: float = 0.1,
    runs_dir: str = "runs",
    out_dir: str = "results/xkd_fig02_distributions",
    artifact_id: str = "xkd_fig02_distributions",
    root: str | None = None,
) -> Result:
    """XKD Fig. 2: sharpness of the audio vs video teachers' output distributions on paired clips.

    Claim (paper, Sec. 4.3): the audio distribution is sharper than the video one. Judged on the
    per-run difference of mean entropies (video - audio) at ``common_tau`` (one temperature for both, so
    the trained temperatures do not decide it), paired over the seed runs."""
    from avlib.analysis.distributions import teacher_sharpness
    from avlib.analysis.inputs import paired_clips

    t0 = time.time()
    rn_dir, out = resolve(runs_dir, root), resolve(out_dir, root)
    profile = active_profile_name(root)
    rows, curves, ent = [], [], {"common": {"video": [], "audio": []}, "trained": {"video": [], "audio": []}}
    for run in runs:
        cfg, model, logmel = _load(rn_dir, run)
        b = paired_clips(cfg, logmel, resolve(dataset, root), split=split, n=n_clips, seed=0)
        s = teacher_sharpness(model, b["video"], b["audio"], common_tau=common_tau)
        k = len(s["video"]["common"]["rank_curve"])
        for m in ("video", "audio"):
            for which in ("trained", "common"):
                st = s[m][which]
                tau = s[m]["tau"] if which == "trained" else common_tau
                ent[which][m].append(float(st["entropy"].mean()))
                rows.append(
                    {
                        "run": run,
                        "seed": cfg.train.seed,
                        "modality": m,
                        "temperature": which,
                        "tau": tau,
                        "entropy_mean": float(st["entropy"].mean()),
                        "entropy_std": float(st["entropy"].std()),
                        "max_prob_mean": float(st["max_prob"].mean()),
                        "log_k": float(np.log(k)),
                    }
                )
            curves.append(
                pd.DataFrame(
                    {
                        "run": run,
                        "modality": m,
                        "rank": np.arange(1, k + 1),
                        "mean_sorted_prob": s[m]["common"]["rank_curve"],
                    }
                )
            )
            hist = s[m]["common"]["entropy"]
            curves.append(pd.DataFrame({"run": run, "modality": m, "rank": -1, "entropy": hist}))
    tidy = pd.DataFrame(rows)
    fig_data = pd.concat(curves, ignore_index=True)
    claims = [
        Claim(
            f"the audio teacher's distribution is sharper (lower entropy) than the video teacher's, "
            f"at a common tau {common_tau}",
            "common",
            dict(enumerate(ent["common"]["video"])),
            dict(enumerate(ent["common"]["audio"])),
            paired=True,
        ).to_dict()
    ]
    overall, counts = overall_verdict(claims)
    summary = (
        tidy.groupby(["temperature", "modality"])
        .agg(
            tau=("tau", "first"),
            entropy=("entropy_mean", "mean"),
            entropy_sd=("entropy_mean", "std"),
            max_prob=("max_prob_mean", "mean"),
            log_k=("log_k", "first"),
        )
        .reset_index()
    )
    md = [
        f"# XKD Fig. 2: sharpness of the audio and video teachers' outputs (profile `{profile}`)",
        "",
        f"Teacher projector outputs of {n_clips} paired `{dataset}` {split} clips (refined as in training, "
        "centred by the training centre), softmax at each teacher's trained final temperature and at one "
        f"common temperature ({common_tau}). Entropy in nats (uniform = log K); mean over runs {list(runs)}. "
        "The paper shows this as a figure only (no numbers).",
        "",
        markdown_table(
            ["temperature", "modality", "tau", "mean entropy (nats)", "sd over runs", "mean max prob", "log K"],
            [
                [
                    r.temperature,
                    r.modality,
                    f"{r.tau:g}",
                    f"{r.entropy:.4f}",
                    f"{r.entropy_sd:.4f}" if np.isfinite(r.entropy_sd) else "n/a",
                    f"{r.max_prob:.5f}",
                    f"{r.log_k:.3f}",
                ]
                for r in summary.itertuples()
            ],
        ),
        "",
        *claims_block(
            "audio has a sharper distribution than video",
            overall,
            counts,
            claims,
            "measured diff (H_video - H_audio, nats)",
        ),
    ]
    metrics = {f"{r.temperature}/{r.modality}/entropy": r.entropy for r in summary.itertuples()}
    fig = distributions_figure(
        fig_data, title=f"XKD Fig. 2 (profile {profile}): teacher output distributions, tau = {common_tau} for both"
    )
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=claims,
        fig=fig,
        fig_data=fig_data,
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "runs": list(runs), "dataset": dataset, "n_clips": n_clips},
    )


def run_xkd_fig05_reconstructions(
    *,
    runs: list,
    dataset: str = "cache/k400",
    split: str = "test",
    video_ratios: list = (0.6, 0.7, 0.8, 0.9),
    audio_ratios: list = (0.5, 0.6, 0.7, 0.8),
    show_video_ratio: float = 0.8,
    show_audio_ratio: float = 0.7,
    n_clips: int = 32,
    n_examples: int = 2,
    runs_dir: str = "runs",
    out_dir: str = "results/xkd_fig05_reconstructions",
    artifact_id: str = "xkd_fig05_reconstructions",
    root: str | None = None,
) -> Result:
    """XKD Fig. 5 and Supp. Figs. S8-S12: reconstructions of heavily masked video and audio at varied
    mask ratios, and the masked-patch error (standardised targets; predicting each patch's mean = 1.0).

    Claim (paper, Sec. 4.11): XKD "retains its reconstruction ability even when a very high masking
    ratio is applied": judged as 1 - error > 0 at the highlighted ratios (80 % video, 70 % audio)."""
    from avlib.analysis.inputs import display_frames, paired_clips
    from avlib.analysis.reconstruction import masked_error_curve, reconstruct

    t0 = time.time()
    rn_dir, out = resolve(runs_dir, root), resolve(out_dir, root)
    profile = active_profile_name(root)
    rows, examples = [], None
    for i, run in enumerate(runs):
        cfg, model, logmel = _load(rn_dir, run)
        b = paired_clips(cfg, logmel, resolve(dataset, root), split=split, n=n_clips, seed=0)
        for modality, ratios, x in (("video", video_ratios, b["video"]), ("audio", audio_ratios, b["audio"])):
            errs, base = masked_error_curve(model, modality, x, ratios)
            rows += [
                {
                    "run": run,
                    "seed": cfg.train.seed,
                    "modality": modality,
                    "mask_ratio": float(r),
                    "masked_error": float(e),
                    "zero_baseline": float(z),
                }
                for r, e, z in zip(ratios, errs, base)
            ]
        if i == 0:  # pictures from the first run
            examples = {
                "frames": display_frames(b["video"][:n_examples]),
                "video": {r: reconstruct(model, "video", b["video"][:n_examples], r) for r in video_ratios},
                "audio": {r: reconstruct(model, "audio", b["audio"][:n_examples], r) for r in audio_ratios},
                "run": run,
            }
    tidy = pd.DataFrame(rows)
    return reconstruction_artifact(
        tidy=tidy,
        examples=examples,
        show={"video": show_video_ratio, "audio": show_audio_ratio},
        claim_text="{modality} reconstruction at {ratio:.0%} masking beats predicting each patch's "
        "mean (error below the all-zero baseline)",
        header=f"# XKD Fig. 5 / Figs. S8-S12: reconstruction from masked inputs (profile `{profile}`)",
        lead=f"Student encoder + decoder of runs {list(runs)} on {n_clips} `{dataset}` {split} clips; masked-patch "
        "MSE on per-patch standardised targets (the training loss), mean over 3 mask draws, mean ± sd over runs; "
        "the baseline is the same loss of an all-zero prediction (each patch's mean) on the same patches. "
        "Pictures: the first run; reconstructions are de-standardised with the true patch statistics (MAE's "
        "visualisation), visible patches pasted back.",
        statement="XKD retains its reconstruction ability at very high mask ratios",
        figure_title=f"XKD reconstructions (profile {profile}, run {examples['run']})",
        out=out,
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "runs": list(runs), "dataset": dataset},
        artifact_id=artifact_id,
    )


def run_xkd_fig03_refine_attention(
    *,
    with_refine: list,
    without_refine: list,
    dataset: str = "cache/k400",
    split: str = "test",
    n_clips: int = 64,
    n_examples: int = 3,
    runs_dir: str = "runs/ablation",
    out_dir: str = "results/xkd_fig03_refine_attention",
    artifact_id: str = "xkd_fig03_refine_attention",
    root: str | None = None,
) -> Result:
    """XKD Fig. 3: last-layer CLS attention of the teachers of runs trained with and without refine,
    overlaid on frames and spectrograms, and how concentrated it is (normalised entropy, 1 = uniform).

    The paper's reading of its figure ("refine identifies the most transferable and key features") is
    operationalised as: the video teacher trained with refine attends more selectively (lower
    normalised entropy) than the one trained without; paired by seed."""
    from avlib.analysis.attention import normalised_entropy, teacher_attention
    from avlib.analysis.inputs import display_frames, paired_clips

    t0 = time.time()
    if len(with_refine) != len(without_refine):
        raise ValueError(f"{artifact_id}: with_refine and without_refine must pair up by seed")
    rn_dir, out = resolve(runs_dir, root), resolve(out_dir, root)
    profile = active_profile_name(root)
    rows, ent, examples = [], {"with": {"video": [], "audio": []}, "without": {"video": [], "audio": []}}, {}
    for group, runs in (("with", with_refine), ("without", without_refine)):
        for i, run in enumerate(runs):
            cfg, model, logmel = _load(rn_dir, run)
            b = paired_clips(cfg, logmel, resolve(dataset, root), split=split, n=n_clips, seed=0)
            att = teacher_attention(model, b["video"], b["audio"])
            for m in ("video", "audio"):
                h = normalised_entropy(att[m]["cls"])
                ent[group][m].append(float(h.mean()))
                rows.append(
                    {
                        "run": run,
                        "seed": cfg.train.seed,
                        "refine": group,
                        "modality": m,
                        "cls_entropy_norm": float(h.mean()),
                        "cls_entropy_norm_sd": float(h.std()),
                    }
                )
            if i == 0:
                examples[group] = {
                    "run": run,
                    "att": {m: att[m]["cls"][:n_examples] for m in att},
                    "frames": display_frames(b["video"][:n_examples]),
                    "spec": b["audio"][:n_examples, 0].numpy(),
                }
    tidy = pd.DataFrame(rows)
    claims = []
    for m in ("video", "audio"):
        claims.append(
            Claim(
                f"with refine the {m} teacher's last-layer attention is more selective (lower normalised entropy)",
                m,
                dict(enumerate(ent["without"][m])),
                dict(enumerate(ent["with"][m])),
                paired=True,
            ).to_dict()
        )
    overall, counts = overall_verdict(claims)
    piv = tidy.groupby(["modality", "refine"]).cls_entropy_norm.agg(["mean", "std"]).reset_index()
    md = [
        f"# XKD Fig. 3: last-layer attention with and without refine (profile `{profile}`)",
        "",
        f"CLS attention of the teachers (last block, mean over heads) on {n_clips} `{dataset}` {split} clips, "
        f"runs {list(with_refine)} (trained with refine) vs {list(without_refine)} (without); normalised "
        "entropy 1 = uniform over tokens. The paper shows this qualitatively only.",
        "",
        markdown_table(
            ["modality", "refine", "normalised entropy"],
            [
                [r.modality, r.refine, f"{r.mean:.4f} ± {r.std:.4f}" if np.isfinite(r.std) else f"{r.mean:.4f}"]
                for r in piv.itertuples()
            ],
        ),
        "",
        *claims_block(
            "refine identifies the most transferable, key features",
            overall,
            counts,
            claims,
            "measured diff (entropy without - with)",
        ),
    ]
    metrics = {f"{r.modality}/{r.refine}/entropy": r.mean for r in piv.itertuples()}
    fig = attention_figure(examples, title=f"XKD Fig. 3 (profile {profile}): teacher attention, with vs without refine")
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=claims,
        fig=fig,
        fig_data=tidy,
        profile=profile,
        started=t0,
        root=root,
        extra={
            "artifact": artifact_id,
            "with_refine": list(with_refine),
            "without_refine": list(without_refine),
            "dataset": dataset,
        },
    )
