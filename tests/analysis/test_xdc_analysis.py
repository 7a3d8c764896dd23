"""XDC analyses (avlib.analysis.xdc): cluster purity tables and the temporal variation of filters, against
hand-computed values and closed forms."""

import numpy as np
import pytest

from avlib.analysis.xdc import cluster_table, permuted_purity, temporal_variation


def test_cluster_table_ranks_by_purity_with_concepts():
    assign = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    labels = np.array([1, 1, 1, 0, 2, 0, 0, 0, 0])
    df = cluster_table(assign, labels, ["a", "b", "c"], n_concepts=2)
    assert df.cluster.tolist() == [2, 0, 1]  # purity 1.0, 0.75, 0.5
    assert df.purity.tolist() == pytest.approx([1.0, 0.75, 0.5]) and df["rank"].tolist() == [1, 2, 3]
    assert df.loc[1, "concepts"] == "b(0.75), a(0.25)" and df.loc[0, "concepts"] == "a(1.00)"
    assert df["size"].tolist() == [3, 4, 2]
    with pytest.raises(ValueError, match="assignments"):
        cluster_table(assign[:-1], labels, ["a", "b", "c"])


def test_permuted_purity_is_the_chance_level_of_a_perfect_clustering():
    labels = np.repeat(np.arange(4), 50)
    assert permuted_purity(labels, labels, n=20) < 0.45  # a perfect clustering has purity 1; chance ~0.3


def test_temporal_variation_closed_forms():
    rng = np.random.default_rng(0)
    const = np.repeat(rng.normal(size=(5, 1, 4, 4, 3)), 4, axis=1)  # constant over T = 4
    assert temporal_variation(const) == pytest.approx(np.zeros(5), abs=1e-12)
    iid = rng.normal(size=(2000, 4, 8, 8, 3))
    assert temporal_variation(iid).mean() == pytest.approx(np.sqrt(1 - 1 / 4), rel=0.01)
