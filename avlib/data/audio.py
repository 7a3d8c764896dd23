"""Audio front ends and batched audio augmentations (all vectorised over the batch).

* :class:`LogMel`: XKD's librosa log-mel (reference-notes §1.2), rebuilt on ``torch.stft`` with a
  Slaney mel filterbank held as a buffer. ``[B, S] -> [B, 1, n_mels, T]`` (frequency-major).
* :class:`KaldiFbank`: the AudioMAE/MAViL/CAV-MAE Kaldi fbank (reference-notes §3.1-3.3), a batched
  re-implementation of ``torchaudio.compliance.kaldi.fbank``. ``[B, S] -> [B, 1, T, n_bins]`` (time-major).
* :func:`volume_jitter`, :func:`random_resize_crop_spec` (BYOL-A), :func:`spec_augment`.

Randomness: every random function takes an optional ``torch.Generator``. Parameters are drawn on the
generator's device and moved to the data's device, so a CPU generator gives the same augmentation
parameters whether the data lives on CPU or GPU.
"""
from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# XKD ``(mel + torch.finfo().eps).log()`` (``codes/train/datasets/augmentations/audio_augmentations.py``).
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


# ----------------------------------------------------------------------------------------------
# random helpers (shared with ``avlib.data.views``)
# ----------------------------------------------------------------------------------------------
def rand_uniform(shape: Sequence[int], generator: torch.Generator | None, device: torch.device | str,
                 low: float | Tensor = 0.0, high: float | Tensor = 1.0) -> Tensor:
    """``U[low, high)`` float32 of ``shape``, drawn on the generator's device, returned on ``device``."""
    gen_device = generator.device if generator is not None else device
    u = torch.rand(tuple(shape), generator=generator, device=gen_device).to(device)
    return low + (high - low) * u


def rand_int(low: int | Tensor, high: int | Tensor, shape: Sequence[int], generator: torch.Generator | None,
             device: torch.device | str) -> Tensor:
    """Integers uniform in ``[low, high]`` (inclusive; ``high`` may be a per-element tensor), int64."""
    u = rand_uniform(shape, generator, device).double()
    n = (torch.as_tensor(high, device=device) - low + 1).double()
    return (low + torch.floor(u * n).clamp_max(n - 1)).long()


def _check_2d(wave: Tensor, name: str = "wave") -> None:
    if wave.dim() != 2 or not wave.is_floating_point():
        raise ValueError(f"{name} must be a float tensor [B, S], got {tuple(wave.shape)} {wave.dtype}")


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


# ----------------------------------------------------------------------------------------------
# XKD log-mel (librosa conventions)
# ----------------------------------------------------------------------------------------------
def hz_to_mel_slaney(f: Tensor) -> Tensor:
    """Slaney (Auditory Toolbox) mel scale, librosa ``htk=False``: linear below 1 kHz, log above."""
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    logstep = math.log(6.4) / 27.0
    log_part = min_log_hz / f_sp + torch.log(f.clamp_min(min_log_hz) / min_log_hz) / logstep
    return torch.where(f >= min_log_hz, log_part, f / f_sp)


def mel_to_hz_slaney(m: Tensor) -> Tensor:
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(m >= min_log_mel, min_log_hz * torch.exp(logstep * (m - min_log_mel)), f_sp * m)


def slaney_mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                          f_max: float | None = None) -> Tensor:
    """Triangular Slaney-scale filters with Slaney area norm (librosa ``filters.mel(htk=False, norm='slaney')``).

    Returns float64 ``[n_mels, n_fft // 2 + 1]``.
    """
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    if not 0.0 <= f_min < f_max <= sample_rate / 2.0:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={f_min}, f_max={f_max}")
    fft_freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    lims = hz_to_mel_slaney(torch.tensor([f_min, f_max], dtype=torch.float64))
    hz_pts = mel_to_hz_slaney(torch.linspace(float(lims[0]), float(lims[1]), n_mels + 2, dtype=torch.float64))
    fdiff = hz_pts[1:] - hz_pts[:-1]
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = torch.minimum(lower, upper).clamp_min(0.0)
    return weights * (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]


