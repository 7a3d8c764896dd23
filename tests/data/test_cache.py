"""Tests of the decode-once cache (avlib.data.cache) with deliberately broken inputs."""
import json
import logging

import numpy as np
import pandas as pd
import pytest

from avlib.data.cache import CacheError, build_cache, load_cache
from avlib.data.manifest import Manifest, ManifestError
from avlib.data.media import write_audio, write_av_mp4

FPS, SIZE, SR, SECS = 8, 32, 16000, 2.0


def tone(seconds, sr, f=440.0, amp=0.4):
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * f * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def frames(seconds, value=100):
    n = int(round(seconds * FPS))
    v = np.full((n, SIZE, SIZE, 3), value, np.uint8)
    v[:, :, :, 0] = (np.arange(n) * 10 % 255)[:, None, None]
    return v


def write_manifest(root, rows):
    df = pd.DataFrame(rows, columns=["clip_id", "path", "split", "label", "label_name", "duration"])
    Manifest(df, root=root).write(root / "manifest.csv")


@pytest.fixture(scope="module")
def broken_av(tmp_path_factory):
    """A dataset with 5 good AV clips and one of each kind of bad input."""
    root = tmp_path_factory.mktemp("ds")
    (root / "media").mkdir()
    rows = []
    for i in range(5):
        rate = 22050 if i == 0 else SR  # one clip at another rate: resampled, not skipped
        write_av_mp4(root / f"media/good{i}.mp4", frames(SECS, 60 + 30 * i), FPS, tone(SECS, rate, 300 + 50 * i), rate)
        rows.append((f"good{i}", f"media/good{i}.mp4", "train" if i < 3 else "test", str(i % 2), f"c{i % 2}", SECS))
    full = (root / "media/good1.mp4").read_bytes()
    (root / "media/truncated.mp4").write_bytes(full[: len(full) // 2])
    write_av_mp4(root / "media/noaudio.mp4", frames(SECS), FPS)
    write_av_mp4(root / "media/silent.mp4", frames(SECS), FPS, np.zeros(int(SECS * SR), np.float32), SR)
    write_av_mp4(root / "media/short.mp4", frames(1.0), FPS, tone(1.0, SR), SR)
    bad = [("truncated", "media/truncated.mp4"), ("noaudio", "media/noaudio.mp4"), ("silent", "media/silent.mp4"),
           ("short", "media/short.mp4"), ("ghost", "media/does_not_exist.mp4")]
    rows += [(cid, p, "train", "1", "c1", SECS) for cid, p in bad]
    rows.append(("badlabel", "media/good2.mp4", "train", "", "", SECS))  # unreadable manifest row
    write_manifest(root, rows)
    return root


EXPECTED = {"decode_error": 1, "no_audio_stream": 1, "silent_audio": 1, "too_short": 1, "missing_file": 1,
            "bad_manifest_row": 1, "no_video_stream": 0}


def test_bad_inputs_are_skipped_counted_and_listed(broken_av, tmp_path, caplog):
    out = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="avlib.data.cache"):
        meta = build_cache(broken_av, out, fps=FPS, size=SIZE, sample_rate=SR, seconds=SECS, modality="av",
                           max_skip_fraction=0.6, progress=False, workers=2)
    assert {k: meta["skipped"][k] for k in EXPECTED} == EXPECTED
    assert meta["n_rows"] == 11 and meta["n_kept"] == 5 and meta["resampled"] == 1
    assert meta["native_sample_rates"] == {"22050": 1, "16000": 4}
    assert meta["per_split"]["train"] == {"rows": 9, "kept": 3, "skipped": 6}
    on_disk = json.loads((out / "meta.json").read_text())
    assert on_disk["skipped"] == meta["skipped"]
    # the return is meta.json exactly, no timings: `data cache` writes it into summary.json, a DVC output
    assert json.loads(json.dumps(meta, default=str)) == on_disk
    sk = pd.read_csv(out / "skipped.csv", keep_default_na=False)
    assert dict(zip(sk["path"], sk["reason"])) == {
        "media/truncated.mp4": "decode_error", "media/noaudio.mp4": "no_audio_stream",
        "media/silent.mp4": "silent_audio", "media/short.mp4": "too_short",
        "media/does_not_exist.mp4": "missing_file", "media/good2.mp4": "bad_manifest_row"}
    assert sum("skipped media/" in r.getMessage() for r in caplog.records) == 6  # one log line per file
    c = load_cache(out)
    assert c.video.shape == (5, int(SECS * FPS), SIZE, SIZE, 3) and c.audio.shape == (5, int(SECS * SR))
    assert c.audio.dtype == np.float16 and c.index["clip_id"].tolist() == [f"good{i}" for i in range(5)]
    assert c.labels.tolist() == [0, 1, 0, 1, 0] and c.split_indices("test").tolist() == [3, 4]
    # arrays hold the right clips: video brightness of clip i, resampled audio at the right length
    assert np.allclose(c.video[:, :, :, :, 1].mean((1, 2, 3)), 60 + 30 * np.arange(5), atol=4)
    assert np.all(np.abs(c.audio).max(1) > 0.2)
    assert not list(tmp_path.glob("cache.tmp-*"))
    with pytest.raises(KeyError, match="val"):
        c.split_indices("val")


def test_too_many_skips_raise_naming_reasons(broken_av, tmp_path):
    out = tmp_path / "cache"
    with pytest.raises(CacheError) as e:
        build_cache(broken_av, out, fps=FPS, size=SIZE, sample_rate=SR, seconds=SECS, modality="av",
                    max_skip_fraction=0.2, progress=False, workers=1)
    msg = str(e.value)
    for reason in ("decode_error", "missing_file", "silent_audio", "too_short", "no_audio_stream", "6/11"):
        assert reason in msg
    report = tmp_path / "cache.skipped.csv"
    assert str(report) in msg and len(pd.read_csv(report)) == 6
    assert not out.exists() and not list(tmp_path.glob("cache.tmp-*"))  # no half-built cache


def test_video_modality_and_min_seconds_padding(broken_av, tmp_path):
    meta = build_cache(broken_av, tmp_path / "v", fps=FPS, size=SIZE, sample_rate=SR, seconds=SECS,
                       modality="video", min_seconds=0.5, max_skip_fraction=0.5, progress=False, workers=1)
    # without audio requirements: no-audio and silent clips are fine, the 1 s clip is padded
    assert meta["skipped"]["no_audio_stream"] == 0 and meta["skipped"]["silent_audio"] == 0
    assert meta["skipped"]["too_short"] == 0 and meta["n_kept"] == 8
    c = load_cache(tmp_path / "v")
    assert c.audio is None and c.video.shape[:2] == (8, 16)
    short = c.video[c.index.index[c.index["clip_id"] == "short"][0]]
    assert np.array_equal(short[8:], np.repeat(short[7:8], 8, 0))  # padded with the last frame


def test_audio_files_at_wrong_rate_are_resampled(tmp_path):
    root = tmp_path / "aud"
    (root / "media").mkdir(parents=True)
    write_audio(root / "media/a.wav", tone(SECS, 8000), 8000)
    write_audio(root / "media/b.flac", tone(SECS, 8000, 600), 8000)
    write_audio(root / "media/c.flac", tone(SECS, SR, 700), SR)
    write_audio(root / "media/d.flac", tone(0.5, SR), SR)
    write_manifest(root, [("a", "media/a.wav", "train", "0;2", "x;z", SECS),
                          ("b", "media/b.flac", "train", "1", "y", SECS),
                          ("c", "media/c.flac", "val", "2;1", "z;y", SECS),
                          ("d", "media/d.flac", "val", "0", "x", .5)])
    pd.DataFrame({"index": [0, 1, 2], "name": list("xyz")}).to_csv(root / "classes.csv", index=False)
    meta = build_cache(root, tmp_path / "ca", fps=FPS, size=SIZE, sample_rate=SR, seconds=SECS, modality="audio",
                       max_skip_fraction=0.3, progress=False, workers=1)
    assert meta["resampled"] == 2 and meta["skipped"]["too_short"] == 1 and meta["multilabel"]
    c = load_cache(tmp_path / "ca")
    assert c.video is None and c.audio.shape == (3, 32000)
    assert c.labels.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 1]] and c.class_names == list("xyz")
    a = c.audio[0].astype(np.float32)[4000:-4000]
    assert np.argmax(np.abs(np.fft.rfft(a))) * SR / len(a) == pytest.approx(440, abs=2)


