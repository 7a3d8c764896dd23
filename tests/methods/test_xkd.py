"""XKD end to end on random tensors: every loss falls when training a few steps, teachers get no gradients, and
MAS/MATS share what Table S5 says. The loss combination (Eq. 12 under both reductions), the 'log'/'add' teacher
MMD term and the domain-alignment pairs (Eq. 9, S1, S2) are checked against independent NumPy expectations on
hook-captured tensors in test_xkd_wiring.py."""

import pytest
import torch

from avlib.config import from_dict
from avlib.data.audio import LogMel
from avlib.data.views import GlobalLocalViews
from avlib.methods import build_method, views_config
from avlib.methods.xkd import XKDPretrainConfig

SMALL = {
    "model": {
        "video_vit": "micro",
        "audio_vit": "micro",
        "decoder_dim": 32,
        "decoder_depth": 1,
        "decoder_heads": 4,
        "projector": {"out_dim": 256, "hidden_dim": 64, "bottleneck_dim": 32},
    },
    "views": {
        "fps": 8,
        "video_frames": 8,
        "video_size": 32,
        "local_video_frames": 4,
        "local_video_size": 32,
        "audio_seconds": 1.0,
        "local_audio_seconds": 0.5,
    },
    "audio": {"n_mels": 16, "hop_length": 143, "n_fft": 512},
}
SCHED = {"teacher_temp_video": 0.1, "teacher_temp_audio": 0.07}


def make(losses=None, **xkd):
    d = {**SMALL, "xkd": {**(losses or {}), **xkd}}
    cfg = from_dict(XKDPretrainConfig, d)
    lm = LogMel(n_fft=512, hop_length=143, n_mels=16)
    torch.manual_seed(0)
    return cfg, build_method(cfg, lm), GlobalLocalViews(views_config(cfg), lm)


def batch(views, seed=0):
    """Structured clips (smooth moving gradients, tones) so reconstruction is learnable."""
    g = torch.Generator().manual_seed(seed)
    B, T, S = 8, 12, 36
    f = torch.rand(B, 1, 1, 1, 3, generator=g) * 3 + 1
    t = torch.arange(T).view(1, T, 1, 1, 1)
    yy = torch.linspace(0, 1, S).view(1, 1, S, 1, 1)
    xx = torch.linspace(0, 1, S).view(1, 1, 1, S, 1)
    vid = (127.5 * (1 + torch.sin(6.28 * f * (xx + yy) + 0.3 * t))).to(torch.uint8)
    n = torch.arange(24000) / 16000
    aud = 0.1 * torch.sin(6.28 * (200 + 600 * torch.rand(B, 1, generator=g)) * n)
    return views(vid, aud, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "losses",
    [
        {"recon_video": True, "recon_audio": False, "kd": False, "da": False},
        {"recon_video": False, "recon_audio": True, "kd": False, "da": False},
        {"recon_video": True, "recon_audio": True, "kd": False, "da": False},
        {"recon_video": True, "recon_audio": True, "kd": True, "da": True},
    ],
    ids=["recon_v", "recon_a", "ae", "xkd"],
)
def test_loss_falls_when_training_a_few_steps(losses):
    cfg, model, views = make(losses)
    v = batch(views)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    g = torch.Generator().manual_seed(1)
    hist = []
    for _ in range(25):
        g.manual_seed(1)  # same masks every step: a fixed objective
        out = model(v, SCHED, g)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        model.update_teacher(0.99)
        hist.append(float(out["loss"].detach()))
    assert hist[-1] < 0.8 * hist[0], hist


def test_teachers_get_no_gradient_and_start_equal_to_students():
    cfg, model, views = make()
    for (ns, ps), (nt, pt) in zip(model.student.named_parameters(), model.teacher.named_parameters()):
        assert ns == nt and torch.equal(ps, pt) and not pt.requires_grad
    out = model(batch(views), SCHED, torch.Generator().manual_seed(0))
    out["loss"].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student["video_head"].parameters())


def test_baselines_build_only_what_they_train():
    _, m, _ = make({"recon_video": True, "recon_audio": False, "kd": False, "da": False})
    assert set(m.student) == {"video_encoder"} and not hasattr(m, "teacher")
    with pytest.raises(KeyError, match="has no audio encoder"):
        m.encoder_for_eval("audio")
    assert m.encoder_for_eval("video") is m.student["video_encoder"]
    _, x, _ = make()
    assert x.encoder_for_eval("video") is x.teacher["video_encoder"]


def _ptrs(mod):
    return {p.data_ptr() for p in mod.parameters()}


def test_variants_share_blocks_as_table_s5():
    _, ms, _ = make(variant="ms")
    assert not _ptrs(ms.student["video_encoder"].blocks) & _ptrs(ms.student["audio_encoder"].blocks)
    _, mas, _ = make(variant="mas")
    sv, sa = mas.student["video_encoder"], mas.student["audio_encoder"]
    assert _ptrs(sv.blocks) == _ptrs(sa.blocks)  # students share the transformer
    assert not _ptrs(sv.tokenizer) & _ptrs(sa.tokenizer)  # input projections are not shared
    assert not _ptrs(mas.teacher["video_encoder"].blocks) & _ptrs(mas.teacher["audio_encoder"].blocks)
    _, mats, _ = make(variant="mats")
    assert _ptrs(mats.teacher["video_encoder"].blocks) == _ptrs(mats.teacher["audio_encoder"].blocks)
    assert not _ptrs(mats.teacher["video_head"]) & _ptrs(mats.teacher["audio_head"])


