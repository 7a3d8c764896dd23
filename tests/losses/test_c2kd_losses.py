"""C2KD's terms and the KD baselines against float64 NumPy re-derivations and scipy.stats.kendalltau, at the class
counts C2KD uses (6, 28, 50)."""

import numpy as np
import pytest
import torch
from scipy import stats

from avlib.losses.c2kd import c2kd_terms, kendall_tau_b, kl_toward, non_target_kl, ofsd_mask
from avlib.losses.kd import dkd, fitnet, hinton_kd


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _kl(t, s):  # KL(softmax(t) || softmax(s)) per row, float64
    lt, ls = _log_softmax(t), _log_softmax(s)
    return (np.exp(lt) * (lt - ls)).sum(-1)


@pytest.mark.parametrize("C", [6, 28, 50])
def test_kendall_tau_b_matches_scipy_with_and_without_ties(C):
    rng = np.random.default_rng(C)
    x = rng.normal(size=(40, C))
    y = x + rng.normal(size=(40, C)) * rng.uniform(0.1, 3, (40, 1))
    xt, yt = np.round(x * 2), np.round(y)  # many ties
    for a, b in ((x, y), (xt, yt), (xt, y)):
        got = kendall_tau_b(torch.from_numpy(a).float(), torch.from_numpy(b).float()).numpy()
        want = [stats.kendalltau(r, q).statistic for r, q in zip(a.astype(np.float32), b.astype(np.float32))]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    const = kendall_tau_b(torch.ones(2, C), torch.randn(2, C))
    assert torch.isnan(const).all() and np.isnan(stats.kendalltau(np.ones(C), np.arange(C)).statistic)
    mask = ofsd_mask(torch.ones(2, C), torch.randn(2, C))
    assert not mask.any()  # a constant proxy output (NaN tau) is never selected


def test_ofsd_mask_is_tau_above_the_threshold():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(64, 28)), rng.normal(size=(64, 28))
    b[:32] = a[:32] + 0.3 * b[:32]  # half agree
    tau = np.array([stats.kendalltau(r, q).statistic for r, q in zip(a, b)])
    for th in (0.0, 0.3):
        got = ofsd_mask(torch.from_numpy(a), torch.from_numpy(b), th).numpy()
        np.testing.assert_array_equal(got, tau > th)


@pytest.mark.parametrize("target", ["remove", "zero"])
@pytest.mark.parametrize("reduction", ["mask", "batch"])
def test_non_target_kl_matches_numpy(target, reduction):
    rng = np.random.default_rng(1)
    B, C = 12, 28
    t, s = rng.normal(size=(B, C)) * 3, rng.normal(size=(B, C)) * 3
    y = rng.integers(0, C, B)
    m = rng.random(B) > 0.4
    per = np.empty(B)
    for i in range(B):
        if target == "remove":  # the distribution over the other C - 1 classes
            keep = np.arange(C) != y[i]
            per[i] = _kl(t[i, keep][None], s[i, keep][None])[0]
        else:  # the public code: the target logit set to 0, still a class
            ti, si = t[i].copy(), s[i].copy()
            ti[y[i]] = si[y[i]] = 0.0
            per[i] = _kl(ti[None], si[None])[0]
    want = (per * m).sum() / m.sum() if reduction == "mask" else (per * m).mean()
    s_t = torch.tensor(s, requires_grad=True)
    t_t = torch.tensor(t, requires_grad=True)
    got = non_target_kl(t_t, s_t, torch.from_numpy(y), torch.from_numpy(m), target=target, reduction=reduction)
    assert float(got.detach()) == pytest.approx(want, rel=1e-5)
    got.backward()
    assert torch.isfinite(s_t.grad).all() and t_t.grad is None  # the target side is detached
    if target == "remove":  # the label's own logit gets no gradient when it is removed
        assert torch.all(s_t.grad[torch.arange(B), torch.from_numpy(y)] == 0)
    none = non_target_kl(t_t, s_t, torch.from_numpy(y), torch.zeros(B, dtype=torch.bool))
    assert float(none) == 0.0


