"""Tests of the procedural audio-visual dataset generator (avlib.data.avsynth)."""
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from avlib.data import avsynth as A
from avlib.data.manifest import Manifest

SPEC = A.AVSynthSpec()


def rng(*key):
    return np.random.default_rng(list(key))


def test_class_table_pairs_are_ambiguous_in_exactly_one_modality():
    table = A.class_table(16)
    assert len(A.CLASS_NAMES) == 16 and len(set(A.CLASS_NAMES)) == 16
    vis = lambda c: (c.shape, c.texture, c.motion)  # noqa: E731
    aud = lambda c: (c.timbre, c.contour, c.pitch)  # noqa: E731
    kinds = set()
    for a, b in zip(table[0::2], table[1::2]):
        assert a.pair_type == b.pair_type and a.rhythm == b.rhythm  # rhythm is seen AND heard: shared
        kinds.add(a.pair_type)
        if a.pair_type == "video_ambiguous":
            assert vis(a) == vis(b) and aud(a) != aud(b)
        elif a.pair_type == "audio_ambiguous":
            assert aud(a) == aud(b) and vis(a) != vis(b)
        else:
            assert aud(a) != aud(b) and vis(a) != vis(b)
    assert kinds == {"video_ambiguous", "audio_ambiguous", "distinct"}
    with pytest.raises(ValueError, match="num_classes"):
        A.class_table(7)


def test_render_clip_shapes_and_determinism():
    f1, a1 = A.render_clip(3, rng(0, 1, 2, 3), SPEC)
    f2, a2 = A.render_clip(3, rng(0, 1, 2, 3), SPEC)
    assert f1.dtype == np.uint8 and f1.shape == (48, 96, 96, 3)
    assert a1.dtype == np.float32 and a1.shape == (66150,)
    assert f1.tobytes() == f2.tobytes() and a1.tobytes() == a2.tobytes()  # byte-identical
    f3, a3 = A.render_clip(3, rng(0, 1, 2, 4), SPEC)
    assert not np.array_equal(f1, f3) and not np.array_equal(a1, a3)
    _, a_only = A.render_clip(3, rng(0, 1, 2, 3), SPEC, video=False)
    assert np.array_equal(a_only, a1)  # audio-only datasets hold the same sounds
    assert 0.1 < np.abs(a1).max() <= 1.0 and f1.std() > 10
    with pytest.raises(ValueError, match="class_id 16"):
        A.render_clip(16, rng(0), SPEC)


def test_colour_cue_pulls_the_object_towards_its_signature_colour():
    """colour_cue=1: every clip of a class draws its object in the signature colour (measured on frames
    without background, distractors or noise, where the brightest pixels are the object's)."""
    sig = A.signature_colour("circle", "solid")
    assert sig.shape == (3,) and 0 <= sig.min() and sig.max() <= 1
    assert not np.allclose(sig, A.signature_colour("square", "stripes"))  # different looks, different colours
    spec = replace(SPEC, colour_cue=1.0, difficulty=0.0, max_distractors=0)
    f_a, _ = A.render_clip(0, rng(1), spec)
    f_b, _ = A.render_clip(0, rng(2), spec)

    def object_rgb(f):  # pixels far from the (near-uniform) background colour
        x = f.reshape(-1, 3).astype(float)
        d = np.abs(x - np.median(x, 0)).sum(1)
        return x[d > np.percentile(d, 99)].mean(0)

    ca, cb = object_rgb(f_a), object_rgb(f_b)
    chroma = lambda c: c / c.sum()  # noqa: E731  (brightness/contrast nuisance changes level, not hue)
    assert np.abs(chroma(ca) - chroma(cb)).max() < 0.05
    assert np.argmax(ca) == np.argmax(sig) == np.argmax(cb)
    with pytest.raises(ValueError, match="colour_cue"):
        A.AVSynthSpec(colour_cue=1.5)


