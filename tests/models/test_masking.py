import pytest
import torch

from avlib.models.masking import gather_tokens, masking_from_keep, num_kept, random_masking, tube_masking


@pytest.mark.parametrize(
    "n,ratio,rounding,k",
    [
        (392, 0.85, "round", 59),
        (392, 0.85, "int", 58),
        (560, 0.80, "round", 112),
        (560, 0.80, "int", 111),
        (64, 0.75, "round", 16),
        (64, 0.75, "int", 16),
    ],
)
def test_kept_count(n, ratio, rounding, k):
    assert num_kept(n, ratio, rounding) == k
    x = torch.randn(4, n, 3)
    x_kept, mask, ids_restore, ids_keep = random_masking(x, ratio, rounding=rounding)
    assert x_kept.shape == (4, k, 3) and ids_keep.shape == (4, k) and ids_restore.shape == (4, n)
    assert mask.dtype == x.dtype
    assert (mask.sum(1) == n - k).all()  # every sample keeps the same count


def test_default_rounding_is_xkd_round():
    _, mask, _, _ = random_masking(torch.randn(2, 392, 1), 0.85)
    assert (mask.sum(1) == 392 - 59).all()


def test_ids_restore_inverts_shuffle():
    g = torch.Generator().manual_seed(0)
    B, N, D = 3, 20, 5
    x = torch.randn(B, N, D)
    x_kept, mask, ids_restore, ids_keep = random_masking(x, 0.6, generator=g)
    K = x_kept.shape[1]
    # ids_restore is a permutation; kept tokens are x at ids_keep; mask is 0 exactly at ids_keep
    assert torch.equal(ids_restore.sort(1).values, torch.arange(N).expand(B, N))
    for b in range(B):
        assert torch.equal(x_kept[b], x[b, ids_keep[b]])
        expected = torch.ones(N)
        expected[ids_keep[b]] = 0
        assert torch.equal(mask[b], expected)
    # decoder-style unshuffle: [kept, mask tokens] gathered with ids_restore puts kept tokens back in place
    seq = torch.cat([x_kept, torch.zeros(B, N - K, D)], dim=1)
    unshuffled = torch.gather(seq, 1, ids_restore[..., None].expand(-1, -1, D))
    keep = mask == 0
    assert torch.equal(unshuffled[keep], x[keep])
    assert (unshuffled[~keep] == 0).all()


def test_determinism_under_generator():
    x = torch.randn(4, 50, 2)
    a = random_masking(x, 0.75, generator=torch.Generator().manual_seed(7))
    b = random_masking(x, 0.75, generator=torch.Generator().manual_seed(7))
    c = random_masking(x, 0.75, generator=torch.Generator().manual_seed(8))
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert not torch.equal(a[1], c[1])
    assert not torch.equal(a[1][0], a[1][1])  # per-sample masks differ


def test_bad_arguments():
    x = torch.randn(2, 10, 3)
    with pytest.raises(ValueError, match="ratio"):
        random_masking(x, 1.0)
    with pytest.raises(ValueError, match="ratio"):
        random_masking(x, -0.1)
    with pytest.raises(ValueError, match="keeps no token"):
        random_masking(x, 0.99)
    with pytest.raises(ValueError, match="rounding"):
        random_masking(x, 0.5, rounding="floor")
    with pytest.raises(ValueError, match=r"\[B, N, D\]"):
        random_masking(torch.randn(10, 3), 0.5)


def test_tube_masking():
    t, h, w = 4, 3, 5
    mask, ids_restore, ids_keep = tube_masking((t, h, w), 0.6, 3, generator=torch.Generator().manual_seed(0))
    k_s = num_kept(h * w, 0.6)
    assert mask.shape == (3, t * h * w) and ids_keep.shape == (3, t * k_s)
    m = mask.reshape(3, t, h * w)
    assert (m == m[:, :1]).all()  # same spatial mask in every time slice
    assert (m[:, 0].sum(1) == h * w - k_s).all()
    assert (ids_keep.diff(dim=1) > 0).all()  # ascending token order
    for b in range(3):
        assert (mask[b, ids_keep[b]] == 0).all()
    x = torch.randn(3, t * h * w, 2)
    kept = gather_tokens(x, ids_keep)
    seq = torch.cat([kept, torch.zeros(3, t * h * w - kept.shape[1], 2)], 1)
    back = torch.gather(seq, 1, ids_restore[..., None].expand(-1, -1, 2))
    assert torch.equal(back[mask == 0], x[mask == 0])


def test_masking_from_keep_matches_random():
    x = torch.randn(2, 30, 4)
    _, mask, _, ids_keep = random_masking(x, 0.5, generator=torch.Generator().manual_seed(1))
    mask2, ids_restore2, _ = masking_from_keep(ids_keep, 30)
    assert torch.equal(mask, mask2)
    with pytest.raises(ValueError, match="repeated"):
        masking_from_keep(torch.tensor([[0, 0]]), 5)
    with pytest.raises(ValueError, match="n_tokens"):
        masking_from_keep(torch.tensor([[0, 7]]), 5)