class LogMel(nn.Module):
    """XKD log-mel: ``(log(mel_power + eps) - mean) / std``.

    Reproduces ``librosa.feature.melspectrogram(power=2, center=True, pad_mode='constant', window='hann',
    htk=False, norm='slaney')`` (periodic Hann, zero-padded centred frames). ``eps`` defaults to float32
    machine epsilon (``torch.finfo().eps``), the value XKD's code used when its normalisation stats
    (``mean``, ``std``) were computed. librosa < 0.10 defaulted to ``pad_mode='reflect'``; pass it here to
    match that (only the first/last ``n_fft // (2 * hop)`` frames differ).

    Forward: waveform ``[B, S]`` float -> ``[B, 1, n_mels, T]`` with ``T = 1 + S // hop_length``.
    Computed in float32 (float64 inputs stay float64), also under autocast.
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 1024, hop_length: int = 143, n_mels: int = 80,
                 f_min: float = 0.0, f_max: float | None = None, eps: float = FLOAT32_EPS,
                 mean: float = -5.3688107, std: float = 4.410007,
                 pad_mode: Literal["constant", "reflect"] = "constant"):
        super().__init__()
        for name, v in (("sample_rate", sample_rate), ("n_fft", n_fft), ("hop_length", hop_length), ("n_mels", n_mels)):
            if int(v) != v or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if eps <= 0 or std <= 0:
            raise ValueError(f"eps and std must be > 0, got eps={eps}, std={std}")
        if pad_mode not in ("constant", "reflect"):
            raise ValueError(f"pad_mode must be 'constant' or 'reflect', got {pad_mode!r}")
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = int(sample_rate), int(n_fft), int(hop_length), int(n_mels)
        self.f_min, self.f_max, self.eps, self.mean, self.std, self.pad_mode = f_min, f_max, eps, mean, std, pad_mode
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True, dtype=torch.float64).float(),
                             persistent=False)
        fb = slaney_mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, f_min, f_max)
        self.register_buffer("fb", fb.float(), persistent=False)  # [n_mels, n_fft//2+1]
        # each weight twice, to weight (re^2, im^2) pairs: the matmul then sums re^2 + im^2 for free
        self.register_buffer("fb_ri", fb.repeat_interleave(2, dim=1).T.float(), persistent=False)  # [2F, n_mels]

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for ``n_samples`` samples (``center=True``): ``1 + n_samples // hop_length``."""
        return 1 + int(n_samples) // self.hop_length

    def mel_power(self, wave: Tensor) -> Tensor:
        """``[B, S]`` -> linear mel power, time-major ``[B, T, n_mels]`` (no log, no normalisation)."""
        _check_2d(wave)
        dt = _compute_dtype(wave)
        with torch.autocast(wave.device.type, enabled=False):
            x = wave.to(dt)
            spec = torch.stft(x, self.n_fft, hop_length=self.hop_length, win_length=self.n_fft,
                              window=self.window.to(dt), center=True, pad_mode=self.pad_mode,
                              normalized=False, onesided=True, return_complex=True)  # [B, F, T]
            ri = torch.view_as_real(spec.transpose(1, 2).contiguous()).square_()  # [B, T, F, 2]
            return torch.matmul(ri.flatten(2), self.fb_ri.to(dt))

    def forward(self, wave: Tensor) -> Tensor:
        out = (torch.log(self.mel_power(wave) + self.eps) - self.mean) / self.std  # [B, T, n_mels]
        return out.transpose(1, 2).unsqueeze(1).contiguous()

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"n_mels={self.n_mels}, eps={self.eps:.3g}, mean={self.mean}, std={self.std}")


# ----------------------------------------------------------------------------------------------
# Kaldi fbank (AudioMAE / MAViL / CAV-MAE)
# ----------------------------------------------------------------------------------------------
def kaldi_window(window_type: str, size: int) -> Tensor:
    """Kaldi ``feature-window`` functions (symmetric), float64 ``[size]``."""
    n = torch.arange(size, dtype=torch.float64)
    a = 2 * math.pi / (size - 1)
    if window_type == "hanning":
        return 0.5 - 0.5 * torch.cos(a * n)
    if window_type == "povey":
        return (0.5 - 0.5 * torch.cos(a * n)) ** 0.85
    if window_type == "hamming":
        return 0.54 - 0.46 * torch.cos(a * n)
    if window_type == "rectangular":
        return torch.ones(size, dtype=torch.float64)
    if window_type == "blackman":
        return 0.42 - 0.5 * torch.cos(a * n) + 0.08 * torch.cos(2 * a * n)
    raise ValueError(f"window_type must be hanning|povey|hamming|rectangular|blackman, got {window_type!r}")


