"""Batched video augmentations and XKD global/local views vs per-clip references (torchvision, loops)."""
from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
import torch

from avlib.data.audio import LogMel
from avlib.data.views import (IMAGENET_MEAN, IMAGENET_STD, EvalViews, GlobalLocalViews, ViewConfig, center_crop_resize,
                              color_jitter, gaussian_blur, normalize, random_grayscale, random_resized_crop,
                              resized_crop, sample_crop_boxes, temporal_window, to_float_video, waveform_window)

TF = pytest.importorskip("torchvision.transforms.functional")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _frames(x: torch.Tensor, b: int) -> torch.Tensor:
    """Clip ``b`` of ``[B, 3, T, H, W]`` as torchvision's ``[T, 3, H, W]``."""
    return x[b].permute(1, 0, 2, 3)


# ------------------------------------------------------------------------------------------------
# layout and windows
# ------------------------------------------------------------------------------------------------
def test_to_float_video_and_windows_match_loops():
    u8 = torch.randint(0, 256, (3, 10, 6, 7, 3), dtype=torch.uint8)
    v = to_float_video(u8)
    assert v.shape == (3, 3, 10, 6, 7) and v.is_contiguous()
    torch.testing.assert_close(v[1, 2, 4], u8[1, 4, :, :, 2].float() / 255)
    start = torch.tensor([0, 3, 6])
    got_u8 = temporal_window(u8, start, 4, time_dim=1)
    got = temporal_window(v, start, 4)
    for b in range(3):
        assert torch.equal(got_u8[b], u8[b, start[b]:start[b] + 4])
        assert torch.equal(got[b], v[b, :, start[b]:start[b] + 4])
    rows = torch.tensor([2, 2, 0])
    assert torch.equal(temporal_window(v, start, 4, rows=rows)[1], v[2, :, 3:7])
    wave = torch.randn(3, 100)
    ws = waveform_window(wave, torch.tensor([0, 50, 90]), 10)
    assert torch.equal(ws[1], wave[1, 50:60]) and torch.equal(ws[2], wave[2, 90:])
    with pytest.raises(ValueError, match="start must lie in"):
        temporal_window(v, torch.tensor([0, 0, 7]), 4)
    with pytest.raises(ValueError, match="start_sample must lie in"):
        waveform_window(wave, torch.tensor([0, 0, 95]), 10)


# ------------------------------------------------------------------------------------------------
# crops
# ------------------------------------------------------------------------------------------------
def test_sample_crop_boxes_follow_torchvision_rules():
    H, W, scale, ratio = 72, 96, (0.08, 0.4), (3 / 4, 4 / 3)
    i, j, h, w = sample_crop_boxes(4000, H, W, scale, ratio, _gen(), "cpu").unbind(1)
    assert (i >= 0).all() and (j >= 0).all() and (i + h <= H).all() and (j + w <= W).all()
    area = h * w / (H * W)
    # rounding h and w to integers moves area and aspect a little outside the sampled ranges
    assert area.min() > scale[0] * 0.8 and area.max() < scale[1] * 1.1 and area.std() > 0.05
    aspect = w / h
    assert aspect.min() > ratio[0] * 0.85 and aspect.max() < ratio[1] * 1.15
    assert torch.log(aspect).mean().abs() < 0.03  # log-uniform aspect: symmetric around 1
    # fallback when no attempt fits: torchvision's centre crop with the aspect clamped into ratio
    torch.testing.assert_close(sample_crop_boxes(2, 40, 100, (2.0, 3.0), ratio, _gen(), "cpu"),
                               torch.tensor([[0.0, 23.0, 40.0, 53.0]] * 2))


