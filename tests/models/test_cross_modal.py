"""cls_attention / cross_modal_attention / refine (XKD Eq. 3-6, Supp. Eq. S3) vs NumPy float64."""

import numpy as np
import pytest
import torch

from avlib.models.cross_modal import cls_attention, cross_modal_attention, refine


def _softmax(z, axis=-1):
    z = z - z.max(axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis, keepdims=True)


def _attn(rng, B, H, N):
    return _softmax(rng.normal(size=(B, H, N + 1, N + 1)) * 2)


def _np_cross(a_self, a_other, mode):  # literal Eq. 4 / S3 with explicit loops over heads
    out = np.empty_like(a_self)
    for b in range(a_self.shape[0]):
        for h in range(a_self.shape[1]):
            outer = np.outer(a_self[b, h], a_other[b, h])  # [N, M]
            pooled = outer.mean(axis=1)
            out[b, h] = pooled / a_self[b, h].mean() if mode == "mean" else _softmax(pooled)
    return out


def test_cls_attention():
    rng = np.random.default_rng(0)
    attn = _attn(rng, 2, 3, 5)
    got = cls_attention(torch.tensor(attn))
    np.testing.assert_allclose(got.numpy(), attn[:, :, 0, 1:])
    got_nocls = cls_attention(torch.tensor(attn), use_cls=False)
    np.testing.assert_allclose(got_nocls.numpy(), attn[:, :, 1:, 1:].mean(2), rtol=1e-12)
    with pytest.raises(ValueError, match="attn must be"):
        cls_attention(torch.zeros(2, 3, 5, 4))


@pytest.mark.parametrize("mode", ["mean", "softmax"])
def test_cross_modal_attention_impls_agree_with_numpy(mode):
    rng = np.random.default_rng(1)
    a_v = _attn(rng, 2, 4, 6)[:, :, 0, 1:]
    a_a = _attn(rng, 2, 4, 9)[:, :, 0, 1:]
    ref = _np_cross(a_v, a_a, mode)
    tv, ta = torch.tensor(a_v, dtype=torch.float32), torch.tensor(a_a, dtype=torch.float32)
    closed = cross_modal_attention(tv, ta, mode=mode, impl="closed_form")
    outer = cross_modal_attention(tv, ta, mode=mode, impl="outer")
    assert closed.shape == (2, 4, 6)
    torch.testing.assert_close(closed, outer, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(closed.numpy(), ref, rtol=1e-5, atol=1e-7)


def test_cross_modal_mean_is_rescaled_self_attention():
    # reference-notes §1.3: mean_i A_self = (1 - A_self[cls]) / N; the other modality enters as a scalar
    rng = np.random.default_rng(2)
    attn_v, attn_a = _attn(rng, 1, 2, 5), _attn(rng, 1, 2, 7)
    a_v, a_a = attn_v[:, :, 0, 1:], attn_a[:, :, 0, 1:]
    ratio = ((1 - attn_a[:, :, 0, 0]) / 7) / ((1 - attn_v[:, :, 0, 0]) / 5)
    got = cross_modal_attention(torch.tensor(a_v), torch.tensor(a_a))
    np.testing.assert_allclose(got.numpy(), a_v * ratio[..., None], rtol=1e-10)


def test_cross_modal_bad_arguments():
    with pytest.raises(ValueError, match="same number of heads"):
        cross_modal_attention(torch.rand(2, 4, 6), torch.rand(2, 3, 6))
    with pytest.raises(ValueError, match="mode"):
        cross_modal_attention(torch.rand(2, 4, 6), torch.rand(2, 4, 6), mode="max")
    with pytest.raises(ValueError, match="impl"):
        cross_modal_attention(torch.rand(2, 4, 6), torch.rand(2, 4, 6), impl="fast")


def test_refine_code_preserves_token_mean_norm():
    rng = np.random.default_rng(3)
    feat = rng.normal(size=(3, 6, 8)) + 0.3
    ax = rng.random(size=(3, 4, 6))
    out = refine(torch.tensor(feat), torch.tensor(ax))  # omega='code'
    a = ax.mean(1)[..., None]
    om = np.sqrt((feat.mean(1) ** 2).sum(-1) / ((feat * a).mean(1) ** 2).sum(-1))
    np.testing.assert_allclose(out.numpy(), om[:, None, None] * a * feat, rtol=1e-10)
    np.testing.assert_allclose(
        np.linalg.norm(out.numpy().mean(1), axis=-1), np.linalg.norm(feat.mean(1), axis=-1), rtol=1e-10
    )
    f32 = refine(torch.tensor(feat, dtype=torch.float32), torch.tensor(ax, dtype=torch.float32))
    assert f32.dtype == torch.float32
    np.testing.assert_allclose(f32.numpy(), out.numpy(), rtol=1e-5, atol=1e-6)


def test_refine_paper_matches_eq6():
    rng = np.random.default_rng(4)
    feat, ax = rng.normal(size=(2, 5, 4)), rng.random(size=(2, 3, 5))
    a = ax.mean(1)[..., None]
    om = (feat**2).sum((1, 2)) / ((feat * a) ** 2).sum((1, 2))
    out = refine(torch.tensor(feat, dtype=torch.float32), torch.tensor(ax, dtype=torch.float32), omega="paper")
    np.testing.assert_allclose(out.numpy(), om[:, None, None] * a * feat, rtol=1e-5, atol=1e-7)
    eps_out = refine(torch.tensor(feat), torch.tensor(ax), omega="paper", eps=0.5)
    om_eps = (feat**2).sum((1, 2)) / (((feat * a) ** 2).sum((1, 2)) + 0.5)
    np.testing.assert_allclose(eps_out.numpy(), om_eps[:, None, None] * a * feat, rtol=1e-10)


def test_refine_bad_arguments():
    with pytest.raises(ValueError, match="attn_x must be"):
        refine(torch.rand(2, 5, 4), torch.rand(2, 3, 6))
    with pytest.raises(ValueError, match="omega"):
        refine(torch.rand(2, 5, 4), torch.rand(2, 3, 5), omega="sqrt")
    with pytest.raises(ValueError, match="feat must be"):
        refine(torch.rand(5, 4), torch.rand(2, 3, 5))