def test_mats_shared_teacher_block_is_ema_updated_once_per_step():
    _, m, views = make(variant="mats")
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    w_t0 = m.teacher["video_encoder"].blocks[0].attn.qkv.weight.clone()
    out = m(batch(views), SCHED, torch.Generator().manual_seed(0))
    out["loss"].backward()
    opt.step()
    w_s = m.student["video_encoder"].blocks[0].attn.qkv.weight
    m.update_teacher(0.9)
    expect = 0.9 * w_t0 + 0.1 * w_s  # once, not 0.81 * w_t0 + ...
    assert torch.allclose(m.teacher["audio_encoder"].blocks[0].attn.qkv.weight, expect, atol=1e-6)


def test_scaled_video_backbone_keeps_heads():
    from avlib.methods.xkd import scaled_vit
    from avlib.models import vit_config

    base = vit_config("tiny")  # 128 dim, 4 blocks, 4 heads
    big = scaled_vit(base, 1.5, 1.5)
    assert (big.embed_dim, big.depth, big.num_heads) == (192, 6, 4)
    assert scaled_vit(base, 1.0, 1.0) is base
    assert scaled_vit(vit_config("base"), 1.33, 2.0).embed_dim % 12 == 0
    cfg, model, _ = make()
    cfg_big = from_dict(XKDPretrainConfig, {**SMALL, "model": {**SMALL["model"], "video_width_mult": 2.0}})
    big_model = build_method(cfg_big, LogMel(n_fft=512, hop_length=143, n_mels=16))
    assert big_model.student["video_encoder"].embed_dim == 2 * model.student["video_encoder"].embed_dim
    assert big_model.student["audio_encoder"].embed_dim == model.student["audio_encoder"].embed_dim
    with pytest.raises(ValueError, match="> 0"):
        scaled_vit(base, 0.0, 1.0)


def test_shared_projector_norm_is_seen_once_by_adamw_clipping_and_ema():
    """The tied hidden LayerNorm (released code; default) is one tensor for the optimiser, the clipping list
    and the EMA, also in the code-replica EMA (``ema_dedup_shared: false``), where blocks shared across
    modalities move twice but a tensor shared within a head moves once, like the official update loop."""
    from avlib.train.optim import build_optimizer

    for dedup in (True, False):
        cfg, m, views = make(ema_dedup_shared=dedup)
        head = m.student["video_head"]
        ln = head.mlp[1].weight
        assert head.mlp[1] is head.mlp[4] and m.teacher["video_head"].mlp[1] is m.teacher["video_head"].mlp[4]
        opt = build_optimizer(m, cfg.optim)
        assert sum(p is ln for g in opt.param_groups for p in g["params"]) == 1
        assert sum(p is ln for p in m.parameters_to_clip()) == 1
        out = m(batch(views), SCHED, torch.Generator().manual_seed(0))
        out["loss"].backward()
        torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5).step()
        t0 = m.teacher["video_head"].mlp[1].weight.clone()
        m.update_teacher(0.9)
        torch.testing.assert_close(m.teacher["video_head"].mlp[4].weight, 0.9 * t0 + 0.1 * ln.detach())


def test_ema_code_replica_updates_mats_shared_teacher_blocks_twice():
    _, m, views = make(variant="mats", ema_dedup_shared=False)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    w_t0 = m.teacher["video_encoder"].blocks[0].attn.qkv.weight.clone()
    m(batch(views), SCHED, torch.Generator().manual_seed(0))["loss"].backward()
    opt.step()
    w_s = m.student["video_encoder"].blocks[0].attn.qkv.weight
    m.update_teacher(0.9)
    expect = 0.9 * (0.9 * w_t0 + 0.1 * w_s) + 0.1 * w_s  # video pass, then audio pass (released code)
    torch.testing.assert_close(m.teacher["audio_encoder"].blocks[0].attn.qkv.weight, expect)


def test_explicit_mask_noise_reproduces_and_overrides_the_random_masks():
    """``mask_noise`` (public API for explicit masks): the generator's own video noise given explicitly gives
    the same step; other noise gives other masks; a wrong shape or key is refused."""
    _, m, views = make()
    v = batch(views)
    n_tok = 1
    for size in m.student["video_encoder"].tokenizer.grid(v["video_global"].shape):
        n_tok *= size
    ref = m(v, SCHED, torch.Generator().manual_seed(3))["logs"]
    g = torch.Generator().manual_seed(3)
    noise_v = torch.rand(8, n_tok, generator=g)  # the draw the video masking makes; audio then continues from g
    same = m(v, SCHED, g, mask_noise={"video": noise_v})["logs"]
    assert torch.equal(same["loss_recon_video"], ref["loss_recon_video"])
    assert torch.equal(same["loss_recon_audio"], ref["loss_recon_audio"])
    other = m(v, SCHED, torch.Generator().manual_seed(3), mask_noise={"video": torch.rand(8, n_tok)})["logs"]
    assert not torch.equal(other["loss_recon_video"], ref["loss_recon_video"])
    with pytest.raises(ValueError, match="noise must be"):
        m(v, SCHED, mask_noise={"video": torch.rand(8, n_tok + 1)})
    with pytest.raises(ValueError, match="unknown key"):
        m(v, SCHED, mask_noise={"vid": torch.rand(8, n_tok)})