def test_ambiguous_pairs_identical_in_one_modality_at_full_ambiguity():
    spec = replace(SPEC, pair_ambiguity=1.0)
    f0, a0 = A.render_clip(0, rng(5), spec)  # pair (0, 1): video-ambiguous
    f1, a1 = A.render_clip(1, rng(5), spec)
    assert np.array_equal(f0, f1) and not np.allclose(a0, a1)
    f4, a4 = A.render_clip(4, rng(5), spec)  # pair (4, 5): audio-ambiguous
    f5, a5 = A.render_clip(5, rng(5), spec)
    assert np.array_equal(a4, a5) and not np.array_equal(f4, f5)
    # with pair_ambiguity < 1 a subtle cue remains in the ambiguous modality
    g0, _ = A.render_clip(0, rng(5), SPEC)
    g1, _ = A.render_clip(1, rng(5), SPEC)
    assert not np.array_equal(g0, g1)


def test_audio_onsets_follow_the_shared_event_times():
    spec = replace(SPEC, difficulty=0.0)
    for cid in (0, 8, 14):  # bounce, slide, slide: different rhythms
        cls = A.class_table(16)[cid]
        ev = A._event_times(cls.rhythm, rng(11, cid), spec)  # render_clip draws these first
        _, audio = A.render_clip(cid, rng(11, cid), spec)
        sr, hop = spec.src_sample_rate, 110  # 5 ms
        c = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
        for e in ev:  # energy after/before each sample: its sharpest rise lies within 5 ms of the event
            k = np.arange(int((e - .025) * sr), int((e + .025) * sr))
            ratio = (c[k + hop] - c[k]) / (c[k] - c[k - hop] + 1e-12)
            t_on = k[np.argmax(ratio)] / sr
            assert abs(t_on - e) < 0.005 and ratio.max() > 3, (cid, e, t_on, ratio.max())


def test_visual_events_happen_at_the_event_times():
    ev, t = np.array([0.5, 1.2, 2.0]), np.arange(0, 3, 1 / 160, dtype=np.float32)
    cx, cy, r, angle, gain = A._trajectory("bounce", ev, t, rng(0), 96, 8.0)
    for e in ev:  # bounce impact (lowest point, largest y) and a brightness flash at each event
        i = int(round(e * 160))
        assert cy[i] == pytest.approx(cy.max(), abs=0.5) and gain[i] > 1.25 and gain[i - 2] < 1.05
    _, _, r, _, _ = A._trajectory("pulse", ev, t, rng(0), 96, 8.0)
    for e in ev:  # the object swells right at the event
        i = int(round(e * 160))
        assert r[i] > 1.4 * r[i - 2]


def test_difficulty_scales_nuisance():
    def stats(d):
        spec = replace(SPEC, difficulty=d)
        hf, snr = [], []
        for i in range(4):
            f, a = A.render_clip(i, rng(2, i), spec)
            hf.append(np.abs(np.diff(f.astype(np.float32), axis=2)).mean())  # clutter + sensor noise
            snr.append(np.abs(a).max() / (np.median(np.abs(a)) + 1e-9))
        return np.mean(hf), np.mean(snr)

    (hf0, snr0), (hf1, snr1) = stats(0.0), stats(1.0)
    assert hf1 > 1.5 * hf0 and snr1 < snr0


