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
    assert SOURCES == {
        "sdc": ("audio", "video"),
        "mdc": ("audio", "video"),
        "cdc": ("joint",),
        "xdc": ("audio", "video"),
        "supervised": ("labels",),
    }
    assert TARGETS["xdc"] == {"video": ("audio",), "audio": ("video",)}  # each encoder: the other's clusters
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
    assign = np.array([0] * 900 + [1] * 90 + [3] * 10)  # cluster 2 is empty, 3 is tiny
    pos = uniform_cluster_sample(assign, 3000, rng)
    counts = np.bincount(assign[pos], minlength=4)
    assert counts[2] == 0 and len(pos) == 3000
    np.testing.assert_allclose(counts[[0, 1, 3]], 1000, atol=1)  # uniform over the non-empty clusters


def test_cluster_quality_against_sklearn():
    from sklearn.metrics import normalized_mutual_info_score

    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
    assign = np.array([1, 1, 0, 0, 0, 2, 2, 2, 1, 0])
    q = cluster_quality(assign, labels)
    assert q["purity"] == pytest.approx((3 + 2 + 3) / 10)  # majority class per cluster: 3 of 4, 2 of 3, 3 of 3
    assert q["nmi"] == pytest.approx(normalized_mutual_info_score(labels, assign))


def test_rounds_train_resume_and_load(smoke_config, tmp_path):
    from avlib.eval.protocol import load_pretrained
    from avlib.log import read_jsonl
    from avlib.train.xdc_rounds import pretrain_xdc

    cfg = smoke_config("xdc", **{"xdc.k": 3, "xdc.rounds": 2, "xdc.max_epochs": 3, "xdc.patience": 3, "xdc.lr": 0.05})
    s = pretrain_xdc(cfg, tmp_path, show_progress=False)
    log = read_jsonl(tmp_path / "metrics.jsonl")
    clus = [r for r in log if r.get("event") == "cluster"]
    ep = [r for r in log if r.get("event") == "epoch"]
    assert [r["round"] for r in clus] == [0, 1] and len(ep) == 6
    assert all(r["audio/min_size"] >= 1 and r["video/min_size"] >= 1 for r in clus)  # no empty cluster
    assert all(0.0 <= r["video/nmi"] <= 1.0 for r in clus)  # avsynth has labels
    r0 = [r["loss"] for r in ep if r["round"] == 0]
    assert r0[-1] < r0[0]  # the pseudo-labels are being learned
    assert s["steps"] == ep[-1]["step"] and json.loads((tmp_path / "summary.json").read_text())["rounds"] == 2
    cfg2, model, _ = load_pretrained(tmp_path)  # the evaluation path loads XDC runs
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
    assert [r["event"] for r in part] == [r["event"] for r in full]  # no duplicated records
    assert [r.get("val_loss") for r in part] == [r.get("val_loss") for r in full]


def test_rounds_save_the_last_clustering(smoke_config, tmp_path):
    from avlib.data.cache import load_cache
    from avlib.train.xdc_rounds import load_clusters, pretrain_xdc

    cfg = smoke_config(
        "xdc",
        **{
            "xdc.k": 3,
            "xdc.rounds": 2,
            "xdc.max_epochs": 1,
            "data.fraction": 0.5,
            "xdc.optimizer": "adamw",
            "xdc.lr": 1e-3,
            "xdc.epoch_clips": 16,
        },
    )
    s = pretrain_xdc(cfg, tmp_path, show_progress=False)
    assert s["steps"] == 2 * 1 * (16 // cfg.train.batch_size)  # rounds x epochs x (epoch_clips / batch)
    opt = torch.load(tmp_path / "last.pt", weights_only=False)["opt_body"]
    assert "exp_avg" in next(iter(opt["state"].values()))  # AdamW state, not SGD momentum
    c = load_clusters(tmp_path)
    data = load_cache(cfg.data.cache)
    n = len(data.split_indices("train"))
    assert len(c["ids"]) == s["n_clips"] == max(cfg.train.batch_size, round(0.5 * n))  # data.fraction subset
    assert sorted(c["assign"]) == ["audio", "video"] and all(len(a) == len(c["ids"]) for a in c["assign"].values())
    np.testing.assert_array_equal(c["labels"], np.asarray(data.labels)[c["ids"]])
    # the saved clustering is the last round's: its quality is what the log reports for round 1
    from avlib.log import read_jsonl

    last = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r.get("event") == "cluster"][-1]
    assert last["round"] == 1
    assert cluster_quality(c["assign"]["video"], c["labels"])["purity"] == pytest.approx(last["video/purity"])


