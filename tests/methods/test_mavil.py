"""MAViL (Huang et al. 2023) wiring and stages, against independent expectations.

Hooks record which encoder sees which tensor and which token set, what the decoders consume and what the
contrastive terms are computed from; the losses are re-derived in float64 NumPy from those recordings (Eq. 1-6).
A stage-2 teacher is a real stage-1 run of the step runner on the smoke cache."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avlib.data.views import GlobalLocalViews
from avlib.methods import build_method, logmel_from_config, views_config
from avlib.profiles import load_pretrain_config

ROOT = Path(__file__).resolve().parents[2]


def _cfg(run="mavil", **sets):
    over = ["mavil.fbank.stats=''"] + [f"{k}={v}" for k, v in sets.items()]  # AudioSet's statistics
    return load_pretrain_config(
        ROOT / "params/pretrain" / f"{run}.yaml", profile="smoke", schedule="mavil", root=ROOT, overrides=over
    )


def _batch(cfg, B=6, seed=0):
    fe = logmel_from_config(cfg)
    g = torch.Generator().manual_seed(seed)
    v = torch.randint(0, 256, (B, 16, 40, 40, 3), generator=g, dtype=torch.uint8)
    a = 0.1 * torch.randn(B, 32000, generator=g)
    return GlobalLocalViews(views_config(cfg), fe)(v, a, torch.Generator().manual_seed(seed + 1)), fe


def _ref_nce(x, y, tau):
    x, y = (np.asarray(t, np.float64) for t in (x, y))
    s = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (y / np.linalg.norm(y, axis=1, keepdims=True)).T / tau
    m = s.max(1, keepdims=True)
    return float(np.mean(m[:, 0] + np.log(np.exp(s - m).sum(1)) - np.diag(s)))


def _ref_mse(pred, target, mask):
    pred, target, mask = (np.asarray(t, np.float64) for t in (pred, target, mask))
    return float((((pred - target) ** 2).mean(-1) * mask).sum() / mask.sum())


class _Recorder:
    """Forward hooks: every call of the watched modules with its inputs and outputs."""

    def __init__(self, modules: dict):
        self.calls = {k: [] for k in modules}
        self.handles = [m.register_forward_hook(self._hook(k), with_kwargs=True) for k, m in modules.items()]

    def _hook(self, key):
        def fn(mod, args, kwargs, out):
            self.calls[key].append({"args": args, "kwargs": kwargs, "out": out})

        return fn

    def close(self):
        for h in self.handles:
            h.remove()


def test_stage1_wiring_and_eq4_against_float64(tmp_path):
    cfg = _cfg(**{"mavil.tau_inter": 0.07, "mavil.tau_intra": 0.9, "mavil.alpha": 0.3, "mavil.beta": 0.02})
    views, _ = _batch(cfg)
    torch.manual_seed(0)
    model = build_method(cfg, None).double()
    views = {k: (t.double() if torch.is_tensor(t) and t.is_floating_point() else t) for k, t in views.items()}
    bb = model.backbone
    keep = model.masks(6, torch.Generator().manual_seed(4), "cpu")
    rec = _Recorder(
        {
            "enc_a": bb.encoders["audio"],
            "enc_v": bb.encoders["video"],
            "fusion": bb.fusion,
            "dec_a": model.decoders["audio"],
            "dec_v": model.decoders["video"],
        }
    )
    out = model(views, {}, None, keep=keep)
    rec.close()
    c = rec.calls
    # which encoder sees which view and which token set: view 1, then the disjoint view 2
    assert len(c["enc_a"]) == 2 and len(c["enc_v"]) == 2
    assert c["enc_a"][0]["args"][0] is views["audio_global"] and c["enc_v"][0]["args"][0] is views["video_global"]
    assert torch.equal(c["enc_a"][0]["kwargs"]["ids_keep"], keep["audio"])
    assert torch.equal(c["enc_a"][1]["kwargs"]["ids_keep"], keep["audio2"])
    assert torch.equal(c["enc_v"][1]["kwargs"]["ids_keep"], keep["video2"])
    # the fusion encoder gets the first view's encoder outputs; the decoders get the fusion outputs
    a_um, v_um = c["enc_a"][0]["out"]["tokens"], c["enc_v"][0]["out"]["tokens"]
    assert c["fusion"][0]["args"][0] is a_um and c["fusion"][0]["args"][1] is v_um
    a_mm, v_mm = c["fusion"][0]["out"]
    assert c["dec_a"][0]["args"][0] is a_mm and c["dec_v"][0]["args"][0] is v_mm
    # Eq. 1: MSE on the masked patches of the raw inputs (time-major fbank patches, 2x16x16 tubelets)
    a_in, v_in = views["audio_global"].numpy(), views["video_global"].numpy()
    B, _, T, Fb = a_in.shape
    patches_a = a_in.reshape(B, T // 16, 16, Fb // 16, 16).transpose(0, 1, 3, 2, 4).reshape(B, -1, 256)
    _, C, Tv, H, W = v_in.shape
    patches_v = v_in.reshape(B, C, Tv // 2, 2, H // 16, 16, W // 16, 16).transpose(0, 2, 4, 6, 3, 5, 7, 1)
    patches_v = patches_v.reshape(B, -1, 2 * 16 * 16 * 3)
    mask_a = np.ones(patches_a.shape[:2])
    mask_a[np.arange(B)[:, None], keep["audio"].numpy()] = 0
    mask_v = np.ones(patches_v.shape[:2])
    mask_v[np.arange(B)[:, None], keep["video"].numpy()] = 0
    raw_a = _ref_mse(c["dec_a"][0]["out"].detach(), patches_a, mask_a)
    raw_v = _ref_mse(c["dec_v"][0]["out"].detach(), patches_v, mask_v)
    logs = out["logs"]
    np.testing.assert_allclose(float(logs["loss_raw_audio"]), raw_a, rtol=1e-9)
    np.testing.assert_allclose(float(logs["loss_raw_video"]), raw_v, rtol=1e-9)
    # Eq. 3: contrast the mean of the pre-fusion visible patch tokens (CLS excluded), at their own temperatures
    pool = lambda t: t.detach()[:, 1:].mean(1).numpy()  # noqa: E731
    inter = _ref_nce(pool(a_um), pool(v_um), 0.07)
    a2, v2 = pool(c["enc_a"][1]["out"]["tokens"]), pool(c["enc_v"][1]["out"]["tokens"])
    intra = 0.5 * (_ref_nce(pool(a_um), a2, 0.9) + _ref_nce(pool(v_um), v2, 0.9))
    np.testing.assert_allclose(float(logs["loss_inter"]), inter, rtol=1e-9)
    np.testing.assert_allclose(float(logs["loss_intra"]), intra, rtol=1e-9)
    assert abs(_ref_nce(pool(a_mm), pool(v_mm), 0.07) - inter) > 1e-6  # fusion outputs would differ
    # Eq. 4
    np.testing.assert_allclose(float(out["loss"]), raw_a + raw_v + 0.3 * inter + 0.02 * intra, rtol=1e-9)


def test_switches_remove_exactly_their_terms():
    views, _ = _batch(_cfg())
    for sets, absent in (({"mavil.inter": False}, "loss_inter"), ({"mavil.intra": False}, "loss_intra")):
        torch.manual_seed(0)
        model = build_method(_cfg(**sets), None)
        logs = model(views, {}, torch.Generator().manual_seed(0))["logs"]
        assert absent not in logs and "loss_raw_audio" in logs
    model = build_method(_cfg(**{"mavil.intra": False}), None)
    rec = _Recorder({"enc_a": model.backbone.encoders["audio"]})
    model(views, {}, torch.Generator().manual_seed(0))
    assert len(rec.calls["enc_a"]) == 1  # no second masked forward without the intra term


def test_mbt_and_no_fusion_build_and_bad_configs_fail():
    views, _ = _batch(_cfg())
    for fusion in ("mbt", "none"):
        model = build_method(_cfg(**{"mavil.fusion": fusion}), None)
        assert torch.isfinite(model(views, {}, torch.Generator().manual_seed(0))["loss"])
    with pytest.raises(ValueError, match="two disjoint visible sets"):
        build_method(_cfg(**{"mavil.mask_ratio_audio": 0.3}), None)
    with pytest.raises(ValueError, match="exactly one of mavil.teacher"):
        build_method(_cfg(**{"mavil.target": "fusion"}), None)
    with pytest.raises(ValueError, match="tau_inter"):
        build_method(_cfg(**{"mavil.tau_inter": 0.0}), None)


def test_fixed_sincos_positions_and_time_major_audio():
    cfg = _cfg()
    model = build_method(cfg, None)
    enc = model.backbone.encoders["audio"]
    assert not any("pos_embed" in n for n, _ in model.named_parameters())  # fixed: nothing to learn
    assert enc.pos_embed.grid == (12, 2)  # 192 frames / 16 (time) x 32 bins / 16 (frequency)
    assert model.backbone.encoders["video"].pos_embed.grid == (4, 2, 2)
    _, fe = _batch(cfg)
    x = fe(torch.randn(2, 32000) * 0.1)
    assert x.shape == (2, 1, 192, 32)  # [B, 1, time, bins]
    with pytest.raises(ValueError, match="token grid"):
        enc(torch.zeros(1, 1, 96, 32))


# ------------------------------------------------------------------------------------------ stage 2 (runner)
@pytest.fixture(scope="module")
def stage1_run(tmp_path_factory, smoke_cache):
    from avlib.train.runner import pretrain

    out = tmp_path_factory.mktemp("mavil") / "mavil_s0"
    cfg = _cfg(**{"data.cache": smoke_cache, "train.epochs": 6, "train.log_every_steps": 1})
    summary = pretrain(cfg, out, show_progress=False)
    return out, summary


def _losses(run: Path, key: str) -> list:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in rows if key in r]


def test_stage1_run_trains_and_its_losses_fall(stage1_run):
    run, summary = stage1_run
    raw = _losses(run, "loss_raw_audio")
    assert len(raw) >= 10 and np.mean(raw[-3:]) < 0.8 * np.mean(raw[:3]), raw
    assert (run / "final.pt").is_file() and summary["steps"] == len(raw)


def test_stage2_targets_come_from_the_frozen_stage1_teacher_on_the_full_clip(stage1_run, smoke_cache, tmp_path):
    run, _ = stage1_run
    cfg = _cfg("mavil_stage2", **{"mavil.teacher": str(run), "data.cache": smoke_cache})
    model = build_method(cfg, None)
    assert model.teacher is None  # loaded at setup (training), never needed to evaluate
    model.setup(10, 5)
    teacher = model.teacher
    assert not any(p.requires_grad for p in teacher.parameters())
    assert not any(k.startswith("_teacher") for k in model.state_dict())  # not in the student's checkpoint
    ids = {id(p) for p in model.parameters()}
    assert not any(id(p) in ids for p in teacher.parameters())  # nor in its optimiser / DDP
    from avlib.eval.protocol import load_pretrained

    _, stage1, _ = load_pretrained(run)
    for (n, p), (_, q) in zip(teacher.state_dict().items(), stage1.backbone.state_dict().items()):
        assert torch.equal(p, q), n  # the stage-1 run's weights
    views, _ = _batch(cfg)
    rec = _Recorder(
        {
            "t_enc_a": teacher.encoders["audio"],
            "t_fusion": teacher.fusion,
            "fdec_a": model.feature_decoders["audio"],
            "s_enc_a": model.backbone.encoders["audio"],
            "s_fusion": model.backbone.fusion,
        }
    )
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.5)
    out = model(views, {}, torch.Generator().manual_seed(0))
    out["loss"].backward()
    opt.step()
    rec.close()
    assert "loss_raw_audio" not in out["logs"] and "loss_context_audio" in out["logs"]  # Eq. 6: raw loss dropped
    t_call = rec.calls["t_enc_a"][0]
    assert t_call["args"][0] is views["audio_global"] and t_call["kwargs"]["ids_keep"] is None  # full, unmasked
    assert all(p.grad is None for p in teacher.parameters())  # no gradient reaches the teacher
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())  # bitwise unchanged
    # Eq. 5: MSE between the decoder's predictions and the teacher's fusion output (CLS dropped), on the tokens
    # the student's first view masked; the decoder reads the student's fusion output
    t_a = rec.calls["t_fusion"][0]["out"][0][:, 1:].detach().numpy()
    pred = rec.calls["fdec_a"][0]["out"].detach().numpy()
    s_enc = rec.calls["s_enc_a"][0]["out"]
    assert rec.calls["fdec_a"][0]["args"][0] is rec.calls["s_fusion"][0]["out"][0]
    mask = s_enc["mask"].numpy()
    assert pred.shape == t_a.shape and 0 < mask.mean() < 1
    np.testing.assert_allclose(float(out["logs"]["loss_context_audio"]), _ref_mse(pred, t_a, mask), rtol=1e-5)
    assert abs(_ref_mse(pred, t_a, 1 - mask) - _ref_mse(pred, t_a, mask)) > 1e-6  # visible tokens would differ
    assert teacher.training is False and model.train().teacher.training is False


def test_stage2_uni_target_is_the_teachers_pre_fusion_output(stage1_run, smoke_cache):
    run, _ = stage1_run
    views, _ = _batch(_cfg())
    res = {}
    for target in ("uni", "fusion"):
        model = build_method(_cfg("mavil_stage2", **{"mavil.teacher": str(run), "mavil.target": target}), None)
        model.setup(10, 5)
        t = model.teacher(views["audio_global"], views["video_global"])
        res[target] = (model.targets(views["audio_global"], views["video_global"]), t)
    tg, t = res["uni"]
    assert torch.equal(tg["audio"], t["a_um"][:, 1:]) and torch.equal(tg["video"], t["v_um"][:, 1:])
    tg, t = res["fusion"]
    assert torch.equal(tg["audio"], t["a_mm"][:, 1:]) and torch.equal(tg["video"], t["v_mm"][:, 1:])


def test_stage2_run_trains_from_the_stage1_run(stage1_run, smoke_cache, tmp_path):
    from avlib.train.runner import pretrain

    run, _ = stage1_run
    cfg = _cfg(
        "mavil_stage2",
        **{"mavil.teacher": str(run), "data.cache": smoke_cache, "train.epochs": 6, "train.log_every_steps": 1},
    )
    pretrain(cfg, tmp_path / "s2", show_progress=False)
    ctx = _losses(tmp_path / "s2", "loss_context_audio")
    assert len(ctx) >= 10 and np.mean(ctx[-3:]) < 0.8 * np.mean(ctx[:3]), ctx
    with pytest.raises(FileNotFoundError):
        pretrain(
            _cfg("mavil_stage2", **{"mavil.teacher": str(tmp_path / "nope"), "data.cache": smoke_cache}),
            tmp_path / "s2b",
            show_progress=False,
        )


def test_audio_positions_are_the_2d_sincos_table_of_the_time_major_grid():
    from avlib.models.pos_embed import sincos_pos_embed_2d

    model = build_method(_cfg(), None)
    enc = model.backbone.encoders["audio"]
    D = enc.embed_dim
    table = enc.pos_embed.table[0]
    torch.testing.assert_close(table, sincos_pos_embed_2d(D, (12, 2), cls_token=True))
    assert not torch.allclose(table, sincos_pos_embed_2d(D, (2, 12), cls_token=True))  # frequency-major would differ


def test_frontend_reads_the_dataset_statistics_file(tmp_path):
    from avlib.data.fbank_frontend import write_fbank_stats
    from avlib.methods.mavil import frontend

    write_fbank_stats({"mean": -2.5, "std": 1.25}, tmp_path / "stats.json")
    fe = frontend(_cfg(**{"mavil.fbank.stats": str(tmp_path / "stats.json")}))
    assert (fe.mean, fe.std, fe.std_scale) == (-2.5, 1.25, 2.0)
    with pytest.raises(FileNotFoundError, match="fbank-stats"):
        frontend(_cfg(**{"mavil.fbank.stats": str(tmp_path / "none.json")}))


def test_layernorm_targets_are_the_teacher_outputs_standardised_per_token(stage1_run):
    run, _ = stage1_run
    views, _ = _batch(_cfg())
    model = build_method(_cfg("mavil_stage2", **{"mavil.teacher": str(run), "mavil.target_norm": "layernorm"}), None)
    model.setup(10, 5)
    t = model.teacher(views["audio_global"], views["video_global"])["a_mm"][:, 1:].detach().double().numpy()
    want = (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, keepdims=True) + 1e-6)
    got = model.targets(views["audio_global"], views["video_global"])["audio"].double().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_one_stage_ema_teacher_is_an_ema_of_the_student_saved_with_it():
    cfg = _cfg(**{"mavil.target": "fusion", "mavil.ema_teacher": True, "mavil.ema_momentum": 0.9})
    torch.manual_seed(0)
    model = build_method(cfg, None)
    model.setup(10, 5)
    views, _ = _batch(cfg)
    assert any(k.startswith("ema_backbone.") for k in model.state_dict())  # checkpointed with the student
    assert not any(p.requires_grad for p in model.ema_backbone.parameters())
    out = model(views, {}, torch.Generator().manual_seed(0))
    assert {"loss_raw_audio", "loss_context_audio"} <= set(out["logs"])  # raw loss kept, separate decoders
    before = {k: v.clone() for k, v in model.ema_backbone.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    out["loss"].backward()
    opt.step()
    model.after_step(0)
    name = "encoders.audio.blocks.0.attn.qkv.weight"
    s, t0 = model.backbone.state_dict()[name], before[name]
    torch.testing.assert_close(model.ema_backbone.state_dict()[name], 0.9 * t0 + 0.1 * s)
    fresh = build_method(cfg, None)  # a resume rebuilds the model, then loads the checkpoint
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.teacher.state_dict()[name], model.ema_backbone.state_dict()[name])


def test_table5e_encoder_sizes_are_vit_s_and_vit_l_from_vit_b_at_a_fixed_head_dimension():
    from avlib.methods.mavil import _encoder_config

    got = {}
    for name, w, d in (("S", 0.5, 1.0), ("B", 1.0, 1.0), ("L", 4 / 3, 2.0)):
        cfg = _cfg(
            **{
                "model.audio_vit": "base",
                "model.video_vit": "base",
                "mavil.encoder_width_mult": w,
                "mavil.encoder_depth_mult": d,
            }
        )
        e = _encoder_config(cfg, "video")
        got[name] = (e.embed_dim, e.depth, e.num_heads)
    assert got == {"S": (384, 12, 6), "B": (768, 12, 12), "L": (1024, 24, 16)}  # the ViT paper's S / B / L
    small = build_method(_cfg(**{"mavil.encoder_width_mult": 0.5}), None)
    base = build_method(_cfg(), None)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(small) < n(base)
    views, _ = _batch(_cfg())
    assert torch.isfinite(small(views, {}, torch.Generator().manual_seed(0))["loss"])
    with pytest.raises(ValueError, match="encoder_width_mult"):
        build_method(_cfg(**{"mavil.encoder_width_mult": 0}), None)