def test_resized_crop_matches_torchvision_and_flip():
    v = torch.rand(3, 3, 4, 40, 50, dtype=torch.float64)
    boxes = torch.tensor([[0.0, 0.0, 40.0, 50.0], [5.0, 7.0, 30.0, 33.0], [10.0, 2.0, 25.0, 40.0]])
    out = resized_crop(v, boxes, (20, 24))
    for b, (i, j, h, w) in enumerate(boxes.int().tolist()):  # boxes larger than the output: exact match
        ref = TF.resized_crop(_frames(v, b), i, j, h, w, [20, 24], antialias=False)
        torch.testing.assert_close(_frames(out, b), ref, atol=1e-6, rtol=0)
    flipped = resized_crop(v, boxes, (20, 24), flip=torch.tensor([True, False, True]))
    torch.testing.assert_close(flipped[0], out[0].flip(-1), atol=1e-6, rtol=0)
    torch.testing.assert_close(flipped[1], out[1])
    # upsampling: identical away from the box border
    up = resized_crop(v, torch.tensor([[4.0, 6.0, 10.0, 12.0]] * 3), 30)
    ref = TF.resized_crop(_frames(v, 0), 4, 6, 10, 12, [30, 30], antialias=False)
    torch.testing.assert_close(_frames(up, 0)[..., 3:-3, 3:-3], ref[..., 3:-3, 3:-3], atol=1e-6, rtol=0)
    ident = resized_crop(v, torch.tensor([[0.0, 0.0, 40.0, 50.0]] * 3), (40, 50))
    torch.testing.assert_close(ident, v, atol=1e-6, rtol=0)


def test_random_resized_crop_same_box_for_all_frames_different_per_clip():
    frame = torch.rand(1, 3, 1, 48, 48).expand(16, 3, 6, 48, 48).contiguous()
    out = random_resized_crop(frame, 24, (0.08, 0.4), flip_p=0.5, generator=_gen(1))
    assert out.shape == (16, 3, 6, 24, 24)
    assert torch.equal(out, out[:, :, :1].expand_as(out))  # one crop per clip
    assert (out[1:] - out[:1]).abs().flatten(1).amax(1).min() > 1e-3  # clips differ
    same = random_resized_crop(frame, 24, (0.08, 0.4), flip_p=0.5, generator=_gen(1))
    assert torch.equal(out, same)