def kaldi_mel_banks(num_bins: int, padded_window: int, sample_rate: float, low_freq: float = 20.0,
                    high_freq: float = 0.0) -> Tensor:
    """Kaldi/HTK mel triangles (``1127 ln(1 + f/700)``), float64 ``[num_bins, padded_window // 2 + 1]``.

    The last (Nyquist) column is zero, as in Kaldi. ``high_freq <= 0`` is an offset from Nyquist.
    """
    nyquist = 0.5 * sample_rate
    high = high_freq + nyquist if high_freq <= 0 else high_freq
    if not 0.0 <= low_freq < high <= nyquist:
        raise ValueError(f"need 0 <= low_freq < high_freq <= nyquist, got low_freq={low_freq}, high_freq={high}")
    mel = lambda f: 1127.0 * torch.log1p(torch.as_tensor(f, dtype=torch.float64) / 700.0)  # noqa: E731
    m_lo, m_hi = mel(low_freq), mel(high)
    delta = (m_hi - m_lo) / (num_bins + 1)
    b = torch.arange(num_bins, dtype=torch.float64)[:, None]
    left, center, right = m_lo + b * delta, m_lo + (b + 1) * delta, m_lo + (b + 2) * delta
    m = mel(torch.arange(padded_window // 2, dtype=torch.float64) * sample_rate / padded_window)[None, :]
    banks = torch.minimum((m - left) / (center - left), (right - m) / (right - center)).clamp_min(0.0)
    return F.pad(banks, (0, 1))


class KaldiFbank(nn.Module):
    """Batched ``torchaudio.compliance.kaldi.fbank`` with AudioMAE/MAViL normalisation.

    Per waveform: subtract its mean, frame with ``snip_edges=True``, (dither), remove each frame's DC,
    pre-emphasis 0.97, window, zero-pad to a power of two, power spectrum, mel banks, ``log(max(., eps))``
    with float32 eps; then zero-pad/cut to ``target_frames`` and normalise ``(x - mean) / (std_scale * std)``
    (AudioMAE/MAViL: ``std_scale=2``; CAV-MAE: ``mean=-5.081, std=4.4849, std_scale=1``). ``use_energy`` is
    off, so ``htk_compat`` does not change the output (kept for the record).

    Forward: ``[B, S]`` float -> ``[B, 1, T, num_mel_bins]`` (time-major), ``T = target_frames`` or
    ``1 + (S - win) // shift``.
    """

    def __init__(self, sample_rate: int = 16000, num_mel_bins: int = 128, frame_length: float = 25.0,
                 frame_shift: float = 10.0, window_type: str = "hanning", htk_compat: bool = True,
                 dither: float = 0.0, target_frames: int | None = None, mean: float = -4.268, std: float = 4.569,
                 std_scale: float = 2.0, preemphasis: float = 0.97, low_freq: float = 20.0, high_freq: float = 0.0):
        super().__init__()
        self.win = int(sample_rate * frame_length * 0.001)
        self.shift = int(sample_rate * frame_shift * 0.001)
        if self.win < 2 or self.shift < 1:
            raise ValueError(f"frame_length={frame_length} / frame_shift={frame_shift} ms too short at {sample_rate} Hz")
        if target_frames is not None and target_frames <= 0:
            raise ValueError(f"target_frames must be positive or None, got {target_frames}")
        if std <= 0 or std_scale <= 0 or dither < 0:
            raise ValueError(f"need std > 0, std_scale > 0, dither >= 0; got {std}, {std_scale}, {dither}")
        self.padded = 1 << (self.win - 1).bit_length()
        self.sample_rate, self.num_mel_bins, self.htk_compat = sample_rate, num_mel_bins, htk_compat
        self.dither, self.target_frames, self.preemphasis = dither, target_frames, preemphasis
        self.mean, self.std, self.std_scale = mean, std, std_scale
        self.register_buffer("window", kaldi_window(window_type, self.win).float(), persistent=False)
        self.register_buffer("banks", kaldi_mel_banks(num_mel_bins, self.padded, sample_rate, low_freq, high_freq).float(),
                             persistent=False)  # [bins, padded//2+1]

    def n_frames(self, n_samples: int) -> int:
        """Frames before padding/cutting (``snip_edges=True``)."""
        return 0 if n_samples < self.win else 1 + (int(n_samples) - self.win) // self.shift

    def log_fbank(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``[B, S]`` -> un-normalised, un-padded log mel energies ``[B, M, num_mel_bins]``."""
        _check_2d(wave)
        if wave.shape[1] < self.win:
            raise ValueError(f"wave has {wave.shape[1]} samples, fewer than one {self.win}-sample frame")
        dt = _compute_dtype(wave)
        with torch.autocast(wave.device.type, enabled=False):
            x = wave.to(dt)
            x = x - x.mean(dim=1, keepdim=True)
            frames = x.unfold(1, self.win, self.shift)  # [B, M, win]
            if self.dither > 0:
                gen_dev = generator.device if generator is not None else x.device
                noise = torch.randn(frames.shape, generator=generator, device=gen_dev, dtype=dt)
                frames = frames + self.dither * noise.to(x.device)
            frames = frames - frames.mean(dim=2, keepdim=True)
            prev = torch.cat([frames[..., :1], frames[..., :-1]], dim=2)
            frames = (frames - self.preemphasis * prev) * self.window.to(dt)
            spec = torch.fft.rfft(frames, n=self.padded, dim=2)
            power = spec.real.square() + spec.imag.square()
            mel = torch.matmul(power, self.banks.to(dt).T)
            return mel.clamp_min(FLOAT32_EPS).log()

    def forward(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        fb = self.log_fbank(wave, generator)
        if self.target_frames is not None:
            p = self.target_frames - fb.shape[1]
            fb = F.pad(fb, (0, 0, 0, p)) if p > 0 else fb[:, : self.target_frames]
        return ((fb - self.mean) / (self.std_scale * self.std)).unsqueeze(1)


# ----------------------------------------------------------------------------------------------
# augmentations
# ----------------------------------------------------------------------------------------------
def volume_jitter(wave: Tensor, scale: float, generator: torch.Generator | None = None) -> Tensor:
    """Multiply each clip of ``wave [B, S]`` by ``1 + u``, ``u ~ U(-scale, scale)`` per clip."""
    _check_2d(wave)
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    if scale == 0:
        return wave
    u = rand_uniform((wave.shape[0], 1), generator, wave.device, -scale, scale)
    return wave * (1.0 + u).to(wave.dtype)


def sample_resize_crop_params(B: int, F_: int, T: int, virtual_crop_scale: Sequence[float],
                              freq_scale: Sequence[float], time_scale: Sequence[float],
                              generator: torch.Generator | None, device) -> Tensor:
    """BYOL-A ``RandomResizeCrop.get_params`` for a batch: int64 ``[B, 4]`` = ``(i, j, h, w)`` on the canvas."""
    ch, cw = int(F_ * virtual_crop_scale[0]), int(T * virtual_crop_scale[1])
    h = torch.floor(rand_uniform((B,), generator, device, *freq_scale) * F_).long().clamp(1, ch)
    w = torch.floor(rand_uniform((B,), generator, device, *time_scale) * T).long().clamp(1, cw)
    i = rand_int(0, ch - h, (B,), generator, device)
    j = rand_int(0, cw - w, (B,), generator, device)
    return torch.stack([i, j, h, w], dim=1)


def resize_crop_spec(spec: Tensor, params: Tensor, virtual_crop_scale: Sequence[float],
                     mode: Literal["bicubic", "bilinear"] = "bicubic") -> Tensor:
    """Crop ``params [B, 4] (i, j, h, w)`` from the zero canvas around ``spec [B, C, F, T]`` and resize it
    back to ``[F, T]`` (``align_corners=True``), with one ``affine_grid``/``grid_sample`` call."""
    B, _, F_, T = spec.shape
    if F_ < 2 or T < 2:
        raise ValueError(f"spec must have F, T >= 2, got {tuple(spec.shape)}")
    ch, cw = int(F_ * virtual_crop_scale[0]), int(T * virtual_crop_scale[1])
    y0, x0 = (ch - F_) // 2, (cw - T) // 2
    dt = spec.dtype if spec.dtype == torch.float64 else torch.float32
    p = params.to(spec.device, dt)
    i, j, h, w = p.unbind(1)
    theta = torch.zeros(B, 2, 3, device=spec.device, dtype=dt)
    theta[:, 0, 0] = (w - 1) / (T - 1)
    theta[:, 0, 2] = (2 * (j - x0) + w - 1) / (T - 1) - 1
    theta[:, 1, 1] = (h - 1) / (F_ - 1)
    theta[:, 1, 2] = (2 * (i - y0) + h - 1) / (F_ - 1) - 1
    grid = F.affine_grid(theta, [B, 1, F_, T], align_corners=True)
    return F.grid_sample(spec.to(dt), grid, mode=mode, padding_mode="zeros", align_corners=True).to(spec.dtype)


def random_resize_crop_spec(spec: Tensor, virtual_crop_scale: Sequence[float] = (1.0, 1.5),
                            freq_scale: Sequence[float] = (0.6, 1.5), time_scale: Sequence[float] = (0.6, 1.5),
                            generator: torch.Generator | None = None,
                            mode: Literal["bicubic", "bilinear"] = "bicubic") -> Tensor:
    """BYOL-A RandomResizeCrop (XKD local audio view), per clip; output has the input's shape.

    ``spec [B, C, F, T]`` is centred on a zero canvas of ``(int(F * vcs[0]), int(T * vcs[1]))`` (``virtual_crop_scale``
    is the ``(F, T)`` canvas ratio, not a range), a ``(U(freq_scale) * F, U(time_scale) * T)`` box is
    drawn on it and resized back to ``[F, T]``. Differs from BYOL-A's ``F.interpolate`` of the cut-out box only
    in bicubic taps that reach one pixel past the box edge (exact for ``mode='bilinear'``).
    """
    if spec.dim() != 4:
        raise ValueError(f"spec must be [B, C, F, T], got {tuple(spec.shape)}")
    for name, rng in (("freq_scale", freq_scale), ("time_scale", time_scale)):
        if len(rng) != 2 or not 0 < rng[0] <= rng[1]:
            raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {rng}")
    if len(virtual_crop_scale) != 2 or min(virtual_crop_scale) < 1.0:
        raise ValueError(f"virtual_crop_scale must be (F ratio, T ratio) >= 1, got {virtual_crop_scale}")
    B, _, F_, T = spec.shape
    params = sample_resize_crop_params(B, F_, T, virtual_crop_scale, freq_scale, time_scale, generator, spec.device)
    return resize_crop_spec(spec, params, virtual_crop_scale, mode)


def spec_augment(spec: Tensor, freq_mask: int, time_mask: int, generator: torch.Generator | None = None,
                 n_freq_masks: int = 1, n_time_masks: int = 1, mask_value: float = 0.0,
                 layout: Literal["ft", "tf"] = "ft") -> Tensor:
    """SpecAugment masking, independent per clip (torchaudio ``mask_along_axis_iid`` semantics).

    For each mask: width ``~ U[0, max_width)``, start ``~ U[0, size - width)``, band ``[start, start+width)`` set
    to ``mask_value``. ``spec [B, C, F, T]`` (``layout='ft'``, LogMel) or ``[B, C, T, F]`` (``'tf'``, KaldiFbank).
    """
    if spec.dim() != 4 or layout not in ("ft", "tf"):
        raise ValueError(f"spec must be [B, C, F, T] with layout 'ft'|'tf', got {tuple(spec.shape)}, {layout!r}")
    if freq_mask < 0 or time_mask < 0:
        raise ValueError(f"freq_mask and time_mask must be >= 0, got {freq_mask}, {time_mask}")
    B = spec.shape[0]
    f_dim, t_dim = (2, 3) if layout == "ft" else (3, 2)
    keep = torch.ones(B, 1, spec.shape[2], spec.shape[3], dtype=torch.bool, device=spec.device)
    for dim, width, n in ((f_dim, freq_mask, n_freq_masks), (t_dim, time_mask, n_time_masks)):
        if width == 0 or n == 0:
            continue
        size = spec.shape[dim]
        val = rand_uniform((B, n), generator, spec.device) * width
        lo = rand_uniform((B, n), generator, spec.device) * (size - val)
        start, end = lo.long(), (lo + val).long()
        idx = torch.arange(size, device=spec.device)
        band = ((idx >= start[..., None]) & (idx < end[..., None])).any(dim=1)  # [B, size]
        shape = [B, 1, 1, 1]
        shape[dim] = size
        keep &= ~band.view(shape)
    return torch.where(keep, spec, torch.as_tensor(mask_value, dtype=spec.dtype, device=spec.device))
