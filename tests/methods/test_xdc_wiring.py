"""XDC wiring against the paper (Section 3.2) rather than against ``avlib.methods.xdc.TARGETS``: forward hooks on
each encoder's tokenizer and final norm and on every head, and recording wrappers around k-means, the clip loader
and the model's forward in :mod:`avlib.train.xdc_rounds`, record which encoder sees which modality, which
encoder's features each head classifies, which clustering's labels each head's loss uses (recomputed in float64
NumPy), which features each k-means call clusters, and which clip each pseudo-label belongs to.

* SDC: each encoder predicts the clusters of its own modality's features;
* MDC: each encoder has two heads, one for its own modality's clusters, one for the other modality's;
* CDC: both encoders predict the clusters of ``cat(l2norm(f_v), l2norm(f_a))``;
* XDC: the video encoder predicts the audio clusters and the audio encoder the video clusters.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("faiss", reason="XDC clusters with faiss")

from avlib.methods import build_method, logmel_from_config  # noqa: E402
from avlib.methods.xdc import XDC  # noqa: E402
from avlib.profiles import load_pretrain_config  # noqa: E402
from avlib.train import xdc_rounds  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# (encoder, clustering it predicts), XDC Section 3.2
EXPECTED = {
    "sdc": [("video", "video"), ("audio", "audio")],
    "mdc": [("video", "video"), ("video", "audio"), ("audio", "audio"), ("audio", "video")],
    "cdc": [("video", "joint"), ("audio", "joint")],
    "xdc": [("video", "audio"), ("audio", "video")],
}
CLUSTERINGS = {v: {s for _, s in pairs} for v, pairs in EXPECTED.items()}  # what each round clusters
K, B = 5, 8


def config(variant):
    return load_pretrain_config(
        ROOT / "params/pretrain/xdc.yaml",
        profile="smoke",
        root=ROOT,
        overrides=[f"xdc.variant={variant}", f"xdc.k={K}"],
    )


def model_and_inputs(variant):
    cfg = config(variant)
    logmel = logmel_from_config(cfg)
    torch.manual_seed(0)
    m = build_method(cfg, logmel).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # heads far from the N(0, 0.01) init, so the CE tells targets apart
        for h in m.heads.values():
            h.weight.normal_(0.0, 2.0, generator=g)
            h.bias.normal_(0.0, 0.5, generator=g)
    n_frames = logmel.n_frames(int(cfg.views.audio_seconds * cfg.audio.sample_rate))
    v = torch.randn(B, 3, cfg.views.video_frames, cfg.views.video_size, cfg.views.video_size, generator=g)
    a = torch.randn(B, 1, cfg.audio.n_mels, n_frames, generator=g)
    return cfg, m, v, a


def np64(t):
    return t.detach().to(torch.float64).cpu().numpy()


def l2(x):
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def ce(logits, labels):
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def hook_encoders_and_heads(m):
    rec = {"tok_in": {}, "tokens": {}, "heads": {}}
    handles = []
    for name, enc in m.encoders.items():

        def tok(mod, args, out, name=name):
            rec["tok_in"].setdefault(name, []).append(np64(args[0]))

        def norm(mod, args, out, name=name):
            rec["tokens"].setdefault(name, []).append(np64(out))

        handles += [enc.tokenizer.register_forward_hook(tok), enc.norm.register_forward_hook(norm)]
    for name, head in m.heads.items():

        def hh(mod, args, out, name=name):
            rec["heads"][name] = (np64(args[0]), np64(out))

        handles.append(head.register_forward_hook(hh))
    return rec, handles


def which(x, candidates, rtol=1e-5, atol=1e-6):
    hits = [k for k, c in candidates.items() if c.shape == x.shape and np.allclose(x, c, rtol=rtol, atol=atol)]
    assert len(hits) == 1, f"matches {hits}"
    return hits[0]


@pytest.mark.parametrize("variant", ["sdc", "mdc", "cdc", "xdc"])
def test_each_head_predicts_the_clustering_section_3_2_specifies(variant):
    cfg, m, v, a = model_and_inputs(variant)
    g = np.random.default_rng(3)
    targets = {s: torch.as_tensor(g.integers(0, K, B)) for s in ("video", "audio", "joint")}  # every clustering
    rec, handles = hook_encoders_and_heads(m)
    with torch.no_grad():
        out = m(v, a, targets)
    for h in handles:
        h.remove()
    # each encoder sees its own modality, once
    assert len(rec["tok_in"]["video"]) == 1 and np.array_equal(rec["tok_in"]["video"][0], np64(v))
    assert len(rec["tok_in"]["audio"]) == 1 and np.array_equal(rec["tok_in"]["audio"][0], np64(a))
    feats = {mod: rec["tokens"][mod][0][:, 1:].mean(1) for mod in ("video", "audio")}  # patch mean, CLS excluded
    assert not np.allclose(feats["video"], feats["audio"], atol=1e-3)
    logs = {k: float(x) for k, x in out["logs"].items()}
    pairs, total = [], 0.0
    for name, (x, logits) in rec["heads"].items():
        enc = which(x, feats)  # which encoder's features this head classifies
        w, b = np64(m.heads[name].weight), np64(m.heads[name].bias)
        assert np.allclose(logits, x @ w.T + b, rtol=1e-5, atol=1e-5)
        per_src = {s: ce(logits, t.numpy()) for s, t in targets.items()}
        src = [s for s, val in per_src.items() if val == pytest.approx(logs[f"loss_{name}"], rel=1e-5)]
        assert len(src) == 1, (name, per_src, logs[f"loss_{name}"])  # the labels this head's loss uses
        assert name == f"{enc}_from_{src[0]}", f"head {name!r} classifies {enc} features against {src[0]} labels"
        pairs.append((enc, src[0]))
        total += per_src[src[0]]
    assert Counter(pairs) == Counter(EXPECTED[variant]), f"{variant}: heads predict {pairs}"
    assert float(out["loss"]) == pytest.approx(total, rel=1e-5)  # the sum over heads
    assert set(m.sources) == CLUSTERINGS[variant]  # the clusterings each round computes


def test_each_clustering_gets_the_right_modalitys_features(monkeypatch):
    """``_cluster``: k-means sees f_v for 'video', f_a for 'audio' and cat(l2norm(f_v), l2norm(f_a)) for 'joint'
    (CDC), and each clustering's assignments are the ones computed from those features."""
    cfg = config("cdc")
    g = np.random.default_rng(0)
    feats = {"video": g.normal(size=(20, 6)).astype(np.float32), "audio": g.normal(size=(20, 6)).astype(np.float32)}
    calls = []

    def fake_kmeans(x, k, **kw):
        calls.append(np.array(x, dtype=np.float64))
        return None, np.full(len(x), len(calls) - 1, dtype=np.int64)  # the assignment tells which call it was

    monkeypatch.setattr(xdc_rounds, "kmeans", fake_kmeans)
    out = xdc_rounds._cluster(feats, cfg, ("audio", "joint", "video"), seed=0)
    named = {
        "video": feats["video"].astype(np.float64),
        "audio": feats["audio"].astype(np.float64),
        "joint": np.concatenate([l2(feats["video"]), l2(feats["audio"])], 1),
    }
    assert not np.allclose(named["joint"][:, :6], l2(feats["audio"]))
    seen = [which(x, named) for x in calls]
    assert sorted(seen) == ["audio", "joint", "video"]
    for src in ("audio", "joint", "video"):
        assert set(out[src]) == {seen.index(src)}, f"clustering {src!r} is not the k-means of its own features"


