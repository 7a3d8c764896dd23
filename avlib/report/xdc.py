"""XDC artifacts read from trained models: the cluster tables (XDC Tables 5/6) and the first-layer filters
(XDC Fig. 2), rendered from the measurements of :mod:`avlib.analysis.xdc`. The other XDC tables are evaluation tables (:func:`avlib.report.comparison.run_comparison_table`,
:func:`avlib.report.sota.run_sota_table`) driven by their params files."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from avlib.analysis.xdc import cluster_table, permuted_purity, temporal_variation, video_filters
from avlib.paths import resolve
from avlib.profiles import active_profile_name
from avlib.report.artifact import Result, claims_block, finish_artifact, overall_verdict
from avlib.report.claims import Claim
from avlib.report.tables import fmt_ms, markdown_table, mean_std, seed_of_run

__all__ = [
    "run_xdc_tab05_cluster_purity",
    "run_xdc_fig02_filters",
]


# --------------------------------------------------------------------------------------------- clusters
def _class_names(dataset: Path) -> list[str]:
    path = dataset / "classes.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the cluster tables name clusters by their classes")
    return pd.read_csv(path)["name"].astype(str).tolist()


def _round0(run_dir: Path, source: str) -> float:
    """Purity of the first round's clustering (random-initialisation features) from the run's log."""
    from avlib.log import read_jsonl

    recs = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("event") == "cluster" and r.get("round") == 0]
    if not recs or f"{source}/purity" not in recs[0]:
        raise KeyError(f"{run_dir}/metrics.jsonl: no round-0 purity for {source!r}")
    return float(recs[0][f"{source}/purity"])


def run_xdc_tab05_cluster_purity(
    *,
    artifact_id: str,
    title: str,
    caption: str,
    statement: str,
    runs: list,
    sources: dict,
    dataset: str = "cache/pretrain",
    top: int = 5,
    bottom: int = 2,
    n_concepts: int = 3,
    runs_dir: str = "work/xdc/runs",
    out_dir: str | None = None,
    root: str | None = None,
) -> Result:
    """XDC Tables 5 and 6: the top and bottom clusters of the last clustering of each modality, ranked by
    purity w.r.t. the pretraining set's classes, with their dominant classes; and, per seed run, the
    overall purity against two references: the same run's first clustering (random-initialisation
    features) and a size-matched random assignment.

    Args:
        runs: XDC runs (seeds); the cluster listing is the first run's, the purity claims use all.
        sources: clustering -> its label (``{audio: audio clusters (Table 5), video: ...}``).
    """
    t0 = time.time()
    rn_dir, out = resolve(runs_dir, root), resolve(out_dir or f"results/{artifact_id}", root)
    profile = active_profile_name(root)
    names = _class_names(resolve(dataset, root))
    from avlib.train.xdc_rounds import cluster_quality, load_clusters

    tidy, listing, metrics = [], {}, {}
    for i, run in enumerate(runs):
        c = load_clusters(rn_dir / run)
        if c["labels"] is None:
            raise ValueError(f"{run}: its pretraining cache has no labels to measure purity against")
        for src in sources:
            if src not in c["assign"]:
                raise KeyError(f"{run}: no {src!r} clustering saved (has {sorted(c['assign'])})")
            a = c["assign"][src]
            q = cluster_quality(a, c["labels"])
            tidy.append(
                {
                    "run": run,
                    "source": src,
                    "k_used": int(len(np.unique(a))),
                    "nmi": q["nmi"],
                    "purity": q["purity"],
                    "purity_round0": _round0(rn_dir / run, src),
                    "purity_permuted": permuted_purity(a, c["labels"]),
                }
            )
            if i == 0:
                listing[src] = cluster_table(a, c["labels"], names, n_concepts)
    tidy = pd.DataFrame(tidy)

    md = [f"# {title} (profile `{profile}`)", "", caption.strip(), ""]
    for src, label in sources.items():
        t = listing[src]
        shown = pd.concat([t.head(top), t.tail(bottom)]).drop_duplicates("rank")
        md += [
            f"**{label}** (run `{runs[0]}`, {len(t)} non-empty clusters; top {top} and bottom {bottom} by "
            f"purity; the {n_concepts} most frequent classes with their fraction of the cluster)",
            "",
            markdown_table(
                ["#", "size", "purity", "classes"],
                [[str(r.rank), str(r.size), f"{r.purity:.2f}", r.concepts] for r in shown.itertuples()],
            ),
            "",
        ]
    judged, summary = [], []
    for src, label in sources.items():
        d = tidy[tidy.source == src]
        for col, name in (
            ("purity", "last clustering"),
            ("purity_round0", "first clustering (random init)"),
            ("purity_permuted", "size-matched random assignment"),
        ):
            m, s, n = mean_std(100 * d[col])
            metrics[f"{src}/{col}/mean"], metrics[f"{src}/{col}/std"] = m, s
            summary.append([label, name, fmt_ms(m, s, n)])
        m, s, n = mean_std(d["nmi"])
        metrics[f"{src}/nmi/mean"] = m
        summary.append([label, "NMI of the last clustering", f"{m:.3f}" + (f" ± {s:.3f}" if n > 1 else "")])
        for worse, text in (
            ("purity_permuted", f"{label}: purer than a size-matched random assignment"),
            ("purity_round0", f"{label}: purer than the first clustering (random-init features)"),
        ):
            judged.append(
                Claim(
                    text, src, dict(enumerate(100 * d["purity"])), dict(enumerate(100 * d[worse])), paired=True
                ).to_dict()
            )
    overall, counts = overall_verdict(judged)
    md += [
        f"Overall purity (%) and NMI w.r.t. the {len(names)} pretraining classes, mean ± std over runs {runs}:",
        "",
        markdown_table(["clustering", "of", "value"], summary),
        "",
    ]
    md += claims_block(statement, overall, counts, judged)
    fig = _purity_figure(listing, sources, tidy, title=f"{title} (profile {profile})")
    fig_data = pd.concat([t.assign(source=s) for s, t in listing.items()], ignore_index=True)
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=judged,
        fig=fig,
        fig_data=fig_data,
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "runs": runs, "sources": sources},
    )


def _purity_figure(listing: dict, sources: dict, tidy: pd.DataFrame, title: str):
    fig, axes = plt.subplots(1, len(sources), figsize=(5.2 * len(sources), 3.4), squeeze=False)
    for ax, (src, label) in zip(axes[0], sources.items()):
        t = listing[src]
        ax.bar(t["rank"], t["purity"], color="tab:blue", width=0.9, label="cluster purity (last clustering)")
        d = tidy[tidy.source == src]
        ax.axhline(float(d.purity_permuted.mean()), color="tab:red", ls=":", label="size-matched random assignment")
        ax.axhline(
            float(d.purity_round0.mean()), color="tab:gray", ls="--", label="first clustering (random init), overall"
        )
        ax.axhline(float(d.purity.mean()), color="tab:blue", ls="-", lw=0.8, label="last clustering, overall")
        ax.set_title(label)
        ax.set_xlabel("cluster rank by purity")
        ax.set_ylabel("purity")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- filters
def _tile(filters: np.ndarray, n: int) -> np.ndarray:
    """``n`` filters (those with the largest norm) as one image: a row per filter, its T frames side by
    side, each filter scaled to [0, 1] on its own."""
    norms = np.linalg.norm(filters.reshape(len(filters), -1), axis=1)
    pick = np.argsort(-norms, kind="stable")[:n]
    rows = []
    for f in filters[pick]:
        lo, hi = f.min(), f.max()
        g = (f - lo) / (hi - lo + 1e-12)
        frames = [np.pad(t, ((1, 1), (1, 1), (0, 0)), constant_values=1.0) for t in g]
        rows.append(np.concatenate(frames, 1))
    return np.concatenate(rows, 0)


def run_xdc_fig02_filters(
    *,
    artifact_id: str,
    title: str,
    caption: str,
    statement: str,
    models: dict,
    better: str,
    worse: str,
    n_filters: int = 12,
    runs_dir: str = "work/xdc/runs",
    out_dir: str | None = None,
    root: str | None = None,
) -> Result:
    """XDC Fig. 2: first-layer video filters of XDC against supervised pretraining (and the random
    initialisation for reference), and the paper's observation as a measurable claim: XDC's filters vary
    more over time ("a more diverse set of motion filters"), by the mean :func:`temporal_variation` per run.

    Args:
        models: ``{key: {label, runs: [seed runs]}}``, drawn in this order (the first run of each).
        better, worse: the model keys of the claim.
    """
    t0 = time.time()
    rn_dir, out = resolve(runs_dir, root), resolve(out_dir or f"results/{artifact_id}", root)
    profile = active_profile_name(root)
    for side in (better, worse):
        if side not in models:
            raise ValueError(f"{artifact_id}: {side!r} is not a model ({list(models)})")
    tidy, tiles = [], {}
    for key, spec in models.items():
        for j, run in enumerate(spec["runs"]):
            f = video_filters(rn_dir / run)
            tv = temporal_variation(f)
            tidy.append(
                {
                    "model": key,
                    "run": run,
                    "n_filters": len(f),
                    "frames": f.shape[1],
                    "temporal_variation_mean": float(tv.mean()),
                    "temporal_variation_median": float(np.median(tv)),
                }
            )
            if j == 0:
                tiles[key] = (_tile(f, n_filters), tv)
    tidy = pd.DataFrame(tidy)

    def vals(key):
        sel = tidy[tidy.model == key]
        return {seed_of_run(r): v for r, v in zip(sel.run, sel.temporal_variation_mean)}

    judged = [
        Claim(
            f"{models[better]['label']}'s first-layer filters vary more over time than "
            f"{models[worse]['label']}'s (mean temporal variation)",
            "video",
            vals(better),
            vals(worse),
        ).to_dict()
    ]
    overall, counts = overall_verdict(judged)
    metrics, rows = {}, []
    for key, spec in models.items():
        m, s, n = mean_std(vals(key))
        metrics[f"{key}/temporal_variation/mean"], metrics[f"{key}/temporal_variation/std"] = m, s
        rows.append([spec["label"], ", ".join(spec["runs"]), f"{m:.3f}" + (f" ± {s:.3f}" if n > 1 else "")])
    frames = int(tidy.frames.iloc[0])
    md = [
        f"# {title} (profile `{profile}`)",
        "",
        caption.strip(),
        "",
        f"Temporal variation of a filter = ||w - mean over its {frames} frames|| / ||w|| (0: the same pattern "
        f"in every frame; {np.sqrt(1 - 1 / frames):.2f} expected for i.i.d. random weights). Mean over filters, "
        "then mean ± std over seed runs:",
        "",
        markdown_table(["model", "runs", "temporal variation"], rows),
        "",
    ]
    md += claims_block(statement, overall, counts, judged)
    fig = _filters_figure(tiles, models, title=f"{title} (profile {profile})")
    fig_data = pd.concat(
        [
            pd.DataFrame({"model": k, "filter": np.arange(len(tv)), "temporal_variation": tv})
            for k, (_, tv) in tiles.items()
        ],
        ignore_index=True,
    )
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=judged,
        fig=fig,
        fig_data=fig_data,
        profile=profile,
        started=t0,
        root=root,
        extra={"artifact": artifact_id, "models": models},
    )


def _filters_figure(tiles: dict, models: dict, title: str):
    n = len(tiles)
    fig, axes = plt.subplots(1, n + 1, figsize=(3.0 * n + 4.2, 6.0), gridspec_kw={"width_ratios": [1] * n + [1.6]})
    for ax, (key, (img, _)) in zip(axes[:n], tiles.items()):
        ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
        ax.set_title(f"{models[key]['label']}\n(rows: filters; columns: frames)", fontsize=8)
        ax.axis("off")
    ax = axes[n]
    for key, (_, tv) in tiles.items():
        ax.hist(tv, bins=20, range=(0, 1), alpha=0.5, label=models[key]["label"])
    ax.set_xlabel("temporal variation per filter")
    ax.set_ylabel("filters")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
