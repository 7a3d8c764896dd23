"""MAViL's Kaldi fbank front end and its dataset statistics (computed once, not per clip)."""

import json

import numpy as np
import pytest
import torch

from avlib.data.fbank_frontend import FbankFrontend, fbank_stats, read_fbank_stats, write_fbank_stats

kaldi = pytest.importorskip("torchaudio.compliance.kaldi")


def _audio(n=7, S=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(S) / 16000
    f = rng.uniform(200, 3000, (n, 1))
    return (0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal((n, S))).astype(np.float16)


def test_stats_match_torchaudio_fbank_pooled_over_every_clip_and_window():
    audio = _audio()
    fe = FbankFrontend(num_mel_bins=32, target_frames=64)
    got = fbank_stats(audio, fe, window_samples=8000, batch_size=3, show_progress=False)
    feats = []
    for clip in audio.astype(np.float32):
        for s in (0, 8000):  # the two non-overlapping 0.5 s windows of each 1 s clip
            w = torch.from_numpy(clip[s : s + 8000])[None]
            fb = kaldi.fbank(w - w.mean(), htk_compat=True, sample_frequency=16000, use_energy=False,
                             window_type="hanning", num_mel_bins=32, dither=0.0, frame_shift=10)
            feats.append(fb.double().numpy())
    allf = np.concatenate(feats)
    np.testing.assert_allclose(got["mean"], allf.mean(), rtol=1e-4)
    np.testing.assert_allclose(got["std"], allf.std(), rtol=1e-4)
    assert got["frames"] == len(allf) and got["clips"] == 7 and got["bins"] == 32
    # one dataset statistic, not per clip: the per-clip means spread around it
    assert np.std([f.mean() for f in feats]) > 0.01


def test_frontend_pads_to_target_frames_and_normalises_with_the_stats(tmp_path):
    p = write_fbank_stats({"mean": -3.0, "std": 2.0}, tmp_path / "s.json")
    assert read_fbank_stats(p) == (-3.0, 2.0) and json.loads(p.read_text())["std"] == 2.0
    fe = FbankFrontend(num_mel_bins=16, target_frames=80, mean=-3.0, std=2.0)
    wave = torch.from_numpy(_audio(2, 8000).astype(np.float32))
    assert fe.n_frames(8000) == 80 and fe.raw_frames(8000) == 48 and fe.hop_length == 160
    x = fe(wave)
    assert x.shape == (2, 1, 80, 16)
    raw = fe.log_fbank(wave)
    torch.testing.assert_close(x[:, 0, :48], (raw - (-3.0)) / (2 * 2.0))
    assert torch.equal(x[:, 0, 48:], torch.full_like(x[:, 0, 48:], 3.0 / 4.0))  # zero padding, normalised
    with pytest.raises(FileNotFoundError, match="avlib data fbank-stats"):
        read_fbank_stats(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"mean": 1.0, "std": 0}')
    with pytest.raises(ValueError, match="std must be > 0"):
        read_fbank_stats(tmp_path / "bad.json")
