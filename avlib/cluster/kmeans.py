"""k-means on faiss, the clustering step of XDC (and DeepCluster): GPU when present, CPU otherwise.

``kmeans(x, k)`` returns ``(centroids [k, d'], assignments [N])`` where ``d'`` is the dimension after the
optional preprocessing (PCA-whitening to ``pca_dim`` and L2 normalisation, DeepCluster's
``preprocess_features``). Clustering follows faiss's Lloyd iterations (``niter``, no subsampling of the
points) from one of two seeded initialisations: ``init="random"`` (faiss's own: ``k`` distinct random
points, DeepCluster's choice and the default) or ``init="k-means++"`` (:func:`kmeans_plusplus`: greedy
D^2 seeding on a random subsample, then faiss's Lloyd iterations from those centroids). Random
initialisation stops in a poorer optimum, most on well-separated clusters (inertia 1.17-1.30x
scikit-learn's on the separated 20k x 128, k = 64 mixture of ``python -m avlib benchmark kmeans``, seeds
0-4; k-means++ here: 0.91-0.95x, as its 64 local trials rarely lose a cluster where scikit-learn's
2 + ln k do; 0.99-1.01x on the overlapping one). Then an explicit guard guarantees that no cluster is
empty: an empty centroid takes a point of the currently largest cluster (the one farthest from that
cluster's centroid) and the points are re-assigned, until every cluster has a member (faiss splits
empty clusters during training too, but DeepCluster's sampler crashed on empty clusters: deepcluster
issues #43 and #87). On CPU the result is identical for a fixed seed.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["kmeans", "kmeans_plusplus", "preprocess", "fill_empty_clusters", "gpu_available", "INITS"]

INITS = ("random", "k-means++")


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ImportError(
            "avlib.cluster needs faiss: pip install 'avlib[faiss]' (CPU) or 'avlib[faiss-gpu]' "
            "(GPU machines; never both)"
        ) from None
    return faiss


def gpu_available() -> bool:
    """True when the installed faiss was built with GPU support and sees at least one GPU."""
    faiss = _faiss()
    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


def _check(x, k: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"kmeans: x must be [N, d], got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"kmeans: x must be numeric, got {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(1))[:5].tolist()
        raise ValueError(f"kmeans: x has non-finite values in rows {bad}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"kmeans: k must be a positive integer, got {k!r}")
    if len(x) < k:
        raise ValueError(f"kmeans: {len(x)} points cannot fill k={k} clusters")
    return x


def preprocess(x: np.ndarray, pca_dim: int | None = None, whiten: bool = True, l2norm: bool = True) -> np.ndarray:
    """DeepCluster's feature preprocessing: PCA to ``pca_dim`` (whitened: eigenvalue power -0.5) and
    row-wise L2 normalisation. ``pca_dim=None`` skips the PCA."""
    faiss = _faiss()
    x = np.ascontiguousarray(x, dtype=np.float32)
    if pca_dim is not None:
        if not 0 < pca_dim <= x.shape[1]:
            raise ValueError(f"kmeans: pca_dim={pca_dim} must be in 1..{x.shape[1]}")
        pca = faiss.PCAMatrix(x.shape[1], int(pca_dim), -0.5 if whiten else 0.0)
        pca.train(x)
        x = pca.apply_py(x)
    if l2norm:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(x, dtype=np.float32)


def _assign(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (squared L2) of every point (faiss exact flat search)."""
    faiss = _faiss()
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    dist, lab = index.search(x, 1)
    return lab[:, 0].astype(np.int64), dist[:, 0].astype(np.float64)


