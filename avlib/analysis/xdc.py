"""Inspecting trained XDC models: the clusters they learned (XDC Tables 5/6) and their first-layer video
filters (XDC Fig. 2). NumPy in, NumPy/pandas out; drawing is in :mod:`avlib.report.xdc`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from avlib import checkpoint

__all__ = ["cluster_table", "permuted_purity", "video_filters", "temporal_variation"]


def cluster_table(assign: np.ndarray, labels: np.ndarray, class_names: list[str], n_concepts: int = 3) -> pd.DataFrame:
    """One row per non-empty cluster, ranked by purity (fraction of the cluster in its majority class), as
    XDC Tables 5/6: ``rank, cluster, size, purity`` and the ``n_concepts`` most frequent classes with their
    fractions of the cluster (``concepts``: ``"name(0.42), ..."``). Ties keep the larger cluster first."""
    if len(assign) != len(labels):
        raise ValueError(f"cluster_table: {len(assign)} assignments vs {len(labels)} labels")
    rows = []
    for c in np.unique(assign):
        lab = labels[assign == c]
        counts = np.bincount(lab, minlength=len(class_names))
        order = np.argsort(-counts, kind="stable")[:n_concepts]
        frac = counts / len(lab)
        rows.append(
            {
                "cluster": int(c),
                "size": int(len(lab)),
                "purity": float(frac.max()),
                "concepts": ", ".join(f"{class_names[i]}({frac[i]:.2f})" for i in order if counts[i] > 0),
            }
        )
    df = pd.DataFrame(rows).sort_values(["purity", "size"], ascending=[False, False], kind="stable")
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df.reset_index(drop=True)


def permuted_purity(assign: np.ndarray, labels: np.ndarray, n: int = 20, seed: int = 0) -> float:
    """Mean overall purity of the same cluster sizes with the labels shuffled: the purity a clustering
    that knows nothing about the classes would reach (small clusters are pure by chance)."""
    from avlib.train.xdc_rounds import cluster_quality

    rng = np.random.default_rng(seed)
    return float(np.mean([cluster_quality(assign, rng.permutation(labels))["purity"] for _ in range(n)]))


def video_filters(run_dir: str | Path) -> np.ndarray:
    """The first layer of a run's video encoder as ``[n_filters, T, H, W, 3]``: the patch embedding of the
    ViT (``(pt ph pw c)`` flatten, :class:`avlib.models.VideoTokenizer`) or the R(2+1)D-18 stem's spatial
    convolution (``[45, 3, 1, 7, 7]``, T = 1)."""
    state = checkpoint.load(Path(run_dir) / "final.pt", map_location="cpu")
    sd, cfg = state["model"], state["config"]
    key = "encoders.video.tokenizer.proj.weight"
    if key in sd:
        pt, ph, pw = cfg["model"]["video_patch"]
        w = sd[key].float().numpy()
        return w.reshape(w.shape[0], pt, ph, pw, -1)
    conv = [k for k, v in sd.items() if k.startswith("encoders.video.") and v.ndim == 5]
    if not conv:
        raise KeyError(f"{run_dir}/final.pt: no first video layer (expected {key} or a Conv3d weight)")
    w = sd[conv[0]].float().numpy()  # [out, in, t, h, w]
    return np.transpose(w, (0, 2, 3, 4, 1))


def temporal_variation(filters: np.ndarray) -> np.ndarray:
    """Per filter: the share of its energy that changes over time, ``||w - mean_t w|| / ||w||`` (0 for a
    filter constant in time; sqrt(1 - 1/T) expected for i.i.d. random weights)."""
    f = filters.reshape(filters.shape[0], filters.shape[1], -1)
    dev = f - f.mean(1, keepdims=True)
    return np.linalg.norm(dev.reshape(len(f), -1), axis=1) / np.maximum(
        np.linalg.norm(f.reshape(len(f), -1), axis=1), 1e-12
    )