def test_center_crop_resize_matches_resize_then_center_crop():
    v = torch.rand(2, 3, 2, 64, 80, dtype=torch.float64)
    out = center_crop_resize(v, 32)
    # largest centred square (64 x 64 at column 8), resized: exact because it is a downscale
    ref = TF.resized_crop(_frames(v, 1), 0, 8, 64, 64, [32, 32], antialias=False)
    torch.testing.assert_close(_frames(out, 1), ref, atol=1e-6, rtol=0)
    frac = center_crop_resize(v, 28, crop_fraction=0.875)  # box 56 x 56 at (4, 12)
    ref = TF.resized_crop(_frames(v, 0), 4, 12, 56, 56, [28, 28], antialias=False)
    torch.testing.assert_close(_frames(frac, 0), ref, atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------------------------
# colour, grey, blur, normalisation
# ------------------------------------------------------------------------------------------------
def _mid_video(B=8, T=3, seed=0):
    """Values in [0.3, 0.6]: no jitter factor in [0.6, 1.4] pushes them out of [0, 1]."""
    return torch.rand(B, 3, T, 8, 8, generator=_gen(seed)) * 0.3 + 0.3


def test_color_jitter_single_ops_match_torchvision():
    x = _mid_video()
    y = color_jitter(x, brightness=0.4, contrast=0, saturation=0, hue=0, generator=_gen(1))
    for b in range(x.shape[0]):
        f = float((y[b] / x[b]).mean())
        assert 0.6 - 1e-6 <= f <= 1.4 + 1e-6
        torch.testing.assert_close(_frames(y, b), TF.adjust_brightness(_frames(x, b), f), atol=1e-5, rtol=0)
    y = color_jitter(x, brightness=0, contrast=0.4, saturation=0, hue=0, generator=_gen(2))
    for b in range(x.shape[0]):  # contrast about each frame's grey mean (torchvision on [T, 3, H, W])
        m = TF.rgb_to_grayscale(_frames(x, b)).mean(dim=(-3, -2, -1), keepdim=True)
        c = float(((_frames(y, b) - m) / (_frames(x, b) - m)).median())
        assert 0.6 - 1e-6 <= c <= 1.4 + 1e-6
        torch.testing.assert_close(_frames(y, b), TF.adjust_contrast(_frames(x, b), c), atol=1e-5, rtol=0)
    y = color_jitter(x, brightness=0, contrast=0, saturation=0.4, hue=0, generator=_gen(3))
    for b in range(x.shape[0]):
        g = TF.rgb_to_grayscale(_frames(x, b))
        s = float(((_frames(y, b) - g) / (_frames(x, b) - g)).median())
        torch.testing.assert_close(_frames(y, b), TF.adjust_saturation(_frames(x, b), s), atol=1e-5, rtol=0)


def test_color_jitter_hue_approximates_torchvision_hsv_shift():
    x = _mid_video(B=16)
    y = color_jitter(x, brightness=0, contrast=0, saturation=0, hue=0.2, generator=_gen(4))
    yiq = torch.tensor([[0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    iq_x, iq_y = (torch.einsum("ij,jn->in", yiq, z.reshape(3, -1)) for z in (x[0], y[0]))
    rot = torch.atan2(iq_y[1], iq_y[0]) - torch.atan2(iq_x[1], iq_x[0])
    rot = torch.remainder(rot + math.pi, 2 * math.pi) - math.pi
    assert rot.std() < 1e-4  # a pure rotation of chroma
    h = -float(rot.mean()) / (2 * math.pi)  # positive h = positive HSV hue shift
    assert abs(h) <= 0.2
    luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1, 1)
    torch.testing.assert_close((y[0] * luma).sum(0), (x[0] * luma).sum(0), atol=1e-5, rtol=0)  # YIQ luma kept
    # hue of the output, measured in HSV, moved by about h (the YIQ rotation is an approximation)
    px, py = x[0].reshape(3, -1).T.tolist(), y[0].reshape(3, -1).T.tolist()
    shifts = [((colorsys.rgb_to_hsv(*q)[0] - colorsys.rgb_to_hsv(*p)[0] + 0.5) % 1.0) - 0.5 for p, q in zip(px, py)]
    assert abs(float(np.median(shifts)) - h) < 0.03
    ref = TF.adjust_hue(_frames(x, 0), h)
    wrong = TF.adjust_hue(_frames(x, 0), -h)
    assert (_frames(y, 0) - ref).abs().mean() < 0.5 * (_frames(y, 0) - wrong).abs().mean() + 1e-3


def test_color_jitter_probability_range_and_per_clip_factors():
    x = torch.rand(32, 3, 4, 8, 8)
    assert torch.equal(color_jitter(x, p=0.0, generator=_gen()), x)
    y = color_jitter(x, generator=_gen(5))
    assert y.min() >= 0 and y.max() <= 1 and not torch.allclose(y, x)
    still = torch.rand(32, 3, 1, 8, 8).expand(32, 3, 4, 8, 8).contiguous()  # identical frames stay identical
    ys = color_jitter(still, generator=_gen(6))
    assert torch.allclose(ys, ys[:, :, :1].expand_as(ys), atol=1e-6)
    half = color_jitter(x, p=0.5, generator=_gen(7))
    untouched = (half - x).flatten(1).abs().amax(1) < 1e-6
    assert 4 < int(untouched.sum()) < 28


def test_random_grayscale_and_normalize():
    x = torch.rand(64, 3, 2, 5, 5)
    y = random_grayscale(x, 1.0, _gen())
    torch.testing.assert_close(_frames(y, 3), TF.rgb_to_grayscale(_frames(x, 3), num_output_channels=3))
    torch.testing.assert_close(random_grayscale(x, 0.0, _gen()), x)
    n_gray = int(((random_grayscale(x, 0.2, _gen(1)) - x).flatten(1).abs().amax(1) > 0).sum())
    assert 4 <= n_gray <= 24
    ref = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(normalize(x), ref)


def test_gaussian_blur_matches_torchvision_per_clip_sigma():
    x = torch.rand(6, 3, 2, 40, 40, dtype=torch.float64)
    x[:, :, 0] = 0.0
    x[:, :, 0, 20, 20] = 1.0  # impulse in frame 0: its response reveals each clip's kernel
    k = 40 // 20 * 2 + 1
    y = gaussian_blur(x, p=1.0, sigma=(0.1, 2.0), generator=_gen(2))
    sigmas = set()
    for b in range(6):
        row = y[b, 0, 0, 20, 20 - k // 2: 20 + k // 2 + 1]
        ker = row / row.sum()
        sigma = math.sqrt(-0.5 / math.log(float(ker[k // 2 + 1] / ker[k // 2])))
        sigmas.add(round(sigma, 4))
        assert 0.1 - 1e-6 <= sigma <= 2.0 + 1e-6
        ref = TF.gaussian_blur(_frames(x, b), [k, k], [sigma, sigma])
        torch.testing.assert_close(_frames(y, b), ref, atol=1e-6, rtol=0)
    assert len(sigmas) == 6
    torch.testing.assert_close(gaussian_blur(x, p=0.0, generator=_gen()), x)
    with pytest.raises(ValueError, match="kernel_size"):
        gaussian_blur(x, kernel_size=4)


# ------------------------------------------------------------------------------------------------
# ViewConfig, GlobalLocalViews, EvalViews
# ------------------------------------------------------------------------------------------------
SMALL = dict(video_frames=16, video_size=32, local_video_frames=4, local_video_size=24, audio_seconds=2.0,
             local_audio_seconds=0.5)


def _clips(B=4, T=24, H=40, W=48, seconds=3.0, seed=0):
    """Frame t of clip b has value 6*t + b; audio is a ramp encoding the sample index."""
    v = (6 * torch.arange(T).view(1, T, 1, 1, 1) + torch.arange(B).view(B, 1, 1, 1, 1)).expand(B, T, H, W, 3)
    a = torch.arange(int(seconds * 16000)).float().expand(B, -1) / 1e5 + torch.arange(B).view(B, 1)
    return v.to(torch.uint8).contiguous(), a.contiguous()


def test_view_config_defaults_are_tables_s1_s2():
    c = ViewConfig()
    assert (c.global_crop_scale, c.local_crop_scale, c.eval_crop_scale) == ((0.2, 1.0), (0.08, 0.4), (0.08, 1.0))
    assert (c.flip_p, c.color_jitter, c.local_gray_p, c.local_blur_p) == (0.5, (0.4, 0.4, 0.4, 0.2), 0.2, 0.5)
    assert (c.global_volume_jitter, c.local_volume_jitter, c.eval_volume_jitter) == (0.1, 0.2, 0.1)
    assert (c.spec_virtual_crop_scale, c.spec_freq_scale, c.spec_time_scale) == ((1.0, 1.5), (0.6, 1.5), (0.6, 1.5))
    assert (c.video_frames, c.video_size, c.local_video_frames, c.local_video_size, c.fps) == (32, 112, 8, 96, 8.0)
    assert ViewConfig(global_crop_scale=[0.3, 1.0]).global_crop_scale == (0.3, 1.0)
    assert ViewConfig(audio_seconds=None).audio_seconds == 4.0
    with pytest.raises(ValueError, match="audio_seconds=3.0 must equal video_frames/fps=4.0"):
        ViewConfig(audio_seconds=3.0)
    with pytest.raises(ValueError, match="local_video_frames"):
        ViewConfig(local_video_frames=40)


def test_audio_window_lengths_are_patch_multiples():
    lm = LogMel()
    views = GlobalLocalViews(ViewConfig(), lm)
    assert views.global_audio_samples == 64000 and lm.n_frames(64000) == 448
    assert views.local_audio_samples == 16000 and lm.n_frames(16000) == 112
    half = GlobalLocalViews(ViewConfig(**SMALL), lm)
    assert lm.n_frames(half.local_audio_samples) == 64 and abs(half.local_audio_samples - 8000) < 1100
    with pytest.raises(ValueError, match="not a multiple of the audio patch width 16"):
        GlobalLocalViews(ViewConfig(video_frames=12, audio_seconds=None), lm)  # 1.5 s -> 168 frames
    with pytest.raises(ValueError, match="local_audio_seconds=0.02"):
        GlobalLocalViews(ViewConfig(local_audio_seconds=0.02), lm)


def test_global_local_views_shapes_alignment_and_determinism():
    cfg = ViewConfig(**SMALL, n_local_video=2, n_local_audio=2, color_jitter=(0, 0, 0, 0), flip_p=0.0,
                     local_gray_p=0.0, local_blur_p=0.0, global_volume_jitter=0.0, local_volume_jitter=0.0,
                     local_spec_crop=False)
    lm = LogMel()
    seen = []
    spy = type("Spy", (LogMel,), {"forward": lambda self, w: (seen.append(w), LogMel.forward(self, w))[1]})()
    views = GlobalLocalViews(cfg, spy)
    v, a = _clips()
    out = views(v, a, _gen(3))
    assert out["video_global"].shape == (4, 3, 16, 32, 32) and out["audio_global"].shape == (4, 1, 80, 224)
    assert [t.shape for t in out["video_local"]] == [(4, 3, 4, 24, 24)] * 2
    assert [t.shape for t in out["audio_local"]] == [(4, 1, 80, 64)] * 2
    t0 = out["global_start"]
    # video: constant frames survive crop + normalise, so every frame's value names its source frame
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None], torch.tensor(IMAGENET_STD)[:, None]
    decode = lambda x: ((x.mean(dim=(-1, -2)) * std + mean) * 255).round().mean(1) - torch.arange(4)[:, None]  # noqa
    assert torch.equal(decode(out["video_global"]), 6 * (t0[:, None] + torch.arange(16)).float())
    for vl in out["video_local"]:
        frames = decode(vl) / 6
        assert torch.equal(frames - frames[:, :1], torch.arange(4).float().expand(4, 4))  # contiguous
        assert (frames[:, 0] >= t0).all() and (frames[:, -1] < t0 + 16).all()  # inside the global window
    # audio: the global waveform is the window aligned with the video window; locals lie inside it
    wave_g = seen[0]
    for b in range(4):
        s0 = int(t0[b]) * 2000
        assert torch.equal(wave_g[b], a[b, s0:s0 + 32000])
    for w in seen[1].chunk(2):
        off = torch.round((w[:, 0] - torch.arange(4)) * 1e5).long() - t0 * 2000
        assert (off % 100 == 0).all() and (off >= 0).all() and (off + w.shape[1] <= 32000).all()
    again = GlobalLocalViews(cfg, lm)(v, a, _gen(3))
    assert all(torch.equal(again[k], out[k]) for k in ("video_global", "audio_global"))
    other = GlobalLocalViews(ViewConfig(**SMALL), lm)
    o1, o2 = other(v, a, _gen(1)), other(v, a, _gen(2))
    assert not torch.equal(o1["video_local"][0], o2["video_local"][0])
    assert not torch.equal(o1["audio_local"][0], o2["audio_local"][0])


def test_views_at_half_the_cache_frame_rate_take_every_second_frame_and_the_aligned_audio():
    """XDC's ``fps: 4`` on the 8 fps caches: 8 view frames are every second cached frame and span the 2 s of the
    aligned audio window (the old views took 8 consecutive frames, 1 s, beside audio from twice the time)."""
    cfg = ViewConfig(fps=4, video_frames=8, video_size=32, local_video_frames=4, local_video_size=24,
                     audio_seconds=2.0, local_audio_seconds=0.5, color_jitter=(0, 0, 0, 0), flip_p=0.0,
                     global_volume_jitter=0.0)
    seen = []
    spy = type("Spy", (LogMel,), {"forward": lambda self, w: (seen.append(w), LogMel.forward(self, w))[1]})()
    views = GlobalLocalViews(cfg, spy)
    v, a = _clips(T=24, seconds=3.0)  # 8 fps cache: 24 frames, 48000 samples
    assert views.frame_stride(v, a) == 2 and views.window_span(v, a) == 16
    out = views(v, a, _gen(5))
    t0 = out["global_start"]
    assert (t0 <= 24 - 16).all() and out["video_global"].shape == (4, 3, 8, 32, 32)
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None], torch.tensor(IMAGENET_STD)[:, None]
    frames = ((out["video_global"].mean(dim=(-1, -2)) * std + mean) * 255).round().mean(1) - torch.arange(4)[:, None]
    assert torch.equal(frames, 6 * (t0[:, None] + 2 * torch.arange(8)).float())
    for b in range(4):  # frame t0 of the 8 fps cache starts at t0 / 8 s: sample t0 * 2000
        s0 = int(t0[b]) * 2000
        assert torch.equal(seen[0][b], a[b, s0:s0 + 32000])
    ev = EvalViews(cfg, LogMel())
    video, _ = ev.clips(v, a, n_clips=2)
    vals = ((video.mean(dim=(-1, -2)) * std + mean) * 255).round().mean(1)
    assert torch.equal(vals[1], 6 * (8 + 2 * torch.arange(8)).float())  # last window starts at 24 - 16
    with pytest.raises(ValueError, match="views.fps=3"):
        GlobalLocalViews(ViewConfig(fps=3, video_frames=6, video_size=32, local_video_frames=3, local_video_size=24,
                                    audio_seconds=2.0, local_audio_seconds=0.5), LogMel())(v, a, _gen(0))


def test_eval_views_uniform_clips_sample_major():
    cfg = ViewConfig(**SMALL)
    ev = EvalViews(cfg, LogMel())
    v, a = _clips(B=3, T=40, seconds=5.0)
    video, audio = ev.clips(v, a, n_clips=3)
    assert video.shape == (9, 3, 16, 32, 32) and audio.shape == (9, 1, 80, 224)
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None], torch.tensor(IMAGENET_STD)[:, None]
    vals = ((video.mean(dim=(-1, -2)) * std + mean) * 255).round().mean(1)  # [9, 16]
    starts = np.linspace(0, 24, 3).round()
    for r in range(9):
        b, k = divmod(r, 3)
        assert torch.equal(vals[r], 6 * (starts[k] + torch.arange(16)).float() + b)
    ref = LogMel()(torch.stack([a[b, int(starts[k]) * 2000: int(starts[k]) * 2000 + 32000]
                                for b in range(3) for k in range(3)]))
    torch.testing.assert_close(audio, ref)
    video2, audio2 = ev.clips(v, a, n_clips=3, train_aug=True, generator=_gen())
    assert video2.shape == video.shape and audio2.shape == audio.shape and not torch.equal(audio2, audio)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_views_on_cuda_match_cpu_with_a_cpu_generator():
    views = GlobalLocalViews(ViewConfig(**SMALL), LogMel())
    views_cuda = GlobalLocalViews(ViewConfig(**SMALL), LogMel().cuda())
    v, a = _clips(seed=1)
    cpu = views(v, a, _gen(9))
    gpu = views_cuda(v.cuda(), a.cuda(), _gen(9))
    for key in ("video_global", "audio_global"):
        torch.testing.assert_close(gpu[key].cpu(), cpu[key], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(gpu["video_local"][0].cpu(), cpu["video_local"][0], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(gpu["audio_local"][0].cpu(), cpu["audio_local"][0], atol=2e-2, rtol=1e-2)
