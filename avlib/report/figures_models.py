"""Figures drawn from trained models: teacher distributions (XKD Fig. 2), reconstructions (Fig. 5,
Figs. S8-S12) and attention overlays (Fig. 3)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

COLOURS = {"video": "tab:blue", "audio": "tab:orange"}


def distributions_figure(data: pd.DataFrame, title: str = ""):
    """Left: mean sorted probability vs rank (log-log) per modality and run. Right: histogram of the
    per-clip entropies."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    curves = data[data["rank"] > 0]
    for (run, m), d in curves.groupby(["run", "modality"], sort=False):
        a1.loglog(d["rank"], d["mean_sorted_prob"], color=COLOURS[m], alpha=0.8, label=f"{m} teacher ({run})")
    k = int(curves["rank"].max())
    a1.axhline(1.0 / k, color="k", ls=":", lw=0.8, label=f"uniform (1/{k})")
    a1.set_xlabel("rank of the output dimension (sorted per clip)")
    a1.set_ylabel("mean probability")
    a1.legend(fontsize=7)
    a1.grid(alpha=0.3, which="both")
    hist = data[data["rank"] < 0]
    lo, hi = float(hist.entropy.min()), float(hist.entropy.max())
    bins = np.linspace(lo, hi + 1e-9, 40)
    for m, d in hist.groupby("modality", sort=False):
        a2.hist(d.entropy, bins=bins, alpha=0.55, color=COLOURS[m], label=f"{m} teacher (all runs)")
    a2.axvline(np.log(k), color="k", ls=":", lw=0.8, label="log K (uniform)")
    a2.set_xlabel("entropy of a clip's output distribution (nats)")
    a2.set_ylabel("clips")
    a2.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _spec_image(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), np.nan, x)


def reconstruction_figure(ex: dict, curves: pd.DataFrame, title: str = ""):
    """Per video mask ratio: masked input and reconstruction (middle frame of each example); per audio
    ratio: masked and reconstructed spectrograms; last column: error vs mask ratio."""
    from avlib.analysis.inputs import display_frames

    vr, ar = list(ex["video"]), list(ex["audio"])
    n = ex["frames"].shape[0]
    rows = max(len(vr), len(ar))
    fig, axes = plt.subplots(
        rows, 2 * n + 2 * n + 1, figsize=(1.5 * (4 * n + 1) + 1.5, 1.5 * rows + 0.6), squeeze=False
    )
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    tmid = ex["frames"].shape[1] // 2
    for i, r in enumerate(vr):
        rec = ex["video"][r]
        masked = display_frames(torch.from_numpy(np.nan_to_num(rec["masked"], nan=0.0)))
        holes = np.isnan(rec["masked"]).any(1)  # [B, T, H, W]
        masked[holes] = 0.5
        recon = display_frames(torch.from_numpy(rec["recon"]))
        for j in range(n):
            axes[i][2 * j].imshow(masked[j, tmid])
            axes[i][2 * j + 1].imshow(recon[j, tmid])
            if i == 0:
                axes[i][2 * j].set_title(f"video {j}: masked", fontsize=7)
                axes[i][2 * j + 1].set_title("reconstructed", fontsize=7)
        axes[i][0].set_ylabel(f"video {r:.0%}", fontsize=8)
    off = 2 * n
    for i, r in enumerate(ar):
        rec = ex["audio"][r]
        vmin, vmax = np.nanpercentile(rec["input"], [1, 99])
        for j in range(n):
            axes[i][off + 2 * j].imshow(
                _spec_image(rec["masked"][j, 0]), origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma"
            )
            axes[i][off + 2 * j + 1].imshow(
                rec["recon"][j, 0], origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma"
            )
            if i == 0:
                axes[i][off + 2 * j].set_title(f"audio {j}: masked", fontsize=7)
                axes[i][off + 2 * j + 1].set_title("reconstructed", fontsize=7)
        axes[i][off].set_ylabel(f"audio {r:.0%}", fontsize=8)
    gs = axes[0][-1].get_gridspec()
    for ax in axes[:, -1]:
        ax.remove()
    axc = fig.add_subplot(gs[:, -1])
    for m, d in curves.groupby("modality", sort=False):
        g = (
            d.groupby("mask_ratio")
            .agg(mean=("masked_error", "mean"), std=("masked_error", "std"), base=("zero_baseline", "mean"))
            .reset_index()
        )
        axc.errorbar(
            g.mask_ratio * 100, g["mean"], yerr=g["std"].fillna(0), marker="o", capsize=3, color=COLOURS[m], label=m
        )
        axc.plot(g.mask_ratio * 100, g.base, ls=":", color=COLOURS[m], label=f"{m}: all-zero baseline")
    axc.set_xlabel("mask ratio %", fontsize=8)
    axc.set_ylabel("masked-patch error", fontsize=8)
    axc.legend(fontsize=6, loc="lower left")
    axc.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _upsample(att: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(att, dtype=np.float32))[None, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def attention_figure(examples: dict, title: str = ""):
    """Rows: examples. Columns: frame, attention overlay with refine, without refine; spectrogram,
    overlay with refine, without refine. Video maps are averaged over the token grid's time axis."""
    n = examples["with"]["frames"].shape[0]
    fig, axes = plt.subplots(n, 6, figsize=(13, 2.1 * n + 0.5), squeeze=False)
    for j in range(n):
        frame = examples["with"]["frames"][j, examples["with"]["frames"].shape[1] // 2]
        spec = examples["with"]["spec"][j]
        axes[j][0].imshow(frame)
        axes[j][3].imshow(spec, origin="lower", aspect="auto", cmap="magma")
        for k, group in ((1, "with"), (2, "without")):
            av = examples[group]["att"]["video"][j].mean(0)  # [h, w] after averaging token time
            axes[j][k].imshow(frame)
            axes[j][k].imshow(_upsample(av / av.max(), frame.shape[:2]), cmap="jet", alpha=0.45, vmin=0, vmax=1)
            aa = examples[group]["att"]["audio"][j]
            axes[j][3 + k].imshow(spec, origin="lower", aspect="auto", cmap="gray")
            axes[j][3 + k].imshow(
                _upsample(aa / aa.max(), spec.shape),
                origin="lower",
                aspect="auto",
                cmap="jet",
                alpha=0.45,
                vmin=0,
                vmax=1,
            )
        for ax in axes[j]:
            ax.set_xticks([])
            ax.set_yticks([])
    for k, name in enumerate(
        [
            "frame",
            f"with refine ({examples['with']['run']})",
            f"without refine ({examples['without']['run']})",
            "log-mel spectrogram",
            "with refine",
            "without refine",
        ]
    ):
        axes[0][k].set_title(name, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
