"""Audio front ends and augmentations vs independent references (NumPy float64, librosa, torchaudio)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avlib.data.audio import (FLOAT32_EPS, KaldiFbank, LogMel, random_resize_crop_spec, resize_crop_spec,
                              sample_resize_crop_params, spec_augment, volume_jitter)

SR = 16000


def _signal(n_clips: int = 3, n: int = SR, seed: int = 0) -> np.ndarray:
    """Broadband test audio (noise + tones + chirp), float64 [B, S], so every mel band has energy."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    out = []
    for b in range(n_clips):
        x = 0.05 * rng.standard_normal(n) + 0.3 * np.sin(2 * np.pi * (220 * (b + 1)) * t)
        x += 0.2 * np.sin(2 * np.pi * (100 + 3000 * t) * t) + 0.1 * np.sin(2 * np.pi * 6000 * t)
        out.append(x)
    return np.stack(out)


# ------------------------------------------------------------------------------------------------
# NumPy float64 references, written from the definitions (not from the module under test)
# ------------------------------------------------------------------------------------------------
def _np_slaney_fb(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    def hz2mel(f):
        f = np.asarray(f, dtype=np.float64)
        lin = f * 3.0 / 200.0
        return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) * 27.0 / np.log(6.4), lin)

    def mel2hz(m):
        return np.where(m >= 15.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0), m * 200.0 / 3.0)

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel2hz(np.linspace(hz2mel(fmin), hz2mel(fmax), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        rise = (freqs - lo) / (c - lo)
        fall = (hi - freqs) / (hi - c)
        fb[m] = np.maximum(0.0, np.minimum(rise, fall)) * 2.0 / (hi - lo)
    return fb


def _np_logmel(x: np.ndarray, n_fft=1024, hop=143, n_mels=80, eps=FLOAT32_EPS) -> np.ndarray:
    """Explicit zero-padded centred framing + periodic Hann + DFT (matrix, not FFT) + Slaney mel."""
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    dft = np.exp(-2j * np.pi * k * np.arange(n_fft)[None, :] / n_fft)
    fb = _np_slaney_fb(SR, n_fft, n_mels, 0.0, SR / 2)
    out = []
    for w in x:
        p = np.pad(w, n_fft // 2)
        n_frames = 1 + len(w) // hop
        frames = np.stack([p[t * hop: t * hop + n_fft] for t in range(n_frames)])  # [T, n_fft]
        power = np.abs((frames * win) @ dft.T) ** 2  # [T, F]
        out.append(np.log(power @ fb.T + eps).T)  # [n_mels, T]
    return np.stack(out)


def _np_kaldi_fbank(x: np.ndarray, n_bins=128, win_ms=25.0, shift_ms=10.0, low=20.0) -> np.ndarray:
    """Kaldi fbank: snip_edges framing, DC removal, pre-emphasis 0.97, symmetric Hann ('hanning'),
    zero-pad to a power of two, |FFT|^2, HTK mel triangles over [low, Nyquist], log floored at float eps."""
    win, shift = int(SR * win_ms / 1000), int(SR * shift_ms / 1000)
    nfft = 1 << int(math.ceil(math.log2(win)))
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / (win - 1))
    mel = lambda f: 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)  # noqa: E731
    centres = np.linspace(mel(low), mel(SR / 2), n_bins + 2)
    fft_mel = mel(np.arange(nfft // 2 + 1) * SR / nfft)
    banks = np.zeros((n_bins, nfft // 2 + 1))
    for m in range(n_bins):
        l, c, r = centres[m], centres[m + 1], centres[m + 2]
        banks[m] = np.clip(np.minimum((fft_mel - l) / (c - l), (r - fft_mel) / (r - c)), 0.0, None)
    banks[:, -1] = 0.0  # Kaldi leaves the Nyquist bin out
    out = []
    for w in x:
        w = w - w.mean()
        n_frames = 1 + (len(w) - win) // shift
        rows = []
        for t in range(n_frames):
            f = w[t * shift: t * shift + win].copy()
            f -= f.mean()
            f = np.concatenate([[f[0] - 0.97 * f[0]], f[1:] - 0.97 * f[:-1]])
            spec = np.abs(np.fft.rfft(f * hann, n=nfft)) ** 2
            rows.append(np.log(np.maximum(banks @ spec, np.finfo(np.float32).eps)))
        out.append(np.stack(rows))
    return np.stack(out)  # [B, T, n_bins]


# ------------------------------------------------------------------------------------------------
# LogMel
# ------------------------------------------------------------------------------------------------
def test_logmel_matches_numpy_float64_reference():
    x = _signal(3, 8000)
    ref = _np_logmel(x)
    lm = LogMel(mean=0.0, std=1.0)
    out32 = lm(torch.from_numpy(x).float())
    assert out32.shape == (3, 1, 80, lm.n_frames(8000)) == (3, 1, 80, 56)
    assert np.abs(out32[:, 0].double().numpy() - ref).max() < 2e-3
    out64 = lm(torch.from_numpy(x))  # float64 path (filterbank and window stored in float32)
    assert out64.dtype == torch.float64
    assert np.abs(out64[:, 0].numpy() - ref).max() < 1e-5


def test_logmel_normalisation_and_frame_counts():
    lm = LogMel()
    assert (lm.n_frames(64000), lm.n_frames(16000), lm.n_frames(32000)) == (448, 112, 224)  # 4 s, 1 s, 2 s
    x = torch.from_numpy(_signal(2, 4000))
    raw = LogMel(mean=0.0, std=1.0)(x)
    torch.testing.assert_close(lm(x), (raw + 5.3688107) / 4.410007)
    silent = lm(torch.zeros(1, 1000))  # log(eps) floor, XKD's torch.finfo().eps
    torch.testing.assert_close(silent, torch.full_like(silent, (math.log(FLOAT32_EPS) + 5.3688107) / 4.410007))


def test_logmel_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = _signal(2, SR)
    ref = librosa.feature.melspectrogram(y=x.astype(np.float32), sr=SR, n_fft=1024, hop_length=143, n_mels=80,
                                         fmin=0.0, fmax=None, power=2.0, center=True, pad_mode="constant",
                                         window="hann", htk=False, norm="slaney")
    out = LogMel(mean=0.0, std=1.0)(torch.from_numpy(x).float())[:, 0].numpy()
    assert np.abs(out - np.log(ref + FLOAT32_EPS)).max() < 2e-3
    fb = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=80, fmin=0.0, fmax=None, htk=False, norm="slaney")
    assert np.abs(LogMel().fb.numpy() - fb).max() < 1e-7


def test_logmel_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hop_length"):
        LogMel(hop_length=0)
    with pytest.raises(ValueError, match="f_max"):
        LogMel(f_min=9000.0)
    with pytest.raises(ValueError, match=r"wave must be a float tensor \[B, S\]"):
        LogMel()(torch.zeros(16000))


# ------------------------------------------------------------------------------------------------
# KaldiFbank
# ------------------------------------------------------------------------------------------------
def test_kaldi_fbank_matches_numpy_float64_reference():
    x = _signal(2, 4000, seed=1) + 0.01  # a DC offset, removed per waveform and per frame
    ref = _np_kaldi_fbank(x)
    kf = KaldiFbank(mean=0.0, std=1.0, std_scale=1.0)
    out64 = kf(torch.from_numpy(x))
    assert out64.shape == (2, 1, 23, 128) and kf.n_frames(4000) == 23
    assert np.abs(out64[:, 0].numpy() - ref).max() < 5e-4  # float64 signal, float32-stored window/banks
    assert np.abs(kf(torch.from_numpy(x).float())[:, 0].double().numpy() - ref).max() < 5e-3


def test_kaldi_fbank_matches_torchaudio_per_waveform():
    kaldi = pytest.importorskip("torchaudio.compliance.kaldi")
    x = torch.from_numpy(_signal(3, 8000, seed=2)).float()
    out = KaldiFbank(mean=-4.268, std=4.569, std_scale=2.0)(x)
    for b in range(3):
        w = x[b:b + 1] - x[b].mean()
        ref = kaldi.fbank(w, htk_compat=True, sample_frequency=SR, use_energy=False, window_type="hanning",
                          num_mel_bins=128, dither=0.0, frame_shift=10)
        torch.testing.assert_close(out[b, 0], (ref + 4.268) / (2 * 4.569), atol=2e-3, rtol=0)


def test_kaldi_fbank_pads_with_zeros_before_normalising_and_cuts():
    x = torch.from_numpy(_signal(2, 4000)).float()  # 23 frames
    base = KaldiFbank(mean=0.0, std=1.0, std_scale=1.0)(x)
    padded = KaldiFbank(target_frames=30)(x)
    assert padded.shape == (2, 1, 30, 128)
    torch.testing.assert_close(padded[:, :, :23], (base - -4.268) / (2 * 4.569))
    torch.testing.assert_close(padded[:, :, 23:], torch.full_like(padded[:, :, 23:], 4.268 / (2 * 4.569)))
    cut = KaldiFbank(mean=0.0, std=1.0, std_scale=1.0, target_frames=10)(x)
    torch.testing.assert_close(cut, base[:, :, :10])
    with pytest.raises(ValueError, match="fewer than one 400-sample frame"):
        KaldiFbank()(torch.zeros(1, 300))
    with pytest.raises(ValueError, match="window_type"):
        KaldiFbank(window_type="kaiser")


# ------------------------------------------------------------------------------------------------
# augmentations
# ------------------------------------------------------------------------------------------------
def test_volume_jitter_is_one_gain_per_clip_within_range_and_deterministic():
    x = torch.rand(64, 500) + 0.5
    y = volume_jitter(x, 0.2, torch.Generator().manual_seed(3))
    gain = y / x
    assert torch.allclose(gain, gain[:, :1].expand_as(gain), atol=1e-6)
    assert gain.min() >= 0.8 - 1e-6 and gain.max() <= 1.2 + 1e-6 and gain[:, 0].std() > 0.05
    torch.testing.assert_close(y, volume_jitter(x, 0.2, torch.Generator().manual_seed(3)))
    assert volume_jitter(x, 0.0) is x
    with pytest.raises(ValueError, match="scale"):
        volume_jitter(x, -0.1)


def _byol_reference(spec: torch.Tensor, params: torch.Tensor, vcs, mode: str) -> torch.Tensor:
    """BYOL-A RandomResizeCrop, one clip at a time: zero canvas, paste at centre, cut, F.interpolate."""
    out = []
    _, _, Fq, T = spec.shape
    ch, cw = int(Fq * vcs[0]), int(T * vcs[1])
    for b, (i, j, h, w) in enumerate(params.tolist()):
        canvas = torch.zeros(spec.shape[1], ch, cw, dtype=spec.dtype)
        y0, x0 = (ch - Fq) // 2, (cw - T) // 2
        canvas[:, y0:y0 + Fq, x0:x0 + T] = spec[b]
        crop = canvas[:, i:i + h, j:j + w]
        out.append(F.interpolate(crop[None], size=(Fq, T), mode=mode, align_corners=True)[0])
    return torch.stack(out)


def test_resize_crop_spec_matches_byol_reference():
    spec = torch.randn(16, 1, 20, 32, dtype=torch.float64)
    vcs = (1.0, 1.5)
    params = sample_resize_crop_params(16, 20, 32, vcs, (0.6, 1.5), (0.6, 1.5), torch.Generator().manual_seed(0), "cpu")
    ch, cw = 20, 48
    i, j, h, w = params.unbind(1)
    assert (h >= 1).all() and (h <= ch).all() and (w >= 1).all() and (w <= cw).all()
    assert (i >= 0).all() and (i + h <= ch).all() and (j >= 0).all() and (j + w <= cw).all()
    params = params[(h > 1) & (w > 1)]
    spec = spec[: len(params)]
    torch.testing.assert_close(resize_crop_spec(spec, params, vcs, "bilinear"),
                               _byol_reference(spec, params, vcs, "bilinear"), atol=1e-10, rtol=0)
    # bicubic: identical away from the box edges (taps there reach one pixel past the box)
    ours, ref = resize_crop_spec(spec, params, vcs, "bicubic"), _byol_reference(spec, params, vcs, "bicubic")
    assert (ours - ref).abs().mean() < 0.05 * ref.abs().mean()


def test_random_resize_crop_spec_identity_and_randomness():
    spec = torch.randn(4, 1, 80, 112)
    ident = random_resize_crop_spec(spec, (1.0, 1.0), (1.0, 1.0), (1.0, 1.0), torch.Generator().manual_seed(0))
    torch.testing.assert_close(ident, spec, atol=1e-4, rtol=0)
    a = random_resize_crop_spec(spec, generator=torch.Generator().manual_seed(1))
    b = random_resize_crop_spec(spec, generator=torch.Generator().manual_seed(1))
    assert a.shape == spec.shape and torch.equal(a, b)
    assert not torch.allclose(a, spec)
    with pytest.raises(ValueError, match="virtual_crop_scale"):
        random_resize_crop_spec(spec, (0.5, 1.0))


@pytest.mark.parametrize("layout", ["ft", "tf"])
def test_spec_augment_masks_contiguous_bands_per_clip(layout):
    B, Fq, T = 32, 40, 100
    spec = torch.rand(B, 1, Fq, T) + 1.0 if layout == "ft" else torch.rand(B, 1, T, Fq) + 1.0
    out = spec_augment(spec, freq_mask=10, time_mask=30, generator=torch.Generator().manual_seed(0), layout=layout)
    masked = (out == 0)[:, 0]
    if layout == "tf":
        masked = masked.transpose(1, 2)
    assert torch.equal(out[~(out == 0)], spec[~(out == 0)])
    f_rows, t_cols = masked.all(dim=2), masked.all(dim=1)  # fully masked frequency rows / time columns
    assert torch.equal(masked, f_rows[:, :, None] | t_cols[:, None, :])  # nothing else was touched
    for rows, limit in ((f_rows, 10), (t_cols, 30)):
        n = rows.sum(dim=1)
        assert n.max() <= limit and n.float().std() > 0  # width <= max width, differs between clips
        idx = [torch.nonzero(r)[:, 0] for r in rows if r.any()]
        assert all(int(i[-1] - i[0]) + 1 == len(i) for i in idx)  # one contiguous band
