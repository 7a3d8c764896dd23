import pytest
import torch
from torch import nn

from avlib.models.decoder import MAEDecoder
from avlib.models.patch import AudioTokenizer, VideoTokenizer
from avlib.models.vit import ViTEncoder


def make(decoder_norm=False):
    torch.manual_seed(0)
    tok = VideoTokenizer((4, 16, 16), 3, 64)
    enc = ViTEncoder(tok, (4, 4, 4), {"preset": "micro"})
    dec = MAEDecoder(
        64, 32, depth=1, num_heads=4, patch_dim=tok.patch_dim, max_grid=(4, 4, 4), decoder_norm=decoder_norm
    )
    return enc, dec


def test_shapes_masked_unmasked_and_local():
    enc, dec = make()
    x = torch.randn(2, 3, 16, 64, 64)
    out = enc(x, mask_ratio=0.75)
    assert dec(out["tokens"], out["ids_restore"], out["grid"]).shape == (2, 64, 3 * 4 * 16 * 16)
    out = enc(x)  # no masking: K = N
    assert dec(out["tokens"], out["ids_restore"]).shape == (2, 64, 3072)
    out = enc(torch.randn(2, 3, 8, 48, 48), mask_ratio=0.5)  # local grid -> interpolated decoder pos
    assert dec(out["tokens"], out["ids_restore"], out["grid"]).shape == (2, 18, 3072)


def test_unshuffle_places_tokens_and_mask_tokens():
    enc, dec = make()
    out = enc(torch.randn(2, 3, 16, 64, 64), mask_ratio=0.75, generator=torch.Generator().manual_seed(1))
    seen = {}
    dec.blocks[0].register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0].detach()))
    dec(out["tokens"], out["ids_restore"], out["grid"])
    x = seen["x"]
    with torch.no_grad():
        proj = dec.mid_proj(out["tokens"])
        pos = dec.pos_embed.weight[0]
        mask_tok = dec.mask_token[0, 0]
    assert x.shape == (2, 65, 32)
    for b in range(2):
        torch.testing.assert_close(x[b, 0], proj[b, 0] + pos[0])  # CLS passes through
        for j, i in enumerate(out["ids_keep"][b].tolist()):
            torch.testing.assert_close(x[b, 1 + i], proj[b, 1 + j] + pos[1 + i])  # kept token back in place
        for i in torch.nonzero(out["mask"][b]).flatten().tolist():
            torch.testing.assert_close(x[b, 1 + i], mask_tok + pos[1 + i])  # mask token at masked slots


def test_decoder_norm_option_and_grads():
    enc, dec = make()
    assert isinstance(dec.norm, nn.Identity)  # XKD: no final decoder LN
    assert isinstance(make(decoder_norm=True)[1].norm, nn.LayerNorm)
    assert dec.blocks[0].attn.qkv.bias is None
    out = enc(torch.randn(2, 3, 16, 64, 64), mask_ratio=0.75)
    dec(out["tokens"], out["ids_restore"], out["grid"]).pow(2).mean().backward()
    for p in (dec.mask_token, dec.pos_embed.weight, enc.tokenizer.proj.weight, enc.cls_token):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_audio_decoder_and_errors():
    torch.manual_seed(0)
    tok = AudioTokenizer((4, 16), 1, 64)
    enc = ViTEncoder(tok, (8, 7), "micro")
    dec = MAEDecoder(64, 32, 1, 4, tok.patch_dim, (8, 7))
    out = enc(torch.randn(2, 1, 32, 48), mask_ratio=0.8)
    pred = dec(out["tokens"], out["ids_restore"], out["grid"])
    assert pred.shape == (2, 24, 64) and tok.patchify(torch.randn(2, 1, 32, 48)).shape == pred.shape
    with pytest.raises(ValueError, match="grid"):
        dec(out["tokens"], out["ids_restore"], (8, 7))
    with pytest.raises(ValueError, match="tokens"):
        dec(out["tokens"][..., :10], out["ids_restore"], out["grid"])
