"""avlib.losses.masked_mse (XKD Eq. 1) vs a NumPy float64 re-derivation."""

import numpy as np
import pytest
import torch

from avlib.losses import masked_mse


def _np_masked_mse(pred, target, mask, norm_pix, eps=1e-6):
    if norm_pix:
        mu = target.mean(-1, keepdims=True)
        var = target.var(-1, ddof=1, keepdims=True)
        target = (target - mu) / np.sqrt(var + eps)
    per = ((pred - target) ** 2).mean(-1)
    return (per * mask).sum() / mask.sum()


@pytest.mark.parametrize("norm_pix", [True, False])
def test_masked_mse_matches_numpy(norm_pix):
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(2, 10, 12)), rng.normal(size=(2, 10, 12)) * 3 + 1
    mask = (rng.random((2, 10)) < 0.7).astype(np.float64)
    got = masked_mse(
        torch.tensor(pred, dtype=torch.float32),
        torch.tensor(target, dtype=torch.float32),
        torch.tensor(mask > 0),
        norm_pix=norm_pix,
    )
    np.testing.assert_allclose(got.item(), _np_masked_mse(pred, target, mask, norm_pix), rtol=1e-5)


def test_visible_patches_do_not_count():
    target = torch.randn(1, 4, 6)
    pred = torch.zeros(1, 4, 6)
    mask = torch.tensor([[1, 1, 0, 0]])
    pred_bad_visible = pred.clone()
    pred_bad_visible[0, 2:] = 1e3
    assert torch.allclose(masked_mse(pred, target, mask), masked_mse(pred_bad_visible, target, mask))
    assert masked_mse(pred, target, torch.zeros(1, 4)).item() == 0.0


def test_masked_mse_bad_arguments():
    with pytest.raises(ValueError, match="mask must have shape"):
        masked_mse(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="pred and target"):
        masked_mse(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="pred must be a 3-D"):
        masked_mse(torch.zeros(3, 4), torch.zeros(3, 4), torch.zeros(3))
