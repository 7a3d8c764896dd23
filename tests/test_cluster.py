"""faiss k-means: scikit-learn as the reference for quality, determinism on CPU, empty-cluster guard,
preprocessing against a NumPy re-derivation, clear errors."""

import numpy as np
import pytest

pytest.importorskip("faiss", reason="avlib.cluster needs faiss (pip install 'avlib[faiss]')")

from avlib.cluster import fill_empty_clusters, kmeans, preprocess  # noqa: E402


def _mixture(n=4000, d=16, k=8, std=1.5, seed=0):
    from sklearn.datasets import make_blobs

    return make_blobs(n, d, centers=k, cluster_std=std, center_box=(-3, 3), random_state=seed)[0].astype(np.float32)


def test_inertia_matches_sklearn_and_centroids_are_means():
    from sklearn.cluster import KMeans

    x = _mixture()
    c, a = kmeans(x, 8, niter=30, seed=0)
    inertia = ((x - c[a]) ** 2).sum()
    ref = min(KMeans(8, n_init=1, max_iter=30, random_state=s).fit(x).inertia_ for s in range(3))
    assert inertia <= 1.02 * ref
    # every point is assigned to its nearest centroid (exact, float64)
    d = ((x[:, None, :].astype(np.float64) - c[None].astype(np.float64)) ** 2).sum(-1)
    assert (d[np.arange(len(x)), a] <= d.min(1) + 1e-6).all()


def test_deterministic_for_a_seed_on_cpu():
    x = _mixture(seed=1)
    c1, a1 = kmeans(x, 8, seed=3, gpu=False)
    c2, a2 = kmeans(x, 8, seed=3, gpu=False)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(c1, c2)
    _, a3 = kmeans(x, 8, seed=4, gpu=False)
    assert a3.shape == a1.shape


def test_no_empty_cluster_with_duplicated_data(caplog):
    # 95 % of the points are one repeated vector: random initialisation puts several centroids on it and
    # faiss leaves some clusters empty; the guard re-seeds them
    rng = np.random.default_rng(0)
    x = np.concatenate([np.repeat(rng.normal(size=(1, 8)), 1900, 0), rng.normal(size=(100, 8)) * 5]).astype(np.float32)
    with caplog.at_level("INFO", logger="avlib.cluster.kmeans"):
        c, a = kmeans(x, 16, seed=0)
    assert "re-seeded" in caplog.text
    assert np.bincount(a, minlength=16).min() >= 1


def test_fill_empty_clusters_guard():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 8]).astype(np.float32)
    centroids = np.array([[0, 0], [8, 8], [100, 100], [-100, 50]], np.float32)  # two centroids nobody is near
    assign = ((x[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    assert np.bincount(assign, minlength=4).tolist()[2:] == [0, 0]
    c, a, n = fill_empty_clusters(x, centroids, assign)
    assert n >= 2 and np.bincount(a, minlength=4).min() >= 1
    with pytest.raises(ValueError, match="stay empty"):
        y = np.zeros((10, 2), np.float32)
        fill_empty_clusters(y, np.array([[0, 0], [5, 5]], np.float32), np.zeros(10, np.int64))


def test_preprocess_pca_whitening_and_l2():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3000, 12)) @ rng.normal(size=(12, 12))).astype(np.float32) + 3
    z = preprocess(x, pca_dim=5, whiten=True, l2norm=False)
    cov = np.cov(z.astype(np.float64), rowvar=False)
    np.testing.assert_allclose(cov, np.eye(5) * cov[0, 0], atol=0.05 * cov[0, 0])  # whitened: isotropic
    # the kept subspace is the top-5 principal subspace (NumPy eigendecomposition)
    xc = x.astype(np.float64) - x.mean(0)
    w, v = np.linalg.eigh(np.cov(xc, rowvar=False))
    top = v[:, np.argsort(w)[::-1][:5]]
    proj = xc @ top
    coef, res, *_ = np.linalg.lstsq(proj, z.astype(np.float64), rcond=None)
    assert np.abs(proj @ coef - z).max() < 1e-2 * np.abs(z).max()
    u = preprocess(x, pca_dim=5, l2norm=True)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-5)
    c, a = kmeans(x, 4, pca_dim=5, l2norm=True)
    assert c.shape == (4, 5)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"must be \[N, d\]"):
        kmeans(np.zeros(10), 2)
    with pytest.raises(ValueError, match="3 points cannot fill k=4"):
        kmeans(np.zeros((3, 2)), 4)
    x = np.ones((10, 2), np.float32)
    x[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite values in rows \[4\]"):
        kmeans(x, 2)
    from avlib.cluster import gpu_available

    if not gpu_available():
        with pytest.raises(RuntimeError, match="no GPU support"):
            kmeans(np.random.default_rng(0).normal(size=(50, 2)), 2, gpu=True)


def test_benchmark_command_prints_ratios(capsys):
    from avlib.cli import main

    assert main(["benchmark", "kmeans", "--n", "3000", "--d", "16", "--k", "8", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "speedup_vs_sklearn" in out and "inertia_vs_sklearn" in out and "mixture_overlapping" in out