def test_manifest_errors_name_file_and_column(tmp_path):
    p = tmp_path / "manifest.csv"
    pd.DataFrame({"clip_id": ["a"], "path": ["x.mp4"], "split": ["train"]}).to_csv(p, index=False)
    with pytest.raises(ManifestError, match=r"manifest.csv lacks required column\(s\) \['label'\]"):
        Manifest.read(p)
    with pytest.raises(ManifestError, match="not found"):
        Manifest.read(tmp_path / "nope.csv")
    dup = {"clip_id": ["a", "a"], "path": ["x", "y"], "split": ["t", "t"], "label": ["1", "2"]}
    pd.DataFrame(dup).to_csv(p, index=False)
    with pytest.raises(ManifestError, match="duplicate clip_id"):
        Manifest.read(tmp_path)
    pd.DataFrame({"clip_id": ["a"], "path": ["x"], "split": ["t"], "label": ["-1"]}).to_csv(p, index=False)
    with pytest.raises(ManifestError, match="row 0"):
        Manifest.read(p)
    assert Manifest.read(p, strict=False).row_problem(0) is not None


def test_preview_grid_from_cache_and_dataset(broken_av, tmp_path):
    from avlib.data.preview import preview_grid

    build_cache(broken_av, tmp_path / "c", fps=FPS, size=SIZE, sample_rate=SR, seconds=SECS, modality="av",
                max_skip_fraction=0.6, progress=False, workers=1)
    for src in (tmp_path / "c", broken_av):
        png = preview_grid(src, tmp_path / f"{src.name}.png", n_classes=8)
        img = __import__("matplotlib.image", fromlist=["imread"]).imread(png)
        assert img.shape[0] > 100 and img.shape[1] > 300 and img[..., :3].std() > 0.05  # two class rows drawn
    with pytest.raises(FileNotFoundError, match="neither"):
        preview_grid(tmp_path, tmp_path / "x.png")
