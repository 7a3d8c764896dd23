"""MAViL's fusion encoders (Sec. 3.1) against a float64 NumPy re-derivation of the Transformer blocks."""

import math

import numpy as np
import pytest
import torch
from scipy.special import erf

from avlib.models.fusion import BottleneckFusion, NoFusion, VanillaFusion, build_fusion
from avlib.models.vit import ViTConfig


def _ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _np(t):
    return t.detach().double().numpy()


def _block(x, blk):
    """A pre-norm ViT block in float64 NumPy: x + proj(MHA(LN(x))), then x + fc2(GELU(fc1(LN(x))))."""
    B, N, D = x.shape
    H = blk.attn.num_heads
    hd = D // H
    h = _ln(x, _np(blk.norm1.weight), _np(blk.norm1.bias), blk.norm1.eps)
    qkv = h @ _np(blk.attn.qkv.weight).T + (_np(blk.attn.qkv.bias) if blk.attn.qkv.bias is not None else 0)
    q, k, v = (qkv[..., i * D : (i + 1) * D].reshape(B, N, H, hd).transpose(0, 2, 1, 3) for i in range(3))
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    o = (a @ v).transpose(0, 2, 1, 3).reshape(B, N, D)
    x = x + o @ _np(blk.attn.proj.weight).T + _np(blk.attn.proj.bias)
    h = _ln(x, _np(blk.norm2.weight), _np(blk.norm2.bias), blk.norm2.eps)
    h = h @ _np(blk.mlp.fc1.weight).T + _np(blk.mlp.fc1.bias)
    h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
    return x + h @ _np(blk.mlp.fc2.weight).T + _np(blk.mlp.fc2.bias)


def _other(v):
    return v + torch.randn(v.shape, generator=torch.Generator().manual_seed(9), dtype=v.dtype)


CFG = ViTConfig(embed_dim=64, depth=2, num_heads=4, qkv_bias=True, norm_eps=1e-6)


def _inputs(B=3, Na=7, Nv=9, D=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, Na, D, generator=g, dtype=torch.float64), torch.randn(
        B, Nv, D, generator=g, dtype=torch.float64
    )


def test_vanilla_fusion_is_one_transformer_on_the_concatenated_sequence():
    torch.manual_seed(0)
    f = VanillaFusion(CFG).double()
    a, v = _inputs()
    ga, gv = f(a, v)
    x = np.concatenate([_np(a), _np(v)], 1)
    for blk in f.blocks:
        x = _block(x, blk)
    ref_a = _ln(x[:, :7], _np(f.norm_a.weight), _np(f.norm_a.bias), 1e-6)
    ref_v = _ln(x[:, 7:], _np(f.norm_v.weight), _np(f.norm_v.bias), 1e-6)
    np.testing.assert_allclose(_np(ga), ref_a, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(_np(gv), ref_v, rtol=1e-9, atol=1e-9)
    # information crosses the modalities: changing video changes the audio outputs
    assert not torch.allclose(f(a, _other(v))[0], ga)  # (a shift vanishes in LayerNorm, a permutation in attention)


@pytest.mark.parametrize("Nv", [7, 9])  # equal lengths take the batched path
def test_mbt_fusion_matches_the_bottleneck_equations(Nv):
    """a||b_a = g(a||b), v||b_v = g(v||b) with the same layer weights, b <- (b_a + b_v) / 2 (MAViL Sec. 3.1)."""
    torch.manual_seed(1)
    f = BottleneckFusion(CFG, n_bottleneck=4).double()
    a, v = _inputs(Nv=Nv)
    ga, gv = f(a, v)
    A, V = _np(a), _np(v)
    b = np.broadcast_to(_np(f.bottleneck), (3, 4, 64))
    for blk in f.blocks:
        xa, xv = _block(np.concatenate([A, b], 1), blk), _block(np.concatenate([V, b], 1), blk)
        A, V, b = xa[:, :7], xv[:, :Nv], 0.5 * (xa[:, 7:] + xv[:, Nv:])
    np.testing.assert_allclose(_np(ga), _ln(A, _np(f.norm_a.weight), _np(f.norm_a.bias), 1e-6), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(_np(gv), _ln(V, _np(f.norm_v.weight), _np(f.norm_v.bias), 1e-6), rtol=1e-9, atol=1e-9)


def test_mbt_exchanges_information_only_through_the_bottleneck():
    torch.manual_seed(2)
    f = BottleneckFusion(ViTConfig(embed_dim=64, depth=1, num_heads=4, qkv_bias=True, norm_eps=1e-6), 4).double()
    a, v = _inputs()
    # one layer: the audio outputs see only a||b^0, so video cannot reach them yet
    assert torch.equal(f(a, v)[0], f(a, _other(v))[0])
    f2 = BottleneckFusion(CFG, 4).double()  # two layers: b^1 carries video into the audio stream
    assert not torch.allclose(f2(a, v)[0], f2(a, _other(v))[0])


def test_no_fusion_is_the_identity_and_bad_inputs_fail():
    a, v = _inputs()
    ga, gv = NoFusion(64)(a, v)
    assert ga is a and gv is v
    with pytest.raises(ValueError, match="fusion expects"):
        VanillaFusion(CFG)(a.float()[..., :32], v.float())
    with pytest.raises(ValueError, match="fusion must be one of"):
        build_fusion("late", CFG)
    with pytest.raises(ValueError, match="n_bottleneck"):
        BottleneckFusion(CFG, 0)
