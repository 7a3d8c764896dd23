"""Batched video augmentations and XKD's global/local views (Supp. Tables S1/S2, reference-notes §1.2).

Layouts: the clip cache holds ``uint8 [B, T, H, W, 3]``; augmentations work on float ``[B, 3, T, H, W]`` in
``[0, 1]`` (then ImageNet-normalised). Every op draws per-clip parameters (one crop/colour/blur per clip,
shared by its frames) and runs as a few batched tensor ops: crops are ``affine_grid`` + ``grid_sample`` with
frames folded into channels, colour ops are per-clip 3x3 matrices, blur is a depthwise conv with per-clip
kernels. Randomness comes from an optional ``torch.Generator`` (see ``avlib.data.audio.rand_uniform``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from avlib.data.audio import LogMel, rand_int, rand_uniform, random_resize_crop_spec, volume_jitter

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision rgb_to_grayscale
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def _size2(size: int | Sequence[int]) -> tuple[int, int]:
    s = (size, size) if isinstance(size, int) else tuple(size)
    if len(s) != 2 or min(s) <= 0:
        raise ValueError(f"out_size must be a positive int or (h, w), got {size!r}")
    return int(s[0]), int(s[1])


def _check_video(video: Tensor) -> None:
    if video.dim() != 5 or video.shape[1] != 3 or not video.is_floating_point():
        raise ValueError(f"video must be float [B, 3, T, H, W], got {tuple(video.shape)} {video.dtype}")


def to_float_video(video_u8: Tensor) -> Tensor:
    """``uint8 [B, T, H, W, 3]`` -> contiguous float32 ``[B, 3, T, H, W]`` in ``[0, 1]``."""
    if video_u8.dim() != 5 or video_u8.shape[-1] != 3:
        raise ValueError(f"video_u8 must be [B, T, H, W, 3], got {tuple(video_u8.shape)}")
    return video_u8.permute(0, 4, 1, 2, 3).to(torch.float32, memory_format=torch.contiguous_format).mul_(1 / 255)


def temporal_window(video: Tensor, start: Tensor, length: int, time_dim: int = 2, rows: Tensor | None = None,
                    stride: int = 1) -> Tensor:
    """Windows ``video[rows[n], ..., start[n] : start[n] + stride * length : stride, ...]`` along ``time_dim``
    (one gather): ``length`` frames, every ``stride``-th from ``start``.

    ``video [B, 3, T, H, W]`` (``time_dim=2``) or cache layout ``[B, T, H, W, 3]`` (``time_dim=1``); ``start [N]``;
    ``rows [N]`` picks the clip of each window (default ``arange(B)``, ``N = B``). Output has ``N`` clips.
    """
    T, dev = video.shape[time_dim], video.device
    start = torch.as_tensor(start, device=dev).long().view(-1)
    rows = torch.arange(video.shape[0], device=dev) if rows is None else rows.to(dev).long().view(-1)
    span = stride * (length - 1) + 1
    if start.numel() != rows.numel() or not 0 < length or not 1 <= stride or span > T:
        raise ValueError(f"need start [{rows.numel()}], length > 0, stride >= 1 and stride * (length - 1) + 1 <= "
                         f"T={T}; got {tuple(start.shape)}, length {length}, stride {stride}")
    if bool((start < 0).any()) or bool((start + span > T).any()):
        raise ValueError(f"start must lie in [0, {T - span}] for length {length} at stride {stride}, got {start.tolist()}")
    pre = math.prod(video.shape[1:time_dim])
    ar = lambda n: torch.arange(n, device=dev)  # noqa: E731
    ids = ((rows[:, None, None] * pre + ar(pre)[None, :, None]) * T + start[:, None, None] + stride * ar(length))
    out = video.reshape(video.shape[0] * pre * T, -1).index_select(0, ids.view(-1))
    return out.view(rows.numel(), *video.shape[1:time_dim], length, *video.shape[time_dim + 1:])


def waveform_window(wave: Tensor, start_sample: Tensor, length: int) -> Tensor:
    """``wave [B, S]`` -> ``[B, length]`` with ``out[b] = wave[b, start[b]:start[b]+length]`` (one gather)."""
    S, start = wave.shape[-1], torch.as_tensor(start_sample, device=wave.device).long().view(-1)
    if wave.dim() != 2 or start.numel() != wave.shape[0] or not 0 < length <= S:
        raise ValueError(f"need wave [B, S], start_sample [B], 0 < length <= S; got {tuple(wave.shape)}, {length}")
    if bool((start < 0).any()) or bool((start + length > S).any()):
        raise ValueError(f"start_sample must lie in [0, {S - length}], got {start.tolist()}")
    return torch.gather(wave, 1, start[:, None] + torch.arange(length, device=wave.device))


def sample_crop_boxes(B: int, H: int, W: int, scale: Sequence[float], ratio: Sequence[float] = (3 / 4, 4 / 3),
                      generator: torch.Generator | None = None, device="cpu", attempts: int = 10) -> Tensor:
    """torchvision ``RandomResizedCrop.get_params`` per clip: float ``[B, 4]`` = integer-valued ``(i, j, h, w)``.

    Area fraction ``~ U(scale)``, aspect ``~ logU(ratio)``, first of ``attempts`` draws that fits, else the
    largest centred crop with the aspect clamped to ``ratio``.
    """
    if len(scale) != 2 or not 0 < scale[0] <= scale[1] or len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"scale and ratio must be (low, high) with 0 < low <= high, got {scale}, {ratio}")
    area = rand_uniform((B, attempts), generator, device, *scale) * (H * W)
    ar = torch.exp(rand_uniform((B, attempts), generator, device, math.log(ratio[0]), math.log(ratio[1])))
    w, h = torch.round(torch.sqrt(area * ar)), torch.round(torch.sqrt(area / ar))
    ok = (w > 0) & (w <= W) & (h > 0) & (h <= H)
    first = torch.argmax(ok.int(), dim=1, keepdim=True)  # first valid attempt (0 if none)
    w, h, any_ok = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0], ok.any(dim=1)
    in_r = W / H  # fallback (torchvision): centre crop with the aspect clamped into ratio
    fw, fh = (W, round(W / ratio[0])) if in_r < ratio[0] else ((round(H * ratio[1]), H) if in_r > ratio[1] else (W, H))
    w, h = torch.where(any_ok, w, float(fw)), torch.where(any_ok, h, float(fh))
    i = torch.where(any_ok, rand_int(0, (H - h).long(), (B,), generator, device).float(), ((H - h) // 2))
    j = torch.where(any_ok, rand_int(0, (W - w).long(), (B,), generator, device).float(), ((W - w) // 2))
    return torch.stack([i, j, h, w], dim=1)


def resized_crop(video: Tensor, boxes: Tensor, out_size: int | Sequence[int], flip: Tensor | None = None) -> Tensor:
    """Crop ``boxes [B, 4] (i, j, h, w)`` (pixels, may be fractional) from every frame of clip ``b`` and resize
    to ``out_size`` (bilinear, ``align_corners=False``, border replicate; no antialiasing), optionally
    h-flipped where ``flip [B]`` is true. ``[B, 3, T, H, W] -> [B, 3, T, oh, ow]``.

    Equals ``torchvision.transforms.functional.resized_crop(..., antialias=False)`` when the box is not
    upsampled; when upsampling, edge pixels blend with the pixel just outside the box instead of clamping.
    """
    _check_video(video)
    B, C, T, H, W = video.shape
    oh, ow = _size2(out_size)
    dt = torch.float64 if video.dtype == torch.float64 else torch.float32
    i, j, h, w = boxes.to(video.device, dt).unbind(1)
    theta = torch.zeros(B, 2, 3, device=video.device, dtype=dt)
    sx = w / W if flip is None else torch.where(flip.to(video.device).bool(), -w / W, w / W)
    theta[:, 0, 0], theta[:, 0, 2] = sx, (2 * j + w) / W - 1
    theta[:, 1, 1], theta[:, 1, 2] = h / H, (2 * i + h) / H - 1
    grid = F.affine_grid(theta, [B, 1, oh, ow], align_corners=False)
    out = F.grid_sample(video.reshape(B, C * T, H, W), grid.to(video.dtype), mode="bilinear",
                        padding_mode="border", align_corners=False)
    return out.view(B, C, T, oh, ow)


def random_resized_crop(video: Tensor, out_size: int | Sequence[int], scale: Sequence[float] = (0.08, 1.0),
                        ratio: Sequence[float] = (3 / 4, 4 / 3), flip_p: float = 0.0,
                        generator: torch.Generator | None = None) -> Tensor:
    """Per-clip RandomResizedCrop (+ horizontal flip with ``flip_p``): ``[B, 3, T, H, W] -> [B, 3, T, S, S]``."""
    _check_video(video)
    B, _, _, H, W = video.shape
    boxes = sample_crop_boxes(B, H, W, scale, ratio, generator, video.device)
    flip = rand_uniform((B,), generator, video.device) < flip_p
    return resized_crop(video, boxes, out_size, flip)


def center_crop_resize(video: Tensor, out_size: int | Sequence[int], crop_fraction: float = 1.0) -> Tensor:
    """Centred box of the output's aspect covering ``crop_fraction`` of the largest such box, resized to
    ``out_size``. ``crop_fraction=0.875`` = XKD eval ``Resize(S / 0.875) + CenterCrop(S)``."""
    _check_video(video)
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
    (B, _, _, H, W), (oh, ow) = video.shape, _size2(out_size)
    h, w = oh * min(H / oh, W / ow) * crop_fraction, ow * min(H / oh, W / ow) * crop_fraction
    return resized_crop(video, torch.tensor([(H - h) / 2, (W - w) / 2, h, w]).expand(B, 4), (oh, ow))


def _apply_colour_matrix(video: Tensor, m: Tensor) -> Tensor:
    """``m [B, 3, 3]`` applied to the channel axis of ``[B, 3, T, H, W]``."""
    B, C, T, H, W = video.shape
    return torch.bmm(m.to(video.dtype), video.reshape(B, C, T * H * W)).view(B, C, T, H, W)


def color_jitter(video: Tensor, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 hue: float = 0.2, p: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """Per-clip ColorJitter (order brightness, contrast, saturation, hue) with probability ``p``.

    Factors as torchvision: ``U[max(0, 1-x), 1+x]``; contrast blends with the per-frame grey mean,
    saturation with the grey image. Hue rotates the (I, Q) chroma plane of YIQ by ``2*pi*h``,
    ``h ~ U[-hue, hue]``: a linear approximation of torchvision's HSV hue shift by ``h`` (close for
    saturated colours; luma is kept exactly). All four are composed into one per-clip affine colour
    map and clamped to [0, 1] once (torchvision clamps after each op; the results differ only where an
    intermediate value leaves [0, 1]). ``[B, 3, T, H, W]`` in [0, 1] -> same.
    """
    _check_video(video)
    if min(brightness, contrast, saturation) < 0 or not 0 <= hue <= 0.5:
        raise ValueError(f"need brightness/contrast/saturation >= 0 and 0 <= hue <= 0.5, got "
                         f"{brightness}, {contrast}, {saturation}, {hue}")
    B, dev = video.shape[0], video.device
    if p <= 0 or brightness == contrast == saturation == hue == 0:
        return video
    on = rand_uniform((B,), generator, dev) < p
    b, c, s = (torch.where(on, rand_uniform((B,), generator, dev, max(0.0, 1 - x), 1 + x), 1.0)
               for x in (brightness, contrast, saturation))
    h = torch.where(on, rand_uniform((B,), generator, dev, -hue, hue), 0.0)
    gw = torch.tensor(GRAY_WEIGHTS, device=dev)
    sat = s.view(B, 1, 1) * torch.eye(3, device=dev) + (1 - s).view(B, 1, 1) * gw.expand(3, 3)
    cos, sin = torch.cos(2 * math.pi * h), torch.sin(2 * math.pi * h)
    rot = torch.zeros(B, 3, 3, device=dev)
    rot[:, 0, 0], rot[:, 1, 1], rot[:, 2, 2], rot[:, 1, 2], rot[:, 2, 1] = 1, cos, cos, sin, -sin
    m = _YIQ2RGB.to(dev, torch.float32) @ rot @ _RGB2YIQ.to(dev, torch.float32) @ sat  # [B, 3, 3]
    # y = M (c b x + (1 - c) b g_t): one matmul plus a per-frame offset.
    g_t = torch.einsum("c,bct->bt", gw, video.mean(dim=(3, 4)).float())  # [B, T] grey mean per frame
    off = ((1 - c) * b)[:, None, None] * m.sum(dim=2)[:, :, None] * g_t[:, None, :]  # [B, 3, T]
    y = _apply_colour_matrix(video, (c * b)[:, None, None] * m)
    return y.add_(off.to(y.dtype)[..., None, None]).clamp_(0, 1)


def random_grayscale(video: Tensor, p: float = 0.2, generator: torch.Generator | None = None) -> Tensor:
    """Per-clip RandomGrayscale (torchvision luma weights, 3 output channels). ``[B, 3, T, H, W]``."""
    _check_video(video)
    B, dev = video.shape[0], video.device
    on = (rand_uniform((B,), generator, dev) < p).float().view(B, 1, 1)
    gray = torch.tensor(GRAY_WEIGHTS, device=dev).expand(3, 3)
    return _apply_colour_matrix(video, on * gray + (1 - on) * torch.eye(3, device=dev))


def gaussian_blur(video: Tensor, p: float = 0.5, sigma: Sequence[float] = (0.1, 2.0), kernel_size: int | None = None,
                  generator: torch.Generator | None = None) -> Tensor:
    """Per-clip Gaussian blur with probability ``p``, ``sigma ~ U(sigma)``; separable depthwise conv with
    per-clip kernels and reflect padding (torchvision ``gaussian_blur``). ``kernel_size`` defaults to
    XKD's ``size // 20 * 2 + 1``. ``[B, 3, T, H, W]`` -> same."""
    _check_video(video)
    B, C, T, H, W = video.shape
    k = min(H, W) // 20 * 2 + 1 if kernel_size is None else int(kernel_size)
    if k < 1 or k % 2 == 0 or k // 2 >= min(H, W):
        raise ValueError(f"kernel_size must be odd, >= 1 and < 2*min(H, W), got {k}")
    if len(sigma) != 2 or not 0 < sigma[0] <= sigma[1]:
        raise ValueError(f"sigma must be (low, high) with 0 < low <= high, got {sigma}")
    sig, on = rand_uniform((B,), generator, video.device, *sigma), rand_uniform((B,), generator, video.device) < p
    if k == 1:
        return video
    x = torch.arange(k, device=video.device, dtype=torch.float32) - (k - 1) / 2
    ker = torch.softmax(-0.5 * (x / sig[:, None]) ** 2, dim=1)  # normalised Gaussian taps [B, k]
    ker = torch.where(on[:, None], ker, (x == 0).float()).to(video.dtype)
    n = B * C * T
    wts = ker.repeat_interleave(C * T, dim=0)  # [n, k]
    y = F.pad(video.reshape(1, n, H, W), (k // 2, k // 2, k // 2, k // 2), mode="reflect")
    y = F.conv2d(y, wts.view(n, 1, 1, k), groups=n)
    y = F.conv2d(y, wts.view(n, 1, k, 1), groups=n)
    return y.view(B, C, T, H, W)


def normalize(video: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> Tensor:
    """Per-channel ``(video - mean) / std`` on ``[B, 3, T, H, W]``."""
    _check_video(video)
    s = 1.0 / torch.tensor(std, device=video.device, dtype=video.dtype).view(1, 3, 1, 1, 1)
    m = torch.tensor(mean, device=video.device, dtype=video.dtype).view(1, 3, 1, 1, 1)
    return torch.addcmul(-m * s, video, s)


# ----------------------------------------------------------------------------------------------
# XKD views
# ----------------------------------------------------------------------------------------------
@dataclass
class ViewConfig:
    """XKD view recipe: defaults are Supp. Tables S1/S2 and ``xkd.yaml`` (names match ``avlib.config.ViewsConfig``).

    The global audio window spans the global video window (``audio_seconds == video_frames / fps``; ``None``
    derives it). ``spec_virtual_crop_scale`` is BYOL-A's (F, T) canvas ratio; ``color_jitter_p=1`` because
    XKD applies ColorJitter to every clip; ``eval_crop_fraction=0.875`` is XKD's ``Resize(S/0.875)+CenterCrop(S)``.
    """

    fps: float = 8.0
    video_frames: int = 32
    video_size: int = 112
    local_video_frames: int = 8
    local_video_size: int = 96
    n_local_video: int = 1
    audio_seconds: float | None = 4.0
    local_audio_seconds: float = 1.0
    n_local_audio: int = 1
    global_crop_scale: tuple[float, float] = (0.2, 1.0)
    local_crop_scale: tuple[float, float] = (0.08, 0.4)
    eval_crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    color_jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.2)
    color_jitter_p: float = 1.0
    local_gray_p: float = 0.2
    eval_gray_p: float = 0.2
    local_blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    eval_crop_fraction: float = 0.875
    global_volume_jitter: float = 0.1
    local_volume_jitter: float = 0.2
    eval_volume_jitter: float = 0.1
    local_audio_start_grid: int = 100
    local_spec_crop: bool = True
    spec_virtual_crop_scale: tuple[float, float] = (1.0, 1.5)
    spec_freq_scale: tuple[float, float] = (0.6, 1.5)
    spec_time_scale: tuple[float, float] = (0.6, 1.5)
    audio_patch_frames: int = 16

    def __post_init__(self):
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                setattr(self, f.name, tuple(getattr(self, f.name)))
        for name in ("fps", "video_frames", "video_size", "local_video_size", "audio_patch_frames", "local_audio_start_grid"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.local_video_frames <= self.video_frames:
            raise ValueError(f"local_video_frames={self.local_video_frames} must be in [1, video_frames={self.video_frames}]")
        if min(self.n_local_video, self.n_local_audio) < 0:
            raise ValueError(f"n_local_video/n_local_audio must be >= 0, got {self.n_local_video}/{self.n_local_audio}")
        dur = self.video_frames / self.fps
        if self.audio_seconds is None:
            self.audio_seconds = dur
        elif abs(self.audio_seconds - dur) > 1e-6:
            raise ValueError(f"audio_seconds={self.audio_seconds} must equal video_frames/fps={dur} (aligned windows)")
        if not 0 < self.local_audio_seconds <= self.audio_seconds:
            raise ValueError(f"local_audio_seconds={self.local_audio_seconds} must be in (0, audio_seconds]")


def _audio_samples(seconds: float, logmel: LogMel, patch: int, what: str, exact: bool) -> int:
    """Samples closest to ``seconds`` whose log-mel width is a multiple of ``patch`` frames."""
    req = int(round(seconds * logmel.sample_rate))
    f0 = logmel.n_frames(req)
    if f0 % patch == 0:
        return req
    if exact or f0 < patch // 2:
        raise ValueError(f"{what}={seconds} s gives {f0} log-mel frames (hop {logmel.hop_length}), not a multiple "
                         f"of the audio patch width {patch}; change the duration, fps or hop_length")
    f = int(round(f0 / patch)) * patch
    return min(max(req, (f - 1) * logmel.hop_length), f * logmel.hop_length - 1)


class _ViewsBase:
    def __init__(self, cfg: ViewConfig, logmel: LogMel):
        self.cfg, self.logmel, self.sr = cfg, logmel, logmel.sample_rate
        p = cfg.audio_patch_frames
        self.global_audio_samples = _audio_samples(cfg.audio_seconds, logmel, p, "audio_seconds", exact=True)
        self.local_audio_samples = _audio_samples(cfg.local_audio_seconds, logmel, p, "local_audio_seconds", exact=False)
        if self.local_audio_samples > self.global_audio_samples:
            raise ValueError(f"local_audio_seconds={cfg.local_audio_seconds} needs {self.local_audio_samples} samples, "
                             f"more than the global window ({self.global_audio_samples})")

    def frame_stride(self, video_u8: Tensor, audio: Tensor) -> int:
        """Cached frames per view frame: the cache's frame rate over ``fps``. The cache holds ``T`` frames and
        ``S`` samples of the same seconds, so its rate is ``T * sample_rate / S`` (8 fps for the profiles'
        caches: ``fps: 4`` takes every second frame, so 8 view frames span 2 s)."""
        T, S = video_u8.shape[1], audio.shape[1]
        src = T * self.sr / S
        stride = max(1, round(src / self.cfg.fps))
        if abs(src / self.cfg.fps - stride) > 0.02 * stride:
            raise ValueError(f"views.fps={self.cfg.fps} does not divide the cached clips' frame rate ({src:.4g} fps: "
                             f"{T} frames over {S / self.sr:.4g} s); use {src:.4g} or an integer fraction of it")
        return stride

    def window_span(self, video_u8: Tensor, audio: Tensor) -> int:
        """Cached frames of the seconds one window covers, ``stride * video_frames`` (its audio spans them)."""
        return self.frame_stride(video_u8, audio) * self.cfg.video_frames

    def _windows(self, video_u8: Tensor, audio: Tensor, t0: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        """Float video ``[N, 3, Tg, H, W]`` (every ``frame_stride``-th cached frame from frame ``t0``) and the
        aligned audio ``[N, Lg]`` (from ``t0``'s time) of clip ``rows``."""
        if video_u8.dim() != 5 or video_u8.shape[-1] != 3 or audio.dim() != 2 or audio.shape[0] != video_u8.shape[0]:
            raise ValueError(f"need video_u8 [B, T, H, W, 3] and audio [B, S]; got {tuple(video_u8.shape)}, "
                             f"{tuple(audio.shape)}")
        S, L = audio.shape[1], self.global_audio_samples
        stride = self.frame_stride(video_u8, audio)
        if video_u8.shape[1] < self.window_span(video_u8, audio) or S < L:
            raise ValueError(f"clips too short: {video_u8.shape[1]} frames / {S} samples, need "
                             f"{self.window_span(video_u8, audio)} / {L}")
        a0 = torch.round(t0.double() * self.sr / (self.cfg.fps * stride)).long().clamp(0, S - L)
        v = to_float_video(temporal_window(video_u8, t0, self.cfg.video_frames, time_dim=1, rows=rows, stride=stride))
        return v, waveform_window(audio.float()[rows], a0, L)

    def _video_aug(self, v: Tensor, size: int, scale, gray_p: float, blur_p: float, g) -> Tensor:
        c = self.cfg
        v = color_jitter(random_resized_crop(v, size, scale, c.crop_ratio, c.flip_p, g), *c.color_jitter,
                         p=c.color_jitter_p, generator=g)
        v = random_grayscale(v, gray_p, g) if gray_p > 0 else v
        return normalize(gaussian_blur(v, blur_p, c.blur_sigma, None, g) if blur_p > 0 else v)


class GlobalLocalViews(_ViewsBase):
    """XKD global/local views for a batch (reference-notes §1.2).

    Global: a random window of ``video_frames`` frames and the aligned audio window of the same duration;
    video: RandomResizedCrop(``global_crop_scale``) + flip + ColorJitter; audio: volume jitter, log-mel.
    Local video: ``n_local_video`` random windows of ``local_video_frames`` frames from the *un-augmented*
    global window, each with RandomResizedCrop(``local_crop_scale``) + flip + ColorJitter + grey + blur.
    Local audio: ``n_local_audio`` segments of ``local_audio_samples`` inside the global audio window (start
    on a ``local_audio_start_grid`` grid), volume jitter, log-mel, BYOL-A RandomResizeCrop. Crops sample the
    cached frames directly (XKD first resizes the short side to ``video_size``; the boxes are the same in
    normalised coordinates, so this saves one interpolation).

    ``__call__(video_u8 [B, T, H, W, 3], audio [B, S], generator)`` -> dict: ``video_global [B, 3, Tg, S, S]``,
    ``video_local`` (list of ``[B, 3, Tl, s, s]``), ``audio_global [B, 1, n_mels, Fg]``, ``audio_local`` (list
    of ``[B, 1, n_mels, Fl]``), ``global_start [B]`` (first frame of the global window).
    """

    @torch.no_grad()
    def __call__(self, video_u8: Tensor | None, audio: Tensor, generator: torch.Generator | None = None) -> dict:
        if video_u8 is None:
            return self._audio_only(audio, generator)
        c, g, dev = self.cfg, generator, video_u8.device
        B, T = video_u8.shape[:2]
        rows = torch.arange(B, device=dev)
        t0 = rand_int(0, max(T - self.window_span(video_u8, audio), 0), (B,), g, dev)
        vg, wave = self._windows(video_u8, audio, t0, rows)
        out = {"global_start": t0, "video_global": self._video_aug(vg, c.video_size, c.global_crop_scale, 0, 0, g),
               "audio_global": self.logmel(volume_jitter(wave, c.global_volume_jitter, g)),
               "video_local": [], "audio_local": []}
        n = c.n_local_video
        if n:
            tl = rand_int(0, c.video_frames - c.local_video_frames, (n * B,), g, dev)
            vl = temporal_window(vg, tl, c.local_video_frames, rows=rows.repeat(n))
            out["video_local"] = list(self._video_aug(vl, c.local_video_size, c.local_crop_scale, c.local_gray_p,
                                                      c.local_blur_p, g).chunk(n))
        out["audio_local"] = self._audio_local(wave, B, g)
        return out

    def _audio_local(self, wave: Tensor, B: int, g) -> list:
        c, n, L, grid = self.cfg, self.cfg.n_local_audio, self.local_audio_samples, self.cfg.local_audio_start_grid
        if not n:
            return []
        s = rand_int(0, (self.global_audio_samples - L) // grid, (n * B,), g, wave.device) * grid
        al = self.logmel(volume_jitter(waveform_window(wave.repeat(n, 1), s, L), c.local_volume_jitter, g))
        if c.local_spec_crop:
            al = random_resize_crop_spec(al, c.spec_virtual_crop_scale, c.spec_freq_scale, c.spec_time_scale, g)
        return list(al.chunk(n))

    def _audio_only(self, audio: Tensor, g) -> dict:
        """Views of an audio-only batch (audio cache, audio-only method): a random global window of the
        clip, on the same video-frame grid as the audio-visual case, and its local segments."""
        c, dev = self.cfg, audio.device
        if audio.dim() != 2:
            raise ValueError(f"need audio [B, S]; got {tuple(audio.shape)}")
        B, S, L = audio.shape[0], audio.shape[1], self.global_audio_samples
        if S < L:
            raise ValueError(f"clips too short: {S} samples, need {L}")
        T = int(S * c.fps / self.sr)   # frames the clip would have; starts on that grid as with video
        t0 = rand_int(0, max(T - c.video_frames, 0), (B,), g, dev)
        a0 = torch.round(t0.double() * self.sr / c.fps).long().clamp(0, S - L)
        wave = waveform_window(audio.float(), a0, L)
        return {"global_start": t0, "video_global": None, "video_local": [],
                "audio_global": self.logmel(volume_jitter(wave, c.global_volume_jitter, g)),
                "audio_local": self._audio_local(wave, B, g)}


class EvalViews(_ViewsBase):
    """Multi-clip views for feature extraction and linear evaluation (Supp. A.5; Tables S1/S2 "Linear Eval.")."""

    @torch.no_grad()
    def clips(self, video_u8: Tensor, audio: Tensor, n_clips: int, train_aug: bool = False,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n_clips`` uniformly spaced windows per sample (starts ``np.linspace(0, T - Tg, n).round()``).

        Returns ``video [B*n, 3, Tg, S, S]`` and ``audio [B*n, 1, n_mels, Fg]``, sample-major (clip ``k`` of
        sample ``b`` in row ``b*n + k``). ``train_aug=False``: centre crop (``eval_crop_fraction``), no audio
        augmentation. ``train_aug=True``: RandomResizedCrop(``eval_crop_scale``) + flip + ColorJitter + grey
        (``eval_gray_p``) and volume jitter (``eval_volume_jitter``).
        """
        if n_clips < 1:
            raise ValueError(f"n_clips must be >= 1, got {n_clips}")
        c, dev = self.cfg, video_u8.device
        B, T = video_u8.shape[:2]
        span = self.window_span(video_u8, audio)
        if train_aug:  # Supp. A.5: training clips are sampled at random positions
            t0 = rand_int(0, max(T - span, 0), (B * n_clips,), generator, dev)
        else:
            starts = np.linspace(0, max(T - span, 0), n_clips).round().astype(np.int64)
            t0 = torch.as_tensor(starts, device=dev).repeat(B)
        v, wave = self._windows(video_u8, audio, t0, torch.arange(B, device=dev).repeat_interleave(n_clips))
        if train_aug:
            v = self._video_aug(v, c.video_size, c.eval_crop_scale, c.eval_gray_p, 0, generator)
            wave = volume_jitter(wave, c.eval_volume_jitter, generator)
        else:
            v = normalize(center_crop_resize(v, c.video_size, c.eval_crop_fraction))
        return v, self.logmel(wave)
