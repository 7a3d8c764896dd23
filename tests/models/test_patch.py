import numpy as np
import pytest
import torch
from torch import nn

from avlib.models.patch import (
    AudioTokenizer,
    VideoTokenizer,
    conv_to_linear_weight,
    linear_to_conv_weight,
    patchify_audio,
    patchify_video,
    unpatchify_audio,
    unpatchify_video,
)


def _conv_from_tokenizer(tok, conv_cls):
    conv = conv_cls(tok.in_chans, tok.embed_dim, kernel_size=tok.patch, stride=tok.patch)
    with torch.no_grad():
        conv.weight.copy_(linear_to_conv_weight(tok.proj.weight, tok.patch, tok.in_chans))
        conv.bias.copy_(tok.proj.bias)
    return conv


def test_video_tokenizer_equals_conv3d():
    torch.manual_seed(0)
    tok = VideoTokenizer((4, 16, 16), in_chans=3, embed_dim=32)
    conv = _conv_from_tokenizer(tok, nn.Conv3d)
    x = torch.randn(2, 3, 8, 32, 48)
    ref = conv(x).flatten(2).transpose(1, 2)  # [B, t*h*w, D], (t h w) order
    assert tok.grid(x.shape) == (2, 2, 3)
    torch.testing.assert_close(tok(x), ref, atol=1e-5, rtol=1e-5)
    # the reverse converter recovers the Linear weight exactly
    assert torch.equal(conv_to_linear_weight(conv.weight), tok.proj.weight)


def test_audio_tokenizer_equals_conv2d_freq_major():
    torch.manual_seed(0)
    tok = AudioTokenizer((4, 16), in_chans=1, embed_dim=24)
    conv = _conv_from_tokenizer(tok, nn.Conv2d)
    x = torch.randn(3, 1, 12, 48)  # F=12 -> f=3, T=48 -> t=3
    ref = conv(x).flatten(2).transpose(1, 2)  # conv output [B, D, f, t] -> frequency-major
    torch.testing.assert_close(tok(x), ref, atol=1e-5, rtol=1e-5)
    w = torch.randn(24, 1, 4, 16)
    torch.testing.assert_close(linear_to_conv_weight(conv_to_linear_weight(w), (4, 16), 1), w)


def test_audio_patch_order_explicit():
    x = np.random.default_rng(0).standard_normal((2, 2, 8, 32)).astype(np.float32)  # C=2, F=8, T=32
    p = patchify_audio(torch.from_numpy(x), (4, 16)).numpy()
    f, t = 2, 2
    for b in range(2):
        for fi in range(f):
            for ti in range(t):
                block = x[b, :, fi * 4 : (fi + 1) * 4, ti * 16 : (ti + 1) * 16]  # [C, pf, pt]
                np.testing.assert_array_equal(p[b, fi * t + ti], block.transpose(1, 2, 0).reshape(-1))


def test_video_patch_order_explicit():
    x = np.random.default_rng(1).standard_normal((1, 3, 4, 8, 12)).astype(np.float32)
    p = patchify_video(torch.from_numpy(x), (2, 4, 4)).numpy()
    t, h, w = 2, 2, 3
    for ti in range(t):
        for hi in range(h):
            for wi in range(w):
                block = x[0, :, ti * 2 : (ti + 1) * 2, hi * 4 : (hi + 1) * 4, wi * 4 : (wi + 1) * 4]  # [C, pt, ph, pw]
                np.testing.assert_array_equal(p[0, (ti * h + hi) * w + wi], block.transpose(1, 2, 3, 0).reshape(-1))


def test_roundtrips():
    v = torch.randn(2, 3, 8, 32, 48)
    assert torch.equal(unpatchify_video(patchify_video(v, (4, 16, 16)), (4, 16, 16), (2, 2, 3)), v)
    a = torch.randn(2, 1, 80, 112)
    assert torch.equal(unpatchify_audio(patchify_audio(a, (4, 16)), (4, 16), (20, 7)), a)
    tok = AudioTokenizer((4, 16), 1, 8)
    assert torch.equal(tok.unpatchify(tok.patchify(a), tok.grid(a.shape)), a)


def test_xkd_token_counts():
    assert VideoTokenizer((4, 16, 16), 3, 8).grid((3, 32, 112, 112)) == (8, 7, 7)  # 392
    assert VideoTokenizer((4, 16, 16), 3, 8).grid((3, 8, 96, 96)) == (2, 6, 6)  # 72
    assert AudioTokenizer((4, 16), 1, 8).grid((1, 80, 448)) == (20, 28)  # 560
    assert AudioTokenizer((4, 16), 1, 8).grid((1, 80, 112)) == (20, 7)  # 140


def test_errors():
    tok = VideoTokenizer((4, 16, 16), 3, 8)
    with pytest.raises(ValueError, match="not divisible"):
        tok(torch.randn(1, 3, 15, 32, 32))
    with pytest.raises(ValueError, match="not divisible"):
        AudioTokenizer((4, 16), 1, 8).grid((1, 80, 100))
    with pytest.raises(ValueError, match="B, 3"):
        tok(torch.randn(1, 1, 16, 32, 32))
    with pytest.raises(ValueError, match="patch"):
        VideoTokenizer((4, 16), 3, 8)
    with pytest.raises(ValueError, match="in_chans"):
        linear_to_conv_weight(torch.randn(8, 100), (4, 16, 16), 3)
