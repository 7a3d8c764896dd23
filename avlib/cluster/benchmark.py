"""``python -m avlib benchmark kmeans``: faiss k-means vs scikit-learn's on the same data.

Reports wall time and inertia of each and their ratios, per data set: a Gaussian mixture whose clusters
overlap (the regime of learned features), the same mixture well separated (where a single random
initialisation can stop in a poor optimum: the ``nredo`` row shows the remedy), and isotropic noise.
Both sides run ``niter`` Lloyd iterations from one initialisation (scikit-learn: greedy k-means++,
``n_init=1``); each timing is the median of ``repeats`` runs.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["benchmark_kmeans", "DATASETS"]

DATASETS = {
    "mixture_overlapping": {"cluster_std": 10.0},
    "mixture_separated": {"cluster_std": 4.0},
    "isotropic_noise": None,
}


def _data(name: str, n: int, d: int, k: int, seed: int) -> np.ndarray:
    if DATASETS[name] is None:
        return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    from sklearn.datasets import make_blobs

    x, _ = make_blobs(n, d, centers=k, center_box=(-10, 10), random_state=seed, **DATASETS[name])
    return x.astype(np.float32)


def _median_time(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def benchmark_kmeans(
    n: int = 20000, d: int = 128, k: int = 64, niter: int = 20, seed: int = 0, repeats: int = 3, gpu: bool | None = None
) -> list[dict]:
    """Rows: data, backend, seconds, inertia, time ratio (sklearn / faiss), inertia ratio (faiss / sklearn)."""
    from sklearn.cluster import KMeans

    from avlib.cluster.kmeans import gpu_available, kmeans

    on_gpu = gpu_available() if gpu is None else gpu
    rows = []
    for name in DATASETS:
        x = _data(name, n, d, k, seed)
        t_sk, km = _median_time(lambda x=x: KMeans(k, n_init=1, max_iter=niter, random_state=seed).fit(x), repeats)
        rows.append({"data": name, "backend": "scikit-learn", "seconds": t_sk, "inertia": float(km.inertia_)})
        for label, redo in (("faiss", 1), ("faiss nredo=3", 3)):
            t_f, (c, a) = _median_time(
                lambda x=x, redo=redo: kmeans(x, k, niter=niter, seed=seed, gpu=on_gpu, nredo=redo), repeats
            )
            inertia = float(((x.astype(np.float64) - c[a]) ** 2).sum())
            rows.append(
                {
                    "data": name,
                    "backend": f"{label} ({'GPU' if on_gpu else 'CPU'})",
                    "seconds": t_f,
                    "inertia": inertia,
                    "speedup_vs_sklearn": t_sk / t_f,
                    "inertia_vs_sklearn": inertia / float(km.inertia_),
                }
            )
    return rows
