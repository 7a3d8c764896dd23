"""Tests of media encoding/decoding (avlib.data.media): round trips, frame sampling, A/V sync, errors."""
import pickle

import numpy as np
import pytest

from avlib.data import avsynth as A
from avlib.data.media import (MediaError, decode_audio, decode_clip, decode_video, write_audio,
                              write_av_mp4)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def onset(x, sr, rel=0.1):
    return np.argmax(np.abs(x) > rel * np.abs(x).max()) / sr


@pytest.fixture(scope="module")
def synth_mp4(tmp_path_factory):
    frames, audio = A.render_clip(6, np.random.default_rng([0, 6]), A.AVSynthSpec())
    path = write_av_mp4(tmp_path_factory.mktemp("m") / "clip.mp4", frames, 16, audio, 22050)
    return path, frames, audio


def test_round_trip_generated_clip(synth_mp4):
    path, frames, audio = synth_mp4
    c = decode_clip(path, fps=16, size=96, sample_rate=16000)
    assert c.video.shape == frames.shape and c.video.dtype == np.uint8
    assert psnr(c.video, frames) > 25
    assert c.audio.dtype == np.float32 and c.audio.shape == (48000,)  # exactly 3 s at 16 kHz
    assert c.native_sample_rate == 22050 and c.video_seconds == pytest.approx(3.0)
    assert decode_audio(path, None).shape == (66150,)  # native rate, AAC padding trimmed
    # resampled audio still matches the source (AAC is lossy: correlation, not equality)
    from avlib.data.media import resample
    ref = resample(audio, 22050, 16000)
    assert np.corrcoef(ref, c.audio)[0, 1] > 0.95
    v = decode_video(path, fps=8, size=64)
    assert v.shape == (24, 64, 64, 3)


def test_frame_sampling_nearest_and_square_crop(tmp_path):
    T = 32  # 2 s at 16 fps; frame k has brightness 6k; a 64x96 (HxW) frame with a red left / blue right edge
    frames = np.zeros((T, 64, 96, 3), np.uint8)
    frames[..., 1] = (6 * np.arange(T, dtype=np.uint8))[:, None, None]
    frames[:, :, :16, 0] = 255
    frames[:, :, -16:, 2] = 255
    path = write_av_mp4(tmp_path / "ramp.mp4", frames, 16)
    v = decode_video(path, fps=4, size=48)  # short side 64 -> 48, width 72 -> centre crop 48
    assert v.shape == (8, 48, 48, 3)
    g = v[..., 1].reshape(8, -1).mean(1)
    assert np.allclose(g, 6 * np.arange(0, T, 4), atol=3)  # frames 0, 4, 8, ...: nearest to k/4 s
    assert v[..., 0].max() < 60 and v[..., 2].max() < 60  # side bars (12 px after resize) cropped away
    full = decode_video(path, fps=16, size=64)
    assert full.shape == (32, 64, 64, 3)


def test_av_sync_after_aac_priming(tmp_path):
    sr, on = 22050, 1.25
    audio = np.zeros(2 * sr, np.float32)
    n = int(0.1 * sr)
    i0 = int(on * sr)
    audio[i0:i0 + n] = 0.6 * np.sin(2 * np.pi * 523 * np.arange(n) / sr) * np.exp(-np.arange(n) / (0.03 * sr))
    frames = np.full((32, 32, 32, 3), 20, np.uint8)
    frames[int(on * 16)] = 235  # the visual flash at the same time as the sound
    path = write_av_mp4(tmp_path / "sync.mp4", frames, 16, audio, sr)
    c = decode_clip(path, fps=16, size=32, sample_rate=16000)
    t_audio, t_video = onset(c.audio, 16000), np.argmax(c.video.mean((1, 2, 3))) / 16
    assert abs(t_audio - on) < 0.005, t_audio
    assert t_video == pytest.approx(on)


def test_soundfile_path_resamples_wrong_rate(tmp_path):
    sr = 8000
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)).astype(np.float32)
    for ext in ("wav", "flac"):
        p = write_audio(tmp_path / f"tone.{ext}", x, sr)
        y = decode_audio(p, 16000)
        assert y.shape == (16000,) and y.dtype == np.float32
        spec = np.abs(np.fft.rfft(y[2000:-2000]))
        assert np.argmax(spec) * 16000 / len(y[2000:-2000]) == pytest.approx(440, abs=2)
        assert decode_clip(p, want_video=False, sample_rate=None).native_sample_rate == sr


def test_errors_carry_reason(tmp_path, synth_mp4):
    with pytest.raises(MediaError) as e:
        decode_audio(tmp_path / "nope.mp4", 16000)
    assert e.value.reason == "missing_file"
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(MediaError) as e:
        decode_video(bad, 8, 32)
    assert e.value.reason == "decode_error" and "garbage.mp4" in str(e.value)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(synth_mp4[0].read_bytes()[: 20000])
    with pytest.raises(MediaError) as e:
        decode_clip(cut, fps=8, size=32, sample_rate=16000)
    assert e.value.reason == "decode_error"
    silent_video = write_av_mp4(tmp_path / "v.mp4", np.zeros((8, 32, 32, 3), np.uint8), 8)
    with pytest.raises(MediaError) as e:
        decode_audio(silent_video, 16000)
    assert e.value.reason == "no_audio_stream"
    flac = write_audio(tmp_path / "a.flac", np.zeros(800, np.float32), 8000)
    with pytest.raises(MediaError) as e:
        decode_video(flac, 8, 32)
    assert e.value.reason == "no_video_stream"
    m4a = write_av_mp4(tmp_path / "a.m4a", None, 8, np.zeros(8000, np.float32), 8000)
    with pytest.raises(MediaError) as e:
        decode_video(m4a, 8, 32)
    assert e.value.reason == "no_video_stream"
    again = pickle.loads(pickle.dumps(e.value))  # crosses worker processes intact
    assert again.reason == "no_video_stream" and again.path == str(m4a)
    with pytest.raises(ValueError, match="uint8"):
        write_av_mp4(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.float32), 8)