def test_supervised_and_scratch_baselines(smoke_config, tmp_path):
    from avlib.data.cache import load_cache
    from avlib.eval.protocol import load_pretrained
    from avlib.train.xdc_rounds import load_clusters, pretrain_xdc

    cfg = smoke_config(
        "xdc",
        **{
            "xdc.variant": "supervised",
            "xdc.k": 4,
            "xdc.rounds": 1,
            "xdc.max_epochs": 3,
            "xdc.patience": 5,
            "xdc.lr": 0.05,
        },
    )
    pretrain_xdc(cfg, tmp_path / "sup", show_progress=False)
    data = load_cache(cfg.data.cache)
    n_cls = int(np.max(data.labels)) + 1
    cfg2, model, _ = load_pretrained(tmp_path / "sup")
    assert cfg2.xdc.k == n_cls and set(model.heads) == {"video_from_labels", "audio_from_labels"}
    c = load_clusters(tmp_path / "sup")
    np.testing.assert_array_equal(c["assign"]["labels"], c["labels"])  # the targets are the annotation
    from avlib.log import read_jsonl

    loss = [r["loss"] for r in read_jsonl(tmp_path / "sup/metrics.jsonl") if r.get("event") == "epoch"]
    assert len(loss) == 3 and loss[-1] < loss[0]
    # Scratch: rounds 0 keeps the random initialisation, loadable like any run
    cfg0 = smoke_config("xdc", **{"xdc.rounds": 0, "xdc.k": 3})
    s0 = pretrain_xdc(cfg0, tmp_path / "scratch", show_progress=False)
    assert s0["steps"] == 0 and s0["clusters"] == []
    from avlib.seed import seed_everything

    seed_everything(cfg0.train.seed, deterministic=True)
    fresh = build_method(cfg0, logmel_from_config(cfg0)).state_dict()
    saved = torch.load(tmp_path / "scratch/final.pt", weights_only=True)["model"]
    assert all(torch.equal(fresh[k], saved[k]) for k in saved)  # seeded: the same random init
    with pytest.raises(FileNotFoundError, match="no clustering saved"):
        load_clusters(tmp_path / "scratch")


def test_bad_optimizer_fails_at_load(smoke_config):
    from avlib.config import ConfigError

    with pytest.raises((ConfigError, ValueError), match="optimizer"):
        smoke_config("xdc", **{"xdc.optimizer": "lamb"})


def test_xdc_profile_section_and_schedule(tmp_path):
    from pathlib import Path

    from avlib.config import ConfigError
    from avlib.profiles import load_pretrain_config, load_profile, profile_section

    root = Path(__file__).resolve().parents[2]
    for name in ("smoke", "tiny", "paper"):
        prof = load_profile(name, root)
        sec = profile_section(prof, "xdc")
        cfg = load_pretrain_config(root / "params/pretrain/xdc.yaml", profile=name, root=root, schedule="xdc")
        assert cfg.method == "xdc" and cfg.xdc.k == sec["pretrain"]["xdc"]["k"]
        assert set(sec["tasks"]) <= set(prof["eval"]["tasks"])
    run = tmp_path / "xdc_k.yaml"
    run.write_text("name: xdc_k\nmethod: xdc\nxdc: {k: 7}\n")  # a run file overrides the section
    assert load_pretrain_config(run, profile="smoke", root=root, schedule="xdc").xdc.k == 7
    with pytest.raises(ConfigError, match="xdc: unknown key"):
        profile_section({"name": "x", "xdc": {"pretrain": {}, "task": []}, "eval": {"tasks": {}}}, "xdc")
    with pytest.raises(ConfigError, match=r"xdc.tasks: \['nope'\]"):
        profile_section({"name": "x", "xdc": {"tasks": ["nope"]}, "eval": {"tasks": {}}}, "xdc")


def test_finished_run_retrains_after_a_change_to_the_code_xdc_imports(smoke_config, tmp_path, monkeypatch, caplog):
    """The stale-resume bug: an XDC run resumed on the config hash alone, so after a code fix DVC re-ran
    the stage, found the finished last.pt and rewrote the same weights. Now the resume key includes the
    fingerprint of the code XDC imports: a finished run whose code changed trains again from scratch, and
    the old run is kept in stale-<key>/; the resolved config is written as config.yaml."""
    import yaml

    from avlib.train import resume
    from avlib.train.xdc_rounds import pretrain_xdc

    cfg = smoke_config("xdc", **{"xdc.k": 3, "xdc.rounds": 1, "xdc.max_epochs": 1})
    s = pretrain_xdc(cfg, tmp_path, show_progress=False)
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["xdc"]["k"] == 3
    first = torch.load(tmp_path / "final.pt", weights_only=True)
    real = resume.code_fingerprint
    monkeypatch.setattr(
        resume,
        "code_fingerprint",
        lambda entries, *a: ("edited" if "avlib.methods.xdc" in entries else "") + real(entries, *a),
    )
    with caplog.at_level("WARNING"):
        s2 = pretrain_xdc(cfg, tmp_path, show_progress=False)
    assert "not resuming" in caplog.text
    stale = list(tmp_path.glob("stale-*"))
    assert len(stale) == 1 and (stale[0] / "last.pt").is_file() and (stale[0] / "final.pt").is_file()
    second = torch.load(tmp_path / "final.pt", weights_only=True)
    assert second["config_hash"] != first["config_hash"] and second["config_hash"].endswith(
        resume.code_fingerprint(resume.run_entries("avlib.train.xdc_rounds", "xdc"))
    )
    assert s2["steps"] == s["steps"] > 0  # trained again (same seed, same code path: same step count)