def test_kl_toward_hinton_kd_and_dkd_match_numpy():
    rng = np.random.default_rng(2)
    B, C, T = 16, 50, 4.0
    s, t = rng.normal(size=(B, C)) * 2, rng.normal(size=(B, C)) * 2
    y = rng.integers(0, C, B)
    S, Tt = torch.tensor(s), torch.tensor(t)
    assert float(kl_toward(Tt, S)) == pytest.approx(_kl(t, s).mean(), rel=1e-5)
    assert float(hinton_kd(S, Tt, T)) == pytest.approx(T * T * _kl(t / T, s / T).mean(), rel=1e-5)
    ps, pt = np.exp(_log_softmax(s / T)), np.exp(_log_softmax(t / T))
    idx = np.arange(B)
    bs = np.stack([ps[idx, y], 1 - ps[idx, y]], 1)
    bt = np.stack([pt[idx, y], 1 - pt[idx, y]], 1)
    tckd = (bt * (np.log(bt) - np.log(bs))).sum(1).mean() * T * T
    nckd = np.mean([_kl(t[i, np.arange(C) != y[i]][None] / T, s[i, np.arange(C) != y[i]][None] / T)[0] for i in idx])
    nckd *= T * T
    assert float(dkd(S, Tt, torch.from_numpy(y), alpha=1.0, beta=8.0, temperature=T)) == pytest.approx(
        tckd + 8.0 * nckd, rel=1e-4
    )


def _bilinear_np(x, H, W):
    """align_corners=False bilinear resize of [..., h, w] (half-pixel centres, edges clamped), float64."""
    h, w = x.shape[-2:]

    def coords(n_out, n_in):
        c = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        c = np.clip(c, 0, n_in - 1)
        lo = np.floor(c).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, c - lo

    y0, y1, fy = coords(H, h)
    x0, x1, fx = coords(W, w)
    top = x[..., y0, :][..., :, x0] * (1 - fx) + x[..., y0, :][..., :, x1] * fx
    bot = x[..., y1, :][..., :, x0] * (1 - fx) + x[..., y1, :][..., :, x1] * fx
    return top * (1 - fy)[:, None] + bot * fy[:, None]


def test_fitnet_resizes_the_student_map_bilinearly_to_the_teachers_size():
    rng = np.random.default_rng(3)
    s, t = rng.normal(size=(2, 8, 5, 7)), rng.normal(size=(2, 8, 12, 9))  # spectrogram vs frame maps
    want = np.mean((_bilinear_np(s, 12, 9) - t) ** 2)
    assert float(fitnet(torch.tensor(s), torch.tensor(t))) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="channels"):
        fitnet(torch.zeros(2, 4, 5, 5), torch.zeros(2, 8, 5, 5))


def test_c2kd_terms_wire_each_lambda_to_its_pair_and_the_mask_to_the_proxies():
    rng = np.random.default_rng(4)
    B, C = 32, 6
    z_t, p_t, z_s, p_s = (rng.normal(size=(B, C)) * 2 for _ in range(4))
    p_s[: B // 2] = p_t[: B // 2] + 0.1 * p_s[: B // 2]  # half the proxies agree
    y = rng.integers(0, C, B)
    lam = dict(lambda1=0.3, lambda2=0.7, lambda3=1.9)
    tau = np.array([stats.kendalltau(a, b).statistic for a, b in zip(p_t, p_s)])
    m = tau > 0.0

    def ce(z):
        return -_log_softmax(z)[np.arange(B), y].mean()

    def ntkl(t, s):
        per = np.array([_kl(t[i, np.arange(C) != y[i]][None], s[i, np.arange(C) != y[i]][None])[0] for i in range(B)])
        return (per * m).sum() / m.sum()

    want = (
        ce(z_t)
        + ce(z_s)
        + lam["lambda2"] * (_kl(z_t, p_t).mean() + _kl(p_t, z_t).mean())  # teacher <-> its proxy
        + lam["lambda1"] * (_kl(z_s, p_s).mean() + _kl(p_s, z_s).mean())  # student <-> its proxy
        + lam["lambda3"] * (ntkl(p_s, p_t) + ntkl(p_t, p_s))  # proxy <-> proxy, OFSD-selected, non-target
    )
    got = c2kd_terms(*(torch.tensor(a) for a in (z_t, p_t, z_s, p_s)), torch.from_numpy(y), **lam)
    assert float(got["loss"]) == pytest.approx(want, rel=1e-5)
    assert float(got["selected"]) == pytest.approx(m.mean())
