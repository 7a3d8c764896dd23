import copy

import numpy as np
import pytest
import torch

from avlib.models.patch import AudioTokenizer, VideoTokenizer
from avlib.models.pos_embed import (
    LearnablePosEmbed,
    interpolate,
    sincos_pos_embed_1d,
    sincos_pos_embed_2d,
    sincos_pos_embed_3d,
)
from avlib.models.vit import VIT_PRESETS, ViTConfig, ViTEncoder, build_blocks, vit_config

CFG = {"preset": "micro"}  # 64 dim, 2 blocks, 4 heads


def video_encoder(blocks=None, cfg=CFG):
    torch.manual_seed(0)
    c = vit_config(cfg)
    return ViTEncoder(VideoTokenizer((4, 16, 16), 3, c.embed_dim), (4, 4, 4), c, blocks=blocks)


def audio_encoder(blocks=None, cfg=CFG):
    torch.manual_seed(1)
    c = vit_config(cfg)
    return ViTEncoder(AudioTokenizer((4, 16), 1, c.embed_dim), (8, 7), c, blocks=blocks)


# ------------------------------------------------------------------ config


def test_config_presets_and_errors():
    assert VIT_PRESETS["tiny"] == (128, 4, 4)
    c = vit_config("base")
    assert (c.embed_dim, c.depth, c.num_heads, c.qkv_bias, c.norm_eps) == (768, 12, 12, False, 1e-5)
    assert vit_config({"preset": "tiny", "qkv_bias": True}).qkv_bias
    assert vit_config({"embed_dim": 32, "depth": 1, "num_heads": 2}).depth == 1
    with pytest.raises(ValueError, match="unknown ViT preset"):
        vit_config("huge")
    with pytest.raises(ValueError, match="heads"):
        vit_config({"preset": "tiny", "heads": 3})
    with pytest.raises(ValueError, match="num_heads"):
        ViTConfig(100, 2, 3)


# ------------------------------------------------------------------ shapes, local views


def test_video_and_audio_shapes():
    ev, ea = video_encoder(), audio_encoder()
    out = ev(torch.randn(2, 3, 16, 64, 64))
    assert out["grid"] == (4, 4, 4) and out["tokens"].shape == (2, 65, 64)
    assert (out["mask"] == 0).all() and torch.equal(out["ids_restore"][0], torch.arange(64))
    out = ev(torch.randn(2, 3, 16, 64, 64), mask_ratio=0.75)
    assert out["tokens"].shape == (2, 17, 64) and (out["mask"].sum(1) == 48).all()
    out = ea(torch.randn(2, 1, 32, 112), mask_ratio=0.8, return_attn=True)
    assert out["grid"] == (8, 7) and out["tokens"].shape == (2, 1 + 11, 64)
    assert out["attn"].shape == (2, 4, 12, 12)


def test_local_views_use_interpolated_pos_embed():
    ev, ea = video_encoder(), audio_encoder()
    out = ev(torch.randn(2, 3, 8, 48, 48))
    assert out["grid"] == (2, 3, 3) and out["tokens"].shape == (2, 19, 64)
    assert ea(torch.randn(2, 1, 32, 48))["grid"] == (8, 3)
    with pytest.raises(ValueError, match="frequency"):
        ea(torch.randn(2, 1, 16, 48))
    # gradients reach the pos-embed parameter through the interpolation, and the table is never stale
    ev(torch.randn(2, 3, 8, 48, 48))["tokens"].sum().backward()
    assert ev.pos_embed.weight.grad is not None and ev.pos_embed.weight.grad.abs().sum() > 0
    before = ev.pos_embed((2, 3, 3)).detach().clone()
    with torch.no_grad():
        ev.pos_embed.weight.add_(1.0)
    assert torch.allclose(ev.pos_embed((2, 3, 3)), before + 1.0, atol=1e-5)


def _linear_resample_np(n_src, n_dst, offset):
    """[n_dst, n_src] half-pixel linear interpolation with scale (n_dst + offset) / n_src (NumPy)."""
    scale = (n_dst + offset) / n_src
    m = np.zeros((n_dst, n_src))
    for i in range(n_dst):
        s = max((i + 0.5) / scale - 0.5, 0.0)
        i0 = min(int(np.floor(s)), n_src - 1)
        i1 = min(i0 + 1, n_src - 1)
        m[i, i0] += 1 - (s - i0)
        m[i, i1] += s - i0
    return m


