"""The multi-label audio-visual mixture cache (AudioSet role) against a re-derivation from its sources."""

import json

import numpy as np
import pandas as pd
import pytest

from avlib.data.av_mixtures import build_mixture_cache
from avlib.data.cache import load_cache


def _source(tmp_path, n=30, classes=5):
    d = tmp_path / "src"
    d.mkdir()
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (n, 4, 6, 6, 3), dtype=np.uint8)
    audio = (0.2 * rng.standard_normal((n, 800))).astype(np.float16)
    np.save(d / "video.npy", video)
    np.save(d / "audio.npy", audio)
    split = ["train"] * 20 + ["test"] * 10
    labels = [i % classes for i in range(n)]
    pd.DataFrame(
        {
            "row": range(n),
            "clip_id": [f"c{i}" for i in range(n)],
            "split": split,
            "label": labels,
            "label_name": [f"k{x}" for x in labels],
            "path": [f"p{i}" for i in range(n)],
        }
    ).to_csv(d / "index.csv", index=False)
    pd.DataFrame({"name": [f"k{i}" for i in range(classes)]}).to_csv(d / "classes.csv", index=False)
    (d / "meta.json").write_text(json.dumps({"multilabel": False, "video_shape": list(video.shape), "params": {}}))
    return d, video, audio, np.array(labels), np.array(split)


def test_mixtures_sum_the_sources_audio_blend_their_frames_and_carry_both_labels(tmp_path):
    src, video, audio, labels, split = _source(tmp_path)
    meta = build_mixture_cache(src, tmp_path / "mix", k=2, per_split={"train": 12, "test": 6}, seed=3)
    mix = load_cache(tmp_path / "mix")
    assert meta["multilabel"] and len(mix) == 18 and mix.labels.shape == (18, 5)
    assert mix.class_names == [f"k{i}" for i in range(5)]
    for r in range(18):
        srcs = [int(c[1:]) for c in mix.index["clip_id"].iloc[r].split("+")]
        assert len(srcs) == 2 and labels[srcs[0]] != labels[srcs[1]]  # distinct classes
        assert set(split[srcs]) == {mix.index["split"].iloc[r]}  # from its own split
        want = np.zeros(5)
        want[labels[srcs]] = 1
        np.testing.assert_array_equal(mix.labels[r], want)
        a = audio[srcs].astype(np.float64)
        s = a.sum(0) * np.sqrt((a**2).mean(1)).mean() / np.sqrt((a.sum(0) ** 2).mean())
        np.testing.assert_allclose(mix.audio[r].astype(np.float64), s, atol=2e-3)
        np.testing.assert_array_equal(mix.video[r], np.round(video[srcs].astype(np.float64).mean(0)).astype(np.uint8))
    again = build_mixture_cache(src, tmp_path / "mix2", k=2, per_split={"train": 12, "test": 6}, seed=3)
    assert again == meta and np.array_equal(load_cache(tmp_path / "mix2").audio, mix.audio)


def test_bad_requests_fail_clearly(tmp_path):
    src, *_ = _source(tmp_path)
    with pytest.raises(ValueError, match="k must be >= 2"):
        build_mixture_cache(src, tmp_path / "m", k=1)
    with pytest.raises(ValueError, match="splits \\['val'\\]"):
        build_mixture_cache(src, tmp_path / "m", per_split={"val": 3})
    with pytest.raises(ValueError, match="6 distinct classes"):
        build_mixture_cache(src, tmp_path / "m", k=6)


def test_data_mixtures_command_writes_the_cache_and_rejects_a_bad_per_split(tmp_path, capfd):
    from avlib.cli import main

    src, *_ = _source(tmp_path)
    out = tmp_path / "as_mix"
    assert main(["data", "mixtures", "--src", str(src), "--out", str(out), "--per-split", "train=8", "test=4"]) == 0
    mix = load_cache(out)
    assert list(mix.index["split"].value_counts().sort_index()) == [4, 8]
    assert mix.labels.shape == (12, 5) and (mix.labels.sum(1) == 2).all()  # two distinct classes per clip
    # the command runs in a child process with portable numerics (avlib.portable): its exit code comes back
    assert main(["data", "mixtures", "--src", str(src), "--out", str(out), "--per-split", "train:8"]) != 0
    assert "--per-split wants SPLIT=N, got 'train:8'" in capfd.readouterr().err
