"""k-means on faiss, the clustering step of XDC (and DeepCluster): GPU when present, CPU otherwise.

``kmeans(x, k)`` returns ``(centroids [k, d'], assignments [N])`` where ``d'`` is the dimension after the
optional preprocessing (PCA-whitening to ``pca_dim`` and L2 normalisation, DeepCluster's
``preprocess_features``). Clustering follows faiss's Lloyd iterations (``niter``, seeded random
initialisation, no subsampling of the points), then an explicit guard guarantees that no cluster is
empty: an empty centroid takes a point of the currently largest cluster (the one farthest from that
cluster's centroid) and the points are re-assigned, until every cluster has a member (faiss splits
empty clusters during training too, but DeepCluster's sampler crashed on empty clusters: deepcluster
issues #43 and #87). On CPU the result is identical for a fixed seed.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["kmeans", "preprocess", "fill_empty_clusters", "gpu_available"]


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
    verbose: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the rows of ``x`` into ``k`` clusters; returns ``(centroids [k, d'], assignments int64 [N])``.

    ``gpu``: None = every GPU faiss sees when there is one, else CPU; True = GPU or an error; False = CPU.
    ``pca_dim`` / ``whiten`` / ``l2norm``: optional preprocessing (:func:`preprocess`), applied before
    clustering; the centroids live in the preprocessed space. ``nredo``: independent initialisations, the
    lowest-inertia one is kept (single-initialisation Lloyd can stop in a poor optimum on well-separated
    data; see ``python -m avlib benchmark kmeans``)."""
    faiss = _faiss()
    x = _check(x, k)
    if pca_dim is not None or l2norm:
        x = preprocess(x, pca_dim, whiten, l2norm)
    use_gpu = gpu_available() if gpu is None else bool(gpu)
    if use_gpu and not gpu_available():
        raise RuntimeError("kmeans(gpu=True): this faiss has no GPU support or sees no GPU (install faiss-gpu)")
    n, d = x.shape
    clus = faiss.Clustering(d, int(k))
    clus.niter, clus.seed, clus.verbose, clus.nredo = int(niter), int(seed), verbose, int(nredo)
    clus.max_points_per_centroid = max(n // k + 1, 256)  # never subsample: every point counts
    clus.min_points_per_centroid = 1  # small k-means are legitimate here (no warning)
    if use_gpu:
        index = faiss.index_cpu_to_all_gpus(faiss.IndexFlatL2(d))
    else:
        index = faiss.IndexFlatL2(d)
    clus.train(x, index)
    centroids = faiss.vector_float_to_array(clus.centroids).reshape(int(k), d).astype(np.float32)
    assign, _ = _assign(x, centroids)
    centroids, assign, reseeds = fill_empty_clusters(x, centroids, assign)
    if reseeds:
        log.info("kmeans: re-seeded %d empty cluster(s) (k=%d, N=%d)", reseeds, k, n)
    return centroids, assign