@pytest.mark.parametrize("offset", [0.1, 0.0])
def test_trilinear_matches_separable_numpy(offset):
    src, dst, D = (4, 4, 4), (2, 3, 5), 3
    pos = torch.randn(1, 1 + 64, D, dtype=torch.float64)
    out = interpolate(pos, src, dst, "trilinear", offset=offset)
    g = pos[0, 1:].numpy().reshape(*src, D)
    for axis, (s, d) in enumerate(zip(src, dst)):
        g = np.moveaxis(np.tensordot(_linear_resample_np(s, d, offset), np.moveaxis(g, axis, 0), axes=1), 0, axis)
    np.testing.assert_allclose(out[0, 1:].numpy(), g.reshape(-1, D), atol=1e-12)
    assert torch.equal(out[:, :1], pos[:, :1])  # CLS slot untouched
    # the module's cached-matrix path equals the functional path
    pe = LearnablePosEmbed(src, D, offset=offset)
    torch.testing.assert_close(pe(dst), interpolate(pe.weight, src, dst, offset=offset), atol=1e-6, rtol=1e-5)


def test_pos_embed_identity_and_bicubic_time():
    pe = LearnablePosEmbed((8, 7), 5)
    assert pe((8, 7)) is pe.weight and pe() is pe.weight
    # a table that depends only on frequency survives time-only bicubic interpolation exactly
    rows = torch.randn(8, 1, 5).expand(8, 7, 5).reshape(1, 56, 5)
    pos = torch.cat([torch.randn(1, 1, 5), rows], 1).double()
    out = interpolate(pos, (8, 7), (8, 3), "bicubic_time")
    torch.testing.assert_close(out[0, 1:].reshape(8, 3, 5), pos[0, 1:].reshape(8, 7, 5)[:, :1].expand(8, 3, 5))
    with pytest.raises(ValueError, match="frequency"):
        interpolate(pos, (8, 7), (4, 7), "bicubic_time")
    with pytest.raises(ValueError, match="pos must be"):
        interpolate(pos[:, 1:], (8, 7), (8, 3))


def test_sincos_tables():
    t1 = sincos_pos_embed_1d(8, 5).double()
    w = 1.0 / 10000 ** (np.arange(4) / 4.0)
    np.testing.assert_allclose(
        t1.numpy(), np.concatenate([np.sin(np.arange(5)[:, None] * w), np.cos(np.arange(5)[:, None] * w)], 1), atol=1e-6
    )
    t2 = sincos_pos_embed_2d(16, (3, 4), cls_token=True)
    assert t2.shape == (13, 16) and (t2[0] == 0).all()
    # token (row r, col c) -> [emb_1d(c), emb_1d(r)]
    e = sincos_pos_embed_1d(8, 4)
    torch.testing.assert_close(t2[1 + 2 * 4 + 1], torch.cat([e[1], e[2]]))
    t3 = sincos_pos_embed_3d(32, (2, 3, 4))
    assert t3.shape == (24, 32)
    torch.testing.assert_close(t3[:12, 8:], sincos_pos_embed_2d(24, (3, 4)))  # spatial part, t=0
    torch.testing.assert_close(t3[12:, :8], sincos_pos_embed_1d(8, 2)[1].expand(12, 8))
    with pytest.raises(ValueError, match="divisible by 16"):
        sincos_pos_embed_3d(24, (2, 3, 4))


# ------------------------------------------------------------------ last-block attention


def _capture_last_input(enc, x, **kw):
    seen = {}
    h = enc.blocks[-1].register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0].detach().clone()))
    out = enc(x, **kw)
    h.remove()
    return out, seen["x"]


