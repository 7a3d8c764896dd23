"""Retrieval Recall@k against a brute-force NumPy loop over queries."""

import numpy as np
import pytest

from avlib.eval.retrieval import match_ranks, recall_at_k


def _brute(q, g, labels=None):
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    ranks = []
    for i in range(len(q)):
        sim = [float(qn[i] @ gn[j]) for j in range(len(g))]
        if labels is None:
            ranks.append(sum(1 for j in range(len(g)) if j != i and sim[j] >= sim[i]))
        else:
            rel = [labels[1][j] == labels[0][i] for j in range(len(g))]
            best = max(s for s, r in zip(sim, rel) if r)
            ranks.append(sum(1 for s, r in zip(sim, rel) if not r and s >= best))
    return np.array(ranks)


def test_paired_ranks_and_recalls_match_the_brute_force_loop():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 24))
    v = a + 1.5 * rng.standard_normal((300, 24))  # noisy pairs: ranks spread over the gallery
    ranks = match_ranks(a, v, chunk=64)
    want = _brute(a, v)
    np.testing.assert_array_equal(ranks, want)
    r = recall_at_k(a, v)
    for k in (1, 5, 10):
        assert r[f"R@{k}"] == pytest.approx(100 * np.mean(want < k))
    assert r["n"] == 300 and 0 < r["R@1"] < r["R@5"] < r["R@10"] < 100
    np.testing.assert_array_equal(match_ranks(v, a), _brute(v, a))


def test_ties_rank_pessimistically_and_labels_count_any_same_label_item():
    const = np.ones((10, 4))
    assert recall_at_k(const, const)["R@1"] == 0.0 and recall_at_k(const, const, ks=(10,))["R@10"] == 100.0
    rng = np.random.default_rng(1)
    q, g = rng.standard_normal((40, 8)), rng.standard_normal((60, 8))
    ql, gl = rng.integers(0, 5, 40), rng.integers(0, 5, 60)
    np.testing.assert_array_equal(match_ranks(q, g, (ql, gl)), _brute(q, g, (ql, gl)))
    with pytest.raises(ValueError, match="no gallery item with its label"):
        match_ranks(q, g, (ql, np.full(60, 9)))
    with pytest.raises(ValueError, match="as many queries"):
        match_ranks(q, g)