def test_generate_dataset_layout_single_and_multilabel(tmp_path):
    spec = replace(SPEC, duration=1.0, src_size=48, src_fps=8)
    p = A.generate_dataset(tmp_path, "ucf", spec, seed=3, n_clips_per_split={"train": 4, "test": 2},
                           classes=[2, 3, 9], progress=False, workers=1)
    m = Manifest.read(p)
    assert list(m.df.columns) == ["clip_id", "path", "split", "label", "label_name", "duration"]
    assert m.df["split"].tolist() == ["train"] * 4 + ["test"] * 2
    assert m.labels().tolist() == [0, 1, 2, 0, 0, 1] and all(m.resolve(i).is_file() for i in range(6))
    classes = pd.read_csv(p / "classes.csv")
    assert classes["global_id"].tolist() == [2, 3, 9] and classes["name"][0] == A.CLASS_NAMES[2]
    meta = json.loads((p / "meta.json").read_text())
    assert meta["counts"] == {"train": 4, "test": 2} and meta["seed"] == 3 and meta["spec"]["duration"] == 1.0
    assert not list(tmp_path.glob(".*tmp*"))  # built atomically, nothing left behind
    # regenerating with the same seed reproduces the same arrays (digest over raw arrays)
    q = A.generate_dataset(tmp_path / "again", "ucf", spec, seed=3, n_clips_per_split={"train": 4, "test": 2},
                           classes=[2, 3, 9], progress=False, workers=1)
    assert json.loads((q / "meta.json").read_text())["array_digest"] == meta["array_digest"]
    files = sorted(x.relative_to(p) for x in p.rglob("*") if x.is_file())
    assert len(files) == 9 and all((p / x).read_bytes() == (q / x).read_bytes() for x in files)  # byte-identical

    f = A.generate_dataset(tmp_path, "fsd", spec, seed=3, n_clips_per_split={"train": 12}, multilabel=True,
                           modality="audio", progress=False, workers=1)
    mf = Manifest.read(f)
    lists = mf.label_lists()
    assert all(1 <= len(x) <= 3 and len(set(x)) == len(x) for x in lists) and any(len(x) > 1 for x in lists)
    assert mf.labels(multilabel=True, num_classes=16).sum(1).tolist() == [len(x) for x in lists]
    assert all(str(mf.resolve(i)).endswith(".flac") for i in range(len(mf)))


def test_generate_all_config_validation_and_profiles(tmp_path):
    for prof in ("smoke", "tiny"):
        cfg = A.default_config(prof)
        assert set(cfg["datasets"]) == set(A.ROLES)
    assert sum(A.default_config("tiny")["datasets"]["pretrain"]["splits"].values()) >= 2000
    with pytest.raises(ValueError, match="bogus"):
        A.generate_all(tmp_path, {"datasets": {}, "bogus": 1}, seed=0)
    with pytest.raises(ValueError, match="'imagenet'"):
        A.generate_all(tmp_path, {"datasets": {"imagenet": {"splits": {"train": 1}}}}, seed=0)
    with pytest.raises(ValueError, match="difficulty"):
        A.generate_all(tmp_path, {"spec": {"difficulty": 2.0}, "datasets": {}}, seed=0)
    with pytest.raises(ValueError, match="colour"):
        A.generate_all(tmp_path, {"datasets": {"ucf": {"splits": {"train": 1}, "colour": 1}}}, seed=0)
    cfg = {"spec": {"duration": 1.0, "src_size": 32, "src_fps": 8}, "workers": 1, "progress": False,
           "datasets": {"hmdb": {"splits": {"train": 2}}}}
    out = A.generate_all(tmp_path, cfg, seed=1)
    meta = json.loads((tmp_path / "hmdb" / "meta.json").read_text())
    assert out["hmdb"]["clips"] == 2 and meta["classes"] == list(range(6, 16))  # HMDB role: other subset
    assert meta["spec"]["difficulty"] == pytest.approx(0.65)  # harder nuisance than the base 0.5


def test_pool_generation_from_unguarded_script(tmp_path):
    """Worker pools must work from a plain script without an ``if __name__ == '__main__'`` guard."""
    import subprocess
    import sys

    script = tmp_path / "gen.py"
    script.write_text(
        "from avlib.data.avsynth import AVSynthSpec, generate_dataset\n"
        "spec = AVSynthSpec(duration=1.0, src_size=32, src_fps=8)\n"
        f"generate_dataset({str(tmp_path)!r}, 'ks', spec, seed=0, n_clips_per_split={{'train': 6}}, "
        "progress=False, workers=2)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(Manifest.read(tmp_path / "ks")) == 6 and len(list((tmp_path / "ks" / "media").iterdir())) == 6