def kmeans_plusplus(
    x: np.ndarray, k: int, *, seed: int = 0, n_local_trials: int = 64, sample: int | None = None
) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; the greedy variant of scikit-learn's
    ``kmeans_plusplus``): the first centroid is a uniformly drawn point; each next one is, of
    ``n_local_trials`` candidates drawn with probability proportional to the squared distance to the
    nearest centroid so far (D^2), the one that lowers the potential (sum of those distances) most.
    Returns ``k`` rows of ``x`` (float32, ``[k, d]``), a deterministic function of ``seed``.

    ``sample``: the seeding runs on that many points drawn without replacement (default ``max(2048,
    32 k)``, all points when there are fewer), so its cost, ``n_local_trials * sample * k * d``, stays a
    fraction of the Lloyd iterations' on the full data. ``n_local_trials``: scikit-learn uses
    ``2 + ln k`` (6 at k = 64); on a well-separated mixture (20k x 128, k = 64) that loses 2-6 clusters
    per seeding (inertia 5-11 % above the optimum), 16 trials about one, 64 trials none in 10 of 12
    seeds (faiss's own ``ClusteringInitMethod.KMEANS_PLUS_PLUS``, one trial on all points: 1.12-1.25x
    scikit-learn's inertia there), hence the default."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if not 1 <= k <= n:
        raise ValueError(f"kmeans_plusplus: k={k} must be in 1..{n}")
    if n_local_trials < 1:
        raise ValueError(f"kmeans_plusplus: n_local_trials={n_local_trials} must be >= 1")
    rng = np.random.default_rng(seed)
    m = min(n, max(2048, 32 * int(k)) if sample is None else max(int(sample), int(k)))
    xs = x[np.sort(rng.choice(n, m, replace=False))] if m < n else x
    return xs[_greedy_d2(xs, int(k), int(n_local_trials), rng)].copy()


def _greedy_d2(xs: np.ndarray, k: int, n_local_trials: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (into ``xs``) of the ``k`` greedy k-means++ seeds; the candidates are drawn with ``rng``.

    On torch (CPU): its threaded products leave no busy-waiting workers behind, whereas numpy's OpenBLAS
    threads spin ~0.1 s after the last product, taking the cores from faiss's Lloyd iterations (measured at
    20k x 128, k = 64 on 2 cores: seeding 27 ms on torch, 53 ms on numpy with one BLAS thread; with two,
    the first Lloyd iterations 3-20x slower)."""
    import torch

    m = len(xs)
    t = torch.from_numpy(np.ascontiguousarray(xs, dtype=np.float32))
    sq = (t * t).sum(1)
    xt = (-2.0 * t.T).contiguous()  # -2 x^T: the squared distances of all trials in one product
    chosen = np.empty(k, np.int64)
    chosen[0] = rng.integers(m)
    dist = (sq + sq[chosen[0]] + t[chosen[0]] @ xt).clamp_(min=0.0)  # squared distance to the nearest seed
    trials = torch.empty(n_local_trials, m)
    for i in range(1, k):
        cum = torch.cumsum(dist, 0, dtype=torch.float64)
        total = float(cum[-1])
        if total > 0:
            r = torch.from_numpy(rng.random(n_local_trials) * total)
            cand = torch.searchsorted(cum, r, right=True).clamp_(max=m - 1)
        else:  # every point coincides with a seed: any point (the empty-cluster guard handles the rest)
            cand = torch.from_numpy(rng.integers(m, size=n_local_trials))
        torch.matmul(t[cand], xt, out=trials)
        trials += sq
        trials += sq[cand][:, None]
        trials.clamp_(min=0.0)
        torch.minimum(trials, dist, out=trials)
        best = int(trials.sum(1).argmin())
        chosen[i], dist = int(cand[best]), trials[best].clone()
    return chosen


def fill_empty_clusters(
    x: np.ndarray, centroids: np.ndarray, assign: np.ndarray, max_rounds: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Give every empty cluster a member: its centroid moves onto the point of the largest (non-degenerate)
    cluster that is farthest from that cluster's centroid; points are then re-assigned. Returns (centroids, assignments,
    number of re-seeds). Raises if the data has fewer distinct points than clusters."""
    centroids = centroids.copy()
    k = len(centroids)
    reseeds = 0
    for _ in range(max_rounds or 4 * k):
        counts = np.bincount(assign, minlength=k)
        empty = np.flatnonzero(counts == 0)
        if len(empty) == 0:
            return centroids, assign, reseeds
        for j in empty:
            # the largest cluster whose members are not all one repeated point gives up its farthest member
            for big in np.argsort(-counts, kind="stable"):
                if counts[big] < 2:
                    break
                members = np.flatnonzero(assign == big)
                d = ((x[members].astype(np.float64) - centroids[big]) ** 2).sum(1)
                if d.max() > 0:
                    far = members[int(np.argmax(d))]
                    centroids[j] = x[far]
                    assign[far], counts[big], counts[j] = j, counts[big] - 1, 1
                    reseeds += 1
                    break
        assign, _ = _assign(x, centroids)
    counts = np.bincount(assign, minlength=k)
    if (counts == 0).any():
        n_distinct = len(np.unique(x, axis=0))
        raise ValueError(
            f"kmeans: {int((counts == 0).sum())} clusters stay empty ({n_distinct} distinct points for k={k})"
        )
    return centroids, assign, reseeds


def kmeans(
    x,
    k: int,
    *,
    niter: int = 20,
    seed: int = 0,
    gpu: bool | None = None,
    pca_dim: int | None = None,
    whiten: bool = True,
    l2norm: bool = False,
    nredo: int = 1,
    init: str = "random",
    verbose: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the rows of ``x`` into ``k`` clusters; returns ``(centroids [k, d'], assignments int64 [N])``.

    ``gpu``: None = every GPU faiss sees when there is one, else CPU; True = GPU or an error; False = CPU.
    ``pca_dim`` / ``whiten`` / ``l2norm``: optional preprocessing (:func:`preprocess`), applied before
    clustering; the centroids live in the preprocessed space. ``nredo``: independent initialisations, the
    lowest-inertia one is kept (single-initialisation Lloyd can stop in a poor optimum on well-separated
    data; see ``python -m avlib benchmark kmeans``). ``init``: ``"random"`` (faiss's seeded random points,
    the default) or ``"k-means++"`` (:func:`kmeans_plusplus` with seed ``seed`` for the first
    initialisation, ``seed + r`` for redo ``r``; Lloyd iterations as with ``"random"``)."""
    faiss = _faiss()
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"kmeans: init must be one of {', '.join(map(repr, INITS))}, got {init!r}")
    x = _check(x, k)
    if pca_dim is not None or l2norm:
        x = preprocess(x, pca_dim, whiten, l2norm)
    use_gpu = gpu_available() if gpu is None else bool(gpu)
    if use_gpu and not gpu_available():
        raise RuntimeError("kmeans(gpu=True): this faiss has no GPU support or sees no GPU (install faiss-gpu)")
    n, d = x.shape

    def lloyd(start: np.ndarray | None, redo: int) -> np.ndarray:
        clus = faiss.Clustering(d, int(k))
        clus.niter, clus.seed, clus.verbose, clus.nredo = int(niter), int(seed), verbose, int(redo)
        clus.max_points_per_centroid = max(n // k + 1, 256)  # never subsample: every point counts
        clus.min_points_per_centroid = 1  # small k-means are legitimate here (no warning)
        if start is not None:  # faiss starts from centroids already in clus.centroids (none are frozen)
            faiss.copy_array_to_vector(np.ascontiguousarray(start, dtype=np.float32).ravel(), clus.centroids)
        index = faiss.index_cpu_to_all_gpus(faiss.IndexFlatL2(d)) if use_gpu else faiss.IndexFlatL2(d)
        clus.train(x, index)
        return faiss.vector_float_to_array(clus.centroids).reshape(int(k), d).astype(np.float32)

    if init == "random":
        centroids = lloyd(None, int(nredo))
        assign, _ = _assign(x, centroids)
    else:  # faiss's nredo would restart every redo from the previous one's centroids: redo here instead
        best = None
        for r in range(max(int(nredo), 1)):
            c = lloyd(kmeans_plusplus(x, int(k), seed=int(seed) + r), 1)
            a, dist = _assign(x, c)
            if best is None or dist.sum() < best[0]:
                best = (dist.sum(), c, a)
        _, centroids, assign = best
    centroids, assign, reseeds = fill_empty_clusters(x, centroids, assign)
    if reseeds:
        log.info("kmeans: re-seeded %d empty cluster(s) (k=%d, N=%d)", reseeds, k, n)
    return centroids, assign
