"""avlib.losses.info_nce vs a NumPy float64 re-derivation."""

import numpy as np
import pytest
import torch

from avlib.losses import info_nce


def _np_ce(x, y, tau):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    logits = xn @ yn.T / tau
    logits = logits - logits.max(1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -np.mean(np.diag(logp))


def test_info_nce_matches_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    got = info_nce(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), 0.1)
    np.testing.assert_allclose(got.item(), _np_ce(x, y, 0.1), rtol=1e-5)
    sym = info_nce(torch.tensor(x), torch.tensor(y), 0.07, symmetric=True)
    np.testing.assert_allclose(sym.item(), 0.5 * (_np_ce(x, y, 0.07) + _np_ce(y, x, 0.07)), rtol=1e-5)


def test_info_nce_closed_forms():
    # identical orthonormal pairs: logits diag 1/tau, off-diag 0 -> log(1 + (B-1) e^{-1/tau})
    B, tau = 4, 0.5
    e = torch.eye(B)
    np.testing.assert_allclose(info_nce(e, e * 3.0, tau).item(), np.log(1 + (B - 1) * np.exp(-1 / tau)), rtol=1e-6)
    # scale invariance (cosine similarity) and a trainable decrease
    x = torch.randn(5, 3, requires_grad=True)
    y = torch.randn(5, 3)
    l0 = info_nce(x, y, 0.2)
    assert torch.allclose(l0, info_nce(x * 7.0, y * 0.1, 0.2), atol=1e-5)
    l0.backward()
    with torch.no_grad():
        l1 = info_nce(x - 0.1 * x.grad, y, 0.2)
    assert l1 < l0


def test_info_nce_bad_arguments():
    with pytest.raises(ValueError, match="x and y must have the same shape"):
        info_nce(torch.zeros(3, 2), torch.zeros(4, 2), 0.1)
    with pytest.raises(ValueError, match="tau"):
        info_nce(torch.ones(3, 2), torch.ones(3, 2), 0.0)
    with pytest.raises(ValueError, match="x must be a 2-D"):
        info_nce(torch.ones(3), torch.ones(3, 2), 0.1)
