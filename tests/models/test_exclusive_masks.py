"""Mutually exclusive visible sets of MAViL's intra-modal contrast (Sec. 3.2)."""

import numpy as np
import pytest
import torch
from scipy import stats

from avlib.models.exclusive_masks import exclusive_keep_ids


@pytest.mark.parametrize("n,ratio,k", [(512, 0.8, 102), (784, 0.8, 157), (64, 0.5, 32), (48, 0.9, 5)])
def test_two_views_are_disjoint_with_exact_counts(n, ratio, k):
    """The paper's 512 audio / 784 video tokens at 80 %: 102 and 157 visible (+ CLS: its 103 and 158)."""
    ids = exclusive_keep_ids(64, n, ratio, 2, torch.Generator().manual_seed(0))
    assert [t.shape for t in ids] == [(64, k), (64, k)]
    for row in range(64):
        a, b = set(ids[0][row].tolist()), set(ids[1][row].tolist())
        assert len(a) == k and len(b) == k and not (a & b)
        assert max(a | b) < n and min(a | b) >= 0


def test_every_token_is_equally_likely_to_be_visible():
    n, trials = 20, 4000
    ids = exclusive_keep_ids(trials, n, 0.75, 2, torch.Generator().manual_seed(1))
    for view in ids:
        counts = np.bincount(view.flatten().numpy(), minlength=n)
        assert stats.chisquare(counts).pvalue > 1e-3  # uniform over the n positions
    pairs = np.zeros((n, n))  # and the two views are independent of the position's index
    for a, b in zip(ids[0][:, 0].tolist(), ids[1][:, 0].tolist()):
        pairs[a, b] += 1
    assert np.all(np.diag(pairs) == 0)


def test_seeded_and_bad_ratios_fail_clearly():
    a = exclusive_keep_ids(4, 30, 0.8, 2, torch.Generator().manual_seed(3))
    b = exclusive_keep_ids(4, 30, 0.8, 2, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="mask_ratio=0.3 is too low"):
        exclusive_keep_ids(2, 30, 0.3, 2)
    with pytest.raises(ValueError, match=r"mask_ratio must be in \[0, 1\)"):
        exclusive_keep_ids(2, 30, 1.0, 1)