def test_kmeans_clusters_follow_each_modalitys_structure():
    """Real k-means (faiss) on features whose video and audio structures are independent: video clusters are pure
    in the video partition, audio clusters in the audio partition, and the joint clustering recovers both."""
    cfg = config("cdc")
    cfg.xdc.k = 4
    g = np.random.default_rng(0)
    n = 48
    pv, pa = np.arange(n) % 2, (np.arange(n) // 2) % 2  # independent, balanced partitions
    centres = np.eye(8)
    fv = centres[pv] + 0.02 * g.normal(size=(n, 8))
    fa = centres[pa + 4] + 0.02 * g.normal(size=(n, 8))
    feats = {"video": fv.astype(np.float32), "audio": fa.astype(np.float32)}
    out = xdc_rounds._cluster(feats, cfg, ("audio", "joint", "video"), seed=0)

    def pure(assign, part):
        return all(len(set(part[assign == c])) == 1 for c in np.unique(assign))

    assert pure(out["video"], pv) and not pure(out["video"], pa)
    assert pure(out["audio"], pa) and not pure(out["audio"], pv)
    joint = pv * 2 + pa
    assert pure(out["joint"], joint) and len(np.unique(out["joint"])) == 4  # both modalities shape the clusters


def test_round_features_are_each_encoders_own_modality(monkeypatch):
    """``_features`` (what every round clusters): 'video' rows are the video encoder's pooled features of the video
    clips, 'audio' rows the audio encoder's of the audio clips, in clip order."""
    _, m, v, a = model_and_inputs("xdc")
    monkeypatch.setattr(xdc_rounds, "_clips", lambda data, ids, ev, device, **kw: (v[ids], a[ids]))
    rec, handles = hook_encoders_and_heads(m)
    ids = np.arange(B)
    out = xdc_rounds._features(m, None, ids, None, "cpu", batch=3)
    for h in handles:
        h.remove()
    for mod, x in (("video", v), ("audio", a)):
        assert np.array_equal(np.concatenate(rec["tok_in"][mod]), np64(x))
        want = np.concatenate([t[:, 1:].mean(1) for t in rec["tokens"][mod]])
        assert np.allclose(out[mod], want, rtol=1e-5, atol=1e-6), f"{mod} features are not the {mod} encoder's"
    assert not np.allclose(out["video"], out["audio"], atol=1e-3)


@pytest.mark.parametrize("variant", ["xdc", "cdc"])
def test_round_trains_each_clip_on_the_clusters_of_the_right_features(smoke_config, tmp_path, monkeypatch, variant):
    """One clustering round end to end: the k-means inputs are the round's features of the modality (or the
    joint vector) each clustering names, and every forward (training and validation) gets, for each clip it
    sees, that clip's own assignment in each clustering."""
    cfg = smoke_config(
        "xdc", **{"xdc.variant": variant, "xdc.k": 3, "xdc.rounds": 1, "xdc.max_epochs": 1, "xdc.epoch_clips": 16}
    )
    rec = {"features": [], "kmeans": [], "clips": [], "forward": []}
    real_features, real_kmeans, real_clips, real_forward = (
        xdc_rounds._features,
        xdc_rounds.kmeans,
        xdc_rounds._clips,
        XDC.forward,
    )

    def features(model, data, ids, *a, **k):
        out = real_features(model, data, ids, *a, **k)
        rec["features"].append((np.array(ids), {mod: np.array(x, np.float64) for mod, x in out.items()}))
        return out

    def kmeans(x, k, **kw):
        c, assign = real_kmeans(x, k, **kw)
        rec["kmeans"].append((np.array(x, np.float64), np.array(assign)))
        return c, assign

    def clips(data, ids, *a, **k):
        rec["clips"].append(np.array(ids))
        return real_clips(data, ids, *a, **k)

    def forward(self, video, audio, targets):
        assert len(video) == len(rec["clips"][-1])
        rec["forward"].append((rec["clips"][-1], {s: t.cpu().numpy().copy() for s, t in targets.items()}))
        return real_forward(self, video, audio, targets)

    monkeypatch.setattr(xdc_rounds, "_features", features)
    monkeypatch.setattr(xdc_rounds, "kmeans", kmeans)
    monkeypatch.setattr(xdc_rounds, "_clips", clips)
    monkeypatch.setattr(XDC, "forward", forward)
    xdc_rounds.pretrain_xdc(cfg, tmp_path, show_progress=False)

    ((ids, feats),) = rec["features"]
    named = {
        "video": feats["video"],
        "audio": feats["audio"],
        "joint": np.concatenate([l2(feats["video"]), l2(feats["audio"])], 1),
    }
    assign = {}
    for x, a in rec["kmeans"]:
        assign[which(x, named, rtol=1e-4, atol=1e-5)] = a
    assert set(assign) == CLUSTERINGS[variant], f"{variant} clusters {sorted(assign)}"
    pos = {int(i): p for p, i in enumerate(ids)}
    assert rec["forward"]
    for clip_ids, targets in rec["forward"]:
        assert set(targets) == CLUSTERINGS[variant]
        rows = [pos[int(i)] for i in clip_ids]
        for s, t in targets.items():
            assert np.array_equal(t, assign[s][rows]), f"{s} pseudo-labels do not belong to the clips trained on"
