"""``python -m avlib benchmark kmeans``: faiss k-means (both initialisations) vs scikit-learn's on the same data.

What it measures, per data set: wall time and inertia (sum of squared distances to the assigned
centroid) of scikit-learn's ``KMeans`` (greedy k-means++, ``n_init=1``, ``max_iter=niter``, same seed)
and of :func:`avlib.cluster.kmeans` with ``init="random"`` (faiss's, the XDC default), ``init="random"``
with ``nredo=3`` and ``init="k-means++"``, all ``niter`` Lloyd iterations from one initialisation (three
for ``nredo=3``); ``speedup_vs_sklearn`` = sklearn seconds / faiss seconds, ``inertia_vs_sklearn`` = faiss
inertia / sklearn inertia (below 1: a better optimum than sklearn's). The data sets: a Gaussian mixture
whose clusters overlap (the regime of learned features), the same mixture well separated (where a
random initialisation stops in a poor optimum) and isotropic noise. Within each of ``repeats`` rounds
every method runs once, in turn (so a load change on a shared machine hits all of them alike), after an
untimed warm-up (imports, thread pools); times are medians over the rounds, the inertias those of the
last round (every method is deterministic on CPU).
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["benchmark_kmeans", "DATASETS", "METHODS"]

DATASETS = {
    "mixture_overlapping": {"cluster_std": 10.0},
    "mixture_separated": {"cluster_std": 4.0},
    "isotropic_noise": None,
}
# (backend label, kmeans() options)
METHODS = (
    ("faiss", {"init": "random"}),
    ("faiss nredo=3", {"init": "random", "nredo": 3}),
    ("faiss", {"init": "k-means++"}),
)


def _data(name: str, n: int, d: int, k: int, seed: int) -> np.ndarray:
    if DATASETS[name] is None:
        return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    from sklearn.datasets import make_blobs

    x, _ = make_blobs(n, d, centers=k, center_box=(-10, 10), random_state=seed, **DATASETS[name])
    return x.astype(np.float32)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def benchmark_kmeans(
    n: int = 20000, d: int = 128, k: int = 64, niter: int = 20, seed: int = 0, repeats: int = 3, gpu: bool | None = None
) -> list[dict]:
    """Rows: data, backend, init, seconds, inertia, speedup_vs_sklearn (sklearn seconds / faiss seconds),
    inertia_vs_sklearn (faiss inertia / sklearn inertia)."""
    from sklearn.cluster import KMeans

    from avlib.cluster.kmeans import gpu_available, kmeans

    on_gpu = gpu_available() if gpu is None else gpu
    device = "GPU" if on_gpu else "CPU"
    # warm-up, untimed: imports (torch for the k-means++ seeding), faiss's and BLAS's thread pools
    warm = np.random.default_rng(0).normal(size=(4 * k, d)).astype(np.float32)
    KMeans(k, n_init=1, max_iter=2, random_state=0).fit(warm)
    for _, opts in METHODS:
        kmeans(warm, k, niter=2, gpu=on_gpu, **opts)
    rows = []
    for name in DATASETS:
        x = _data(name, n, d, k, seed)
        x64 = x.astype(np.float64)
        times = {i: [] for i in range(-1, len(METHODS))}  # -1: scikit-learn
        inertia = {}
        for _ in range(max(int(repeats), 1)):
            t, km = _timed(lambda x=x: KMeans(k, init="k-means++", n_init=1, max_iter=niter, random_state=seed).fit(x))
            times[-1].append(t)
            inertia[-1] = float(km.inertia_)
            for i, (_, opts) in enumerate(METHODS):
                t, (c, a) = _timed(lambda x=x, opts=opts: kmeans(x, k, niter=niter, seed=seed, gpu=on_gpu, **opts))
                times[i].append(t)
                inertia[i] = float(((x64 - c[a]) ** 2).sum())
        t_sk = float(np.median(times[-1]))
        sk = {"backend": "scikit-learn (CPU)", "init": "k-means++", "seconds": t_sk, "inertia": inertia[-1]}
        rows.append({"data": name, **sk})
        for i, (label, opts) in enumerate(METHODS):
            t_f = float(np.median(times[i]))
            rows.append(
                {
                    "data": name,
                    "backend": f"{label} ({device})",
                    "init": opts["init"],
                    "seconds": t_f,
                    "inertia": inertia[i],
                    "speedup_vs_sklearn": t_sk / t_f,
                    "inertia_vs_sklearn": inertia[i] / inertia[-1],
                }
            )
    return rows
