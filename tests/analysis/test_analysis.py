"""Model inspection (Figs. 2, 3, 5) against closed forms and NumPy re-derivations, on a small random XKD."""

import math

import numpy as np
import pytest
import torch

from avlib.analysis.attention import normalised_entropy, teacher_attention
from avlib.analysis.distributions import final_temperature, softmax_stats, teacher_sharpness
from avlib.analysis.inputs import display_frames
from avlib.analysis.reconstruction import masked_error_curve, reconstruct
from avlib.data.views import normalize
from avlib.models import patchify_audio, patchify_video
from avlib.models.cross_modal import cls_attention, cross_modal_attention
from tests.methods.test_xkd import batch, make


def _np_softmax_entropy(z, tau):
    z = z / tau
    z = z - z.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return p, -(p * np.log(p)).sum(1)


def test_softmax_stats_matches_numpy_and_closed_forms():
    rng = np.random.default_rng(0)
    z, c = rng.normal(size=(5, 7)), rng.normal(size=7)
    st = softmax_stats(z, c, 0.3)
    p, h = _np_softmax_entropy(z - c, 0.3)
    np.testing.assert_allclose(st["entropy"], h, rtol=1e-12)
    np.testing.assert_allclose(st["max_prob"], p.max(1), rtol=1e-12)
    np.testing.assert_allclose(st["rank_curve"], np.sort(p, 1)[:, ::-1].mean(0), rtol=1e-12)
    flat = softmax_stats(np.zeros((3, 16)), None, 0.1)  # uniform rows: entropy log K
    np.testing.assert_allclose(flat["entropy"], math.log(16))
    spike = softmax_stats(np.array([[100.0, 0, 0, 0]]), None, 0.1)  # one-hot: entropy 0
    assert spike["entropy"][0] < 1e-12 and spike["max_prob"][0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="tau"):
        softmax_stats(z, None, 0.0)


def test_final_temperature_of_each_schedule_kind():
    assert final_temperature({"kind": "constant", "value": 0.07}) == 0.07
    assert final_temperature({"kind": "cosine", "base": 0.04, "final": 0.06}) == 0.06
    assert final_temperature({"kind": "linear_warmup", "start": 0.04, "end": 0.07, "epochs": 3}) == 0.07
    with pytest.raises(ValueError, match="final temperature"):
        final_temperature({"kind": "step"})


def test_normalised_entropy_closed_forms():
    maps = np.stack([np.ones((2, 3)), np.eye(1, 6).reshape(2, 3), np.array([[1, 1, 0], [0, 0, 0.0]])])
    np.testing.assert_allclose(normalised_entropy(maps), [1.0, 0.0, math.log(2) / math.log(6)], atol=1e-12)


@pytest.fixture(scope="module")
def model_and_views():
    cfg, model, views = make()
    model.eval()
    v = batch(views)
    return cfg, model, v["video_global"], v["audio_global"]


def test_teacher_sharpness_uses_the_training_centre_and_temperatures(model_and_views):
    cfg, model, video, audio = model_and_views
    model.kd_video_teacher.center.normal_()  # a non-zero centre must be subtracted
    s = teacher_sharpness(model, video, audio, common_tau=0.2)
    with torch.no_grad():
        t = model.teacher_outputs(video, audio)
    z = t["video"].double().numpy() - model.kd_video_teacher.center.double().numpy()
    _, h = _np_softmax_entropy(z, 0.2)
    np.testing.assert_allclose(s["video"]["common"]["entropy"], h, rtol=1e-9)
    assert s["video"]["tau"] == final_temperature(cfg.xkd.teacher_temp_video)
    assert s["audio"]["tau"] == final_temperature(cfg.xkd.teacher_temp_audio)


@pytest.mark.parametrize("modality", ["video", "audio"])
def test_reconstruct_keeps_visible_patches_and_reports_the_training_loss(model_and_views, modality):
    cfg, model, video, audio = model_and_views
    x = video if modality == "video" else audio
    r = reconstruct(model, modality, x, 0.75, seed=3)
    fwd = patchify_video if modality == "video" else patchify_audio
    patch = cfg.model.video_patch if modality == "video" else cfg.model.audio_patch
    mask = torch.from_numpy(r["mask"]).bool()
    rec, inp = fwd(torch.from_numpy(r["recon"]), patch), fwd(x, patch)
    torch.testing.assert_close(rec[~mask], inp[~mask])  # visible patches pasted back exactly
    assert torch.isnan(fwd(torch.from_numpy(r["masked"]), patch)[mask]).all()
    assert not torch.isnan(fwd(torch.from_numpy(r["masked"]), patch)[~mask]).any()
    assert mask.float().mean().item() == pytest.approx(0.75, abs=0.1)
    assert r["error"] == pytest.approx(reconstruct(model, modality, x, 0.75, seed=3)["error"])  # seeded
    curve, base = masked_error_curve(model, modality, x, [0.5, 0.75], seeds=(3,))
    assert curve[1] == pytest.approx(r["error"]) and base[1] == pytest.approx(r["baseline"])
    # the baseline is the training loss of an all-zero prediction: NumPy re-derivation on the masked patches
    t = inp.double().numpy()
    tn = (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, ddof=1, keepdims=True) + 1e-6)
    m = mask.numpy()
    assert r["baseline"] == pytest.approx(float((tn**2).mean(-1)[m].mean()), rel=1e-4)
    with pytest.raises(ValueError, match="mask_ratio"):
        reconstruct(model, modality, x, 1.0)


def test_teacher_attention_maps_are_the_refine_inputs(model_and_views):
    cfg, model, video, audio = model_and_views
    a = teacher_attention(model, video, audio)
    with torch.no_grad():
        tv = model.teacher["video_encoder"](video, return_attn=True)
        ta = model.teacher["audio_encoder"](audio, return_attn=True)
    av, aa = cls_attention(tv["attn"]), cls_attention(ta["attn"])
    np.testing.assert_allclose(a["video"]["cls"].reshape(len(video), -1), av.mean(1).double().numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        a["audio"]["refine"].reshape(len(audio), -1), cross_modal_attention(aa, av).mean(1).double().numpy(), rtol=1e-6
    )
    assert a["video"]["cls"].shape[1:] == tuple(tv["grid"]) and a["audio"]["cls"].shape[1:] == tuple(ta["grid"])
    # CLS attention over patch tokens sums to at most 1 (the CLS key takes the rest)
    assert (a["video"]["cls"].reshape(len(video), -1).sum(1) <= 1 + 1e-6).all()


def test_display_frames_inverts_normalisation():
    x = torch.rand(2, 3, 4, 8, 8)
    np.testing.assert_allclose(display_frames(normalize(x)), x.permute(0, 2, 3, 4, 1).numpy(), atol=1e-6)


def test_no_teacher_or_decoder_is_a_clear_error():
    _, model, views = make({"recon_video": True, "recon_audio": False, "kd": False, "da": False})
    v = batch(views)
    with pytest.raises(ValueError, match="no teachers"):
        teacher_attention(model, v["video_global"], v["audio_global"])
    with pytest.raises(ValueError, match="no audio decoder"):
        reconstruct(model, "audio", v["audio_global"], 0.5)