def test_last_block_attention_matches_numpy_and_unfused():
    enc = video_encoder().eval()
    blk = enc.blocks[-1]
    assert blk.attn.fused_attn  # the fast path stays on
    x = torch.randn(2, 3, 16, 64, 64)
    g = torch.Generator().manual_seed(3)
    out, h = _capture_last_input(enc, x, mask_ratio=0.5, generator=g, return_attn=True)
    attn = out["attn"]
    assert attn.shape == (2, 4, 33, 33)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 4, 33))
    # independent float64 NumPy computation from the block weights
    hn = h.double().numpy()
    ln = blk.norm1
    z = (hn - hn.mean(-1, keepdims=True)) / np.sqrt(hn.var(-1, keepdims=True) + ln.eps)
    z = z * ln.weight.detach().double().numpy() + ln.bias.detach().double().numpy()
    qkv = z @ blk.attn.qkv.weight.detach().double().numpy().T  # qkv_bias=False
    B, N, H, d = 2, 33, 4, 16
    q = qkv[..., :64].reshape(B, N, H, d).transpose(0, 2, 1, 3)
    k = qkv[..., 64:128].reshape(B, N, H, d).transpose(0, 2, 1, 3)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    ref = np.exp(s - s.max(-1, keepdims=True))
    ref /= ref.sum(-1, keepdims=True)
    np.testing.assert_allclose(attn.detach().double().numpy(), ref, atol=1e-5)
    # equals timm's unfused attention (read at attn_drop), and the block output is the same
    unfused = copy.deepcopy(blk)
    unfused.attn.fused_attn = False
    seen = {}
    unfused.attn.attn_drop.register_forward_hook(lambda m, a, o: seen.setdefault("a", o))
    torch.testing.assert_close(unfused(h), blk(h), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn, seen["a"], atol=1e-6, rtol=1e-5)


def test_output_unchanged_by_return_attn():
    enc = video_encoder()
    x = torch.randn(2, 3, 16, 64, 64)
    a = enc(x, 0.75, torch.Generator().manual_seed(0))
    b = enc(x, 0.75, torch.Generator().manual_seed(0), return_attn=True)
    assert "attn" not in a
    assert torch.equal(a["tokens"], b["tokens"]) and torch.equal(a["mask"], b["mask"])


def test_explicit_ids_keep():
    enc = video_encoder()
    x = torch.randn(2, 3, 16, 64, 64)
    a = enc(x, 0.75, torch.Generator().manual_seed(5))
    b = enc(x, ids_keep=a["ids_keep"])
    torch.testing.assert_close(a["tokens"], b["tokens"])


# ------------------------------------------------------------------ sharing, features, init


def test_shared_blocks_really_share():
    blocks = build_blocks(CFG)
    ev, ea = video_encoder(blocks), audio_encoder(blocks)
    assert ev.blocks is ea.blocks and ev.blocks[0].attn.qkv.weight is ea.blocks[0].attn.qkv.weight
    shared = {id(p) for p in ev.parameters()} & {id(p) for p in ea.parameters()}
    assert shared == {id(p) for p in blocks.parameters()}  # tokenizer, pos, cls, norm stay separate
    xv = torch.randn(2, 3, 16, 64, 64)
    before = ev(xv)["tokens"].detach()
    opt = torch.optim.SGD(ea.parameters(), lr=0.1)
    ea(torch.randn(2, 1, 32, 112))["tokens"].pow(2).mean().backward()
    opt.step()
    assert not torch.allclose(ev(xv)["tokens"], before)  # an audio step moved the video encoder
    with pytest.raises(ValueError, match="blocks"):
        video_encoder(build_blocks({"preset": "tiny"}))


def test_features_pooling_excludes_cls():
    enc = video_encoder().eval()
    x = torch.randn(3, 3, 16, 64, 64)
    tokens = enc(x)["tokens"]
    f = enc.features(x)
    assert f.shape == (3, 64)
    torch.testing.assert_close(f, tokens[:, 1:].sum(1) / 64)
    assert not torch.allclose(f, tokens.mean(1))
    torch.testing.assert_close(enc.features(x, pool="cls"), tokens[:, 0])
    with pytest.raises(ValueError, match="pool"):
        enc.features(x, pool="max")


def test_init_and_params():
    enc = video_encoder()
    assert enc.blocks[0].attn.qkv.bias is None  # XKD qkv_bias=False
    assert torch.all(enc.blocks[0].mlp.fc1.bias == 0) and torch.all(enc.norm.weight == 1)
    assert enc.blocks[0].norm1.eps == 1e-5
    bound = (6 / sum(enc.tokenizer.proj.weight.shape)) ** 0.5
    assert enc.tokenizer.proj.weight.abs().max() <= bound  # xavier_uniform
    assert enc.num_params() == sum(p.numel() for p in enc.parameters())
    with pytest.raises(ValueError, match="embed_dim"):
        ViTEncoder(VideoTokenizer((4, 16, 16), 3, 32), (4, 4, 4), CFG)
    with pytest.raises(ValueError, match="mask_ratio"):
        enc(torch.randn(1, 3, 16, 64, 64), mask_ratio=1.0)
