"""avlib.losses.mmd vs an independent NumPy float64 re-derivation (XKD Eq. 7-8, Supp B.7)."""

import numpy as np
import pytest
import torch

from avlib.losses import coral, mmd, mmd_single_sigma
from avlib.losses.mmd import DEFAULT_GAMMAS


def _np_sqd(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def _np_mmd(x, y, kernel):
    return kernel(_np_sqd(x, x)).mean() + kernel(_np_sqd(y, y)).mean() - 2 * kernel(_np_sqd(x, y)).mean()


def _np_multi(d, gammas=DEFAULT_GAMMAS):
    return sum(np.exp(-g * d) for g in gammas)


@pytest.mark.parametrize("n,m", [(6, 6), (8, 4), (3, 7)])
def test_mmd_matches_numpy(n, m):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)) * 0.3
    y = rng.normal(size=(m, 5)) * 0.3 + 0.2
    got = mmd(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert got.dtype == torch.float32 and got.ndim == 0
    np.testing.assert_allclose(got.item(), _np_mmd(x, y, _np_multi), rtol=1e-4, atol=1e-5)


def test_mmd_custom_gammas_and_identity():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3))
    y = rng.normal(size=(4, 3))
    g = (0.5, 2.0)
    got = mmd(torch.tensor(x), torch.tensor(y), gammas=g)
    np.testing.assert_allclose(got.item(), _np_mmd(x, y, lambda d: _np_multi(d, g)), rtol=1e-5, atol=1e-6)
    xt = torch.tensor(x, dtype=torch.float32)
    assert abs(mmd(xt, xt.clone()).item()) < 1e-5
    # large spread: off-diagonals vanish for all gammas, MMD -> (7/n + 7/m) (diagonal terms only)
    far = torch.eye(4) * 1e3
    far2 = torch.eye(4) * -1e3
    np.testing.assert_allclose(mmd(far, far2).item(), 7 / 4 + 7 / 4, rtol=1e-6)


def test_mmd_fp32_under_autocast_and_grad():
    torch.manual_seed(0)
    x = torch.randn(6, 16).bfloat16().requires_grad_()
    y = torch.randn(5, 16).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = mmd(x * 0.1, y * 0.1)
    assert out.dtype == torch.float32
    ref = _np_mmd((x.detach() * 0.1).double().numpy(), (y * 0.1).double().numpy(), _np_multi)
    np.testing.assert_allclose(out.item(), ref, rtol=1e-5, atol=1e-6)  # fp32 island, not bf16 matmuls
    torch.testing.assert_close(out, mmd((x * 0.1).float(), (y * 0.1).float()))
    out.backward()
    assert x.grad is not None and torch.isfinite(x.grad.float()).all()


def test_single_sigma_matches_eq8():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(5, 4)) + 0.5
    sigma = 1.3
    k = lambda d: np.exp(-d / (2 * sigma**2))  # noqa: E731
    ref = _np_mmd(x, y, k)
    got = mmd_single_sigma(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), sigma)
    np.testing.assert_allclose(got.item(), ref, rtol=1e-5, atol=1e-6)
    got_norm = mmd_single_sigma(torch.tensor(x), torch.tensor(y), sigma, squared=False)
    np.testing.assert_allclose(got_norm.item(), np.sqrt(ref), rtol=1e-5)


def test_coral_matches_numpy():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(9, 4)), rng.normal(size=(6, 4)) * 2 + 1
    ref = ((x.mean(0) - y.mean(0)) ** 2).mean() + ((np.cov(x, rowvar=False) - np.cov(y, rowvar=False)) ** 2).mean()
    got = coral(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    np.testing.assert_allclose(got.item(), ref, rtol=1e-5)


def test_bad_arguments():
    a = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="x must be 2-D"):
        mmd(torch.zeros(4), a)
    with pytest.raises(ValueError, match="same feature dim"):
        mmd(a, torch.zeros(3, 5))
    with pytest.raises(ValueError, match="gammas"):
        mmd(a, a, gammas=(1.0, -1.0))
    with pytest.raises(ValueError, match="sigma"):
        mmd_single_sigma(a, a, 0.0)
    with pytest.raises(ValueError, match="y needs at least 2"):
        coral(a, torch.zeros(1, 4))


def _layernormed_rows(n, d, similarity, seed):
    """``n`` LayerNorm-ed rows of width ``d`` (XKD's projector outputs): a shared direction plus noise."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(1, d))
    x = similarity * base + (1 - similarity) * rng.normal(size=(n, d))
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    return x.astype(np.float32).astype(np.float64)  # exactly representable in float32


def _np_mmd_grad(x, y, gammas=DEFAULT_GAMMAS):
    """d MMD / d x of the V-statistic with the multi-Gaussian kernel, in float64 from direct differences:
    d/dx_i [mean K(x,x)] = (2/n^2) sum_j -g e^{-g d_ij} 2 (x_i - x_j); d/dx_i [-2 mean K(x,y)] similarly."""
    n, m = len(x), len(y)
    dxx, dxy = x[:, None, :] - x[None], x[:, None, :] - y[None]
    sxx, sxy = (dxx**2).sum(-1), (dxy**2).sum(-1)
    wxx = sum(-g * np.exp(-g * sxx) for g in gammas)  # dK/dd
    wxy = sum(-g * np.exp(-g * sxy) for g in gammas)
    return (2 / n**2) * (wxx[..., None] * 2 * dxx).sum(1) - (2 / (n * m)) * (wxy[..., None] * 2 * dxy).sum(1)


@pytest.mark.parametrize("similarity", [0.9, 0.5])
def test_mmd_is_exact_at_the_projector_width(similarity):
    """16 x 8192 LayerNorm-ed rows (XKD's projector outputs): value and gradient against a float64 reference
    from direct differences. The float32 Gram expansion got the self-distances wrong by up to ~3e-3, which the
    gamma = 100 / 1000 kernels turned into 0.75 / 0.05 instead of 1 (MMD off by ~4 %, gradient by 6-400 %)."""
    x = _layernormed_rows(16, 8192, similarity, 0)
    y = _layernormed_rows(16, 8192, similarity, 1) * 0.999 + x * 0.001
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    got = mmd(xt, torch.tensor(y, dtype=torch.float32))
    want = _np_mmd(x, y, _np_multi)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.item(), want, rtol=1e-6)
    got.backward()
    g = _np_mmd_grad(x, y)
    np.testing.assert_allclose(xt.grad.double().numpy(), g, rtol=1e-4, atol=1e-6 * np.abs(g).max())


def test_self_distances_are_exactly_zero_and_cross_distances_exact():
    from avlib.losses.mmd import pairwise_sq_dists

    x = torch.tensor(_layernormed_rows(8, 8192, 0.95, 2), dtype=torch.float32)
    y = torch.tensor(_layernormed_rows(5, 8192, 0.95, 3), dtype=torch.float32)
    dxx = pairwise_sq_dists(x)
    assert dxx.dtype == torch.float64 and (dxx.diagonal() == 0).all()
    np.testing.assert_allclose(dxx.numpy(), _np_sqd(x.double().numpy(), x.double().numpy()), rtol=1e-12, atol=1e-9)
    dxy = pairwise_sq_dists(x, y)
    np.testing.assert_allclose(dxy.numpy(), _np_sqd(x.double().numpy(), y.double().numpy()), rtol=1e-12, atol=1e-9)
    # and so the narrowest kernels are exactly 1 on a set's own samples
    assert (torch.exp(-1000.0 * dxx).diagonal() == 1).all()
