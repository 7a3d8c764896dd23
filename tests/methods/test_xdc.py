"""XDC: the four variants' heads and loss (NumPy re-derivation of the cross-entropy), uniform sampling over
clusters that skips empty ones, cluster quality against scikit-learn, and clustering rounds end to end."""
import json

import numpy as np
import pytest
import torch

pytest.importorskip("faiss", reason="XDC clusters with faiss")

from avlib.methods import build_method, logmel_from_config  # noqa: E402
from avlib.methods.xdc import SOURCES, TARGETS  # noqa: E402
from avlib.train.xdc_rounds import cluster_quality, uniform_cluster_sample  # noqa: E402


def test_variants_heads_and_sources():
    assert SOURCES == {"sdc": ("audio", "video"), "mdc": ("audio", "video"), "cdc": ("joint",), "xdc": ("audio", "video")}
    assert TARGETS["xdc"] == {"video": ("audio",), "audio": ("video",)}   # each encoder: the other's clusters
    assert TARGETS["sdc"] == {"video": ("video",), "audio": ("audio",)}


@pytest.mark.parametrize("variant", ["sdc", "mdc", "cdc", "xdc"])
def test_loss_is_the_summed_cross_entropy_of_the_heads(smoke_config, variant):
    cfg = smoke_config("xdc", **{"xdc.variant": variant, "xdc.k": 5})
    logmel = logmel_from_config(cfg)
    m = build_method(cfg, logmel).eval()
    B = 3
    v = torch.randn(B, 3, cfg.views.video_frames, cfg.views.video_size, cfg.views.video_size)
    a = torch.randn(B, 1, cfg.audio.n_mels, logmel.n_frames(int(cfg.views.audio_seconds * cfg.audio.sample_rate)))
    t = {s: torch.randint(0, 5, (B,)) for s in SOURCES[variant]}
    with torch.no_grad():
        out = m(v, a, t)
        f = {"video": m.features("video", v).double().numpy(), "audio": m.features("audio", a).double().numpy()}
    ce = []
    for name, head in m.heads.items():
        enc, src = name.split("_from_")
        z = f[enc] @ head.weight.detach().double().numpy().T + head.bias.detach().double().numpy()
        logp = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
        ce.append(-logp[np.arange(B), t[src].numpy()].mean())
    assert len(ce) == sum(len(s) for s in TARGETS[variant].values())
    assert float(out["loss"]) == pytest.approx(np.sum(ce), rel=1e-5)
    w = m.heads[next(iter(m.heads))].weight
    m.reset_heads(torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert abs(float(w.std()) - 0.01) < 0.004 and float(m.heads[next(iter(m.heads))].bias.abs().sum()) == 0


def test_uniform_cluster_sampling_skips_empty_clusters():
    rng = np.random.default_rng(0)
    assign = np.array([0] * 900 + [1] * 90 + [3] * 10)   # cluster 2 is empty, 3 is tiny
    pos = uniform_cluster_sample(assign, 3000, rng)
    counts = np.bincount(assign[pos], minlength=4)
    assert counts[2] == 0 and len(pos) == 3000
    np.testing.assert_allclose(counts[[0, 1, 3]], 1000, atol=1)      # uniform over the non-empty clusters


def test_cluster_quality_against_sklearn():
    from sklearn.metrics import normalized_mutual_info_score

    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
    assign = np.array([1, 1, 0, 0, 0, 2, 2, 2, 1, 0])
    q = cluster_quality(assign, labels)
    assert q["purity"] == pytest.approx((3 + 2 + 3) / 10)   # majority class per cluster: 3 of 4, 2 of 3, 3 of 3
    assert q["nmi"] == pytest.approx(normalized_mutual_info_score(labels, assign))


def test_rounds_train_resume_and_load(smoke_config, tmp_path):
    from avlib.eval.protocol import load_pretrained
    from avlib.log import read_jsonl
    from avlib.train.xdc_rounds import pretrain_xdc

    cfg = smoke_config("xdc", **{"xdc.k": 3, "xdc.rounds": 2, "xdc.max_epochs": 3, "xdc.patience": 3,
                                 "xdc.lr": 0.05})
    s = pretrain_xdc(cfg, tmp_path, show_progress=False)
    log = read_jsonl(tmp_path / "metrics.jsonl")
    clus = [r for r in log if r.get("event") == "cluster"]
    ep = [r for r in log if r.get("event") == "epoch"]
    assert [r["round"] for r in clus] == [0, 1] and len(ep) == 6
    assert all(r["audio/min_size"] >= 1 and r["video/min_size"] >= 1 for r in clus)   # no empty cluster
    assert all(0.0 <= r["video/nmi"] <= 1.0 for r in clus)                              # avsynth has labels
    r0 = [r["loss"] for r in ep if r["round"] == 0]
    assert r0[-1] < r0[0]                                   # the pseudo-labels are being learned
    assert s["steps"] == ep[-1]["step"] and json.loads((tmp_path / "summary.json").read_text())["rounds"] == 2
    cfg2, model, _ = load_pretrained(tmp_path)              # the evaluation path loads XDC runs
    assert cfg2.xdc.k == 3 and model.encoder_for_eval("video").embed_dim > 0
    # a finished run resumes to the same final weights without training again
    before = torch.load(tmp_path / "final.pt", weights_only=True)["model"]
    s2 = pretrain_xdc(cfg, tmp_path, show_progress=False)
    after = torch.load(tmp_path / "final.pt", weights_only=True)["model"]
    assert s2["steps"] == s["steps"] and all(torch.equal(before[k], after[k]) for k in before)


def test_interrupted_round_resumes_to_the_same_weights(smoke_config, tmp_path, monkeypatch):
    from avlib.log import read_jsonl
    from avlib.train import xdc_rounds

    cfg = smoke_config("xdc", **{"xdc.k": 3, "xdc.rounds": 2, "xdc.max_epochs": 2, "xdc.patience": 5})
    xdc_rounds.pretrain_xdc(cfg, tmp_path / "full", show_progress=False)
    real, calls = xdc_rounds._val_loss, {"n": 0}

    def flaky(*a, **k):  # interrupt in round 0's second epoch, after its training steps
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(xdc_rounds, "_val_loss", flaky)
    with pytest.raises(KeyboardInterrupt):
        xdc_rounds.pretrain_xdc(cfg, tmp_path / "part", show_progress=False)
    monkeypatch.setattr(xdc_rounds, "_val_loss", real)
    xdc_rounds.pretrain_xdc(cfg, tmp_path / "part", show_progress=False)
    a = torch.load(tmp_path / "full" / "final.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "part" / "final.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    full, part = read_jsonl(tmp_path / "full" / "metrics.jsonl"), read_jsonl(tmp_path / "part" / "metrics.jsonl")
    assert [r["event"] for r in part] == [r["event"] for r in full]          # no duplicated records
    assert [r.get("val_loss") for r in part] == [r.get("val_loss") for r in full]
