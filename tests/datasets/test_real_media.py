"""Real recordings decoded for real: CREMA-D's FLV (VP6 + MP3) and MP3 files, the Big Buck Bunny
H.264/AAC clip and a VGGSound WAV; frame counts and sample counts are checked against the container's
own durations, and the two streams of an audio-visual file must agree in length."""

import pytest

from avlib import datasets as D
from avlib.data.media import decode_audio, decode_clip


def test_crema_d_flv_video_and_audio(real_data):
    L = D.load("crema_d", real_data / "crema_d")
    videos = L.df[L.df["present"] & L.df["has_video"]]
    assert len(videos) == 6
    for rel in videos["path"]:
        c = decode_clip(real_data / "crema_d" / rel, fps=30000 / 1001, size=64, sample_rate=16000)
        assert c.video.shape[1:] == (64, 64, 3) and c.video.std() > 5  # real pictures, not blank
        assert 1.0 < c.video_seconds < 6.0 and 1.0 < c.audio_seconds < 6.0  # CREMA-D sentences: 1-5 s
        assert abs(c.video_seconds - c.audio_seconds) < 0.15  # A/V durations agree
        assert abs(len(c.video) - c.video_seconds * 30000 / 1001) <= 2
        assert abs(len(c.audio) - c.audio_seconds * 16000) <= 16000 * 0.01
        assert c.native_sample_rate in (16000, 22050, 44100)
        assert 1e-3 < float((c.audio**2).mean()) ** 0.5 < 1.0  # speech, not silence/clipping


def test_crema_d_separate_mp3(real_data):
    L = D.load("crema_d", real_data / "crema_d")
    mp3 = L.df.loc[L.df["audio_path"] != "", "audio_path"]
    assert len(mp3) == 6
    for rel in mp3:
        a = decode_audio(real_data / "crema_d" / rel, 16000)
        assert 1.0 * 16000 < len(a) < 6.0 * 16000 and abs(a).max() > 0.01


def test_av_fixtures(real_data):
    c = decode_clip(real_data / "av_fixtures/bigbuckbunny.mp4", fps=25, size=112, sample_rate=16000)
    assert c.native_sample_rate == 48000
    assert c.video_seconds == pytest.approx(5.3, abs=0.1) and c.audio_seconds == pytest.approx(5.3, abs=0.1)
    assert abs(len(c.video) - 25 * c.video_seconds) <= 1
    assert abs(len(c.audio) / 16000 - c.audio_seconds) < 0.01
    w = decode_audio(real_data / "av_fixtures/vggsound_FwVYUHKoLtQ_000034.wav", None)
    assert len(w) / 16000 == pytest.approx(10.0, abs=0.01) and abs(w).max() > 0.05  # a 10 s clip at 16 kHz
