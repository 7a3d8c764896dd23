"""The pretraining runner: interrupt-and-resume equals an uninterrupted run on CPU, a changed config is
not resumed, a non-finite loss stops the run with a clear message and keeps the last good checkpoint."""

import json

import pytest
import torch

from avlib import checkpoint
from avlib.log import read_jsonl
from avlib.train.runner import NonFiniteLossError, Trainer, pretrain


def test_interrupt_and_resume_gives_the_same_next_step(smoke_config, tmp_path, monkeypatch):
    cfg = smoke_config("xkd")  # 24 clips / batch 8 -> 3 steps per epoch, 2 epochs = 6 steps
    full = tmp_path / "full"
    pretrain(cfg, full, show_progress=False)
    ref = {r["step"]: r for r in read_jsonl(full / "metrics.jsonl")}

    # interrupt right after the checkpoint at step 3: the 5th training step raises
    real_step, calls = Trainer.step, {"n": 0}

    def flaky(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_step(self, *a, **k)

    part = tmp_path / "part"
    monkeypatch.setattr(Trainer, "step", flaky)
    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, part, show_progress=False)
    monkeypatch.setattr(Trainer, "step", real_step)
    assert checkpoint.load(part / "last.pt")["step"] == 3
    pretrain(cfg, part, show_progress=False)  # resumes at step 3
    got = {r["step"]: r for r in read_jsonl(part / "metrics.jsonl")}
    assert sorted(got) == sorted(ref)
    for s in (4, 5, 6):
        assert got[s]["loss"] == ref[s]["loss"], (s, got[s]["loss"], ref[s]["loss"])
    a = checkpoint.load(full / "final.pt")["model"]
    b = checkpoint.load(part / "final.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_changed_config_starts_fresh(smoke_config, tmp_path, caplog):
    pretrain(smoke_config("ae", **{"train.max_steps": 3}), tmp_path, show_progress=False)
    with caplog.at_level("WARNING"):
        pretrain(smoke_config("ae", **{"train.max_steps": 3, "optim.lr": 1e-3}), tmp_path, show_progress=False)
    assert "changed since" in caplog.text
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    stale = list(tmp_path.glob("stale-*"))
    assert len(stale) == 1 and (stale[0] / "last.pt").is_file()  # the old run is kept, not deleted


def test_bookkeeping_changes_still_resume(smoke_config, tmp_path, caplog):
    pretrain(smoke_config("recon_a", **{"train.max_steps": 3}), tmp_path, show_progress=False)
    with caplog.at_level("INFO"):
        s = pretrain(
            smoke_config("recon_a", **{"train.max_steps": 5, "train.log_every_steps": 2}), tmp_path, show_progress=False
        )
    assert "resumed from" in caplog.text and s["steps"] == 5


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(smoke_config, tmp_path, monkeypatch):
    cfg = smoke_config("recon_v")
    real_forward = type(Trainer(cfg, "cpu", 1, 1).core).forward
    calls = {"n": 0}

    def poisoned(self, views, sched, generator=None):
        out = real_forward(self, views, sched, generator)
        calls["n"] += 1
        if calls["n"] == 5:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(type(Trainer(cfg, "cpu", 1, 1).core), "forward", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss \(nan\) at step 4.*last good checkpoint.*step 3"):
        pretrain(cfg, tmp_path, show_progress=False)
    state = checkpoint.load(tmp_path / "last.pt")
    assert state["step"] == 3
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert not (tmp_path / "final.pt").exists()


def test_summary_and_final_weights(smoke_config, tmp_path):
    s = pretrain(smoke_config("recon_a", **{"train.max_steps": 2}), tmp_path, show_progress=False)
    assert s["steps"] == 2 and s["clips"] == 24
    final = checkpoint.load(tmp_path / "final.pt")
    assert final["config"]["name"] == "recon_a" and "student.audio_encoder.cls_token" in final["model"]
    json.dumps(s)


def test_changed_training_code_is_not_resumed(smoke_config, tmp_path, monkeypatch, caplog):
    pretrain(smoke_config("recon_a", **{"train.max_steps": 2}), tmp_path, show_progress=False)
    from avlib.train import resume

    monkeypatch.setattr(resume, "code_fingerprint", lambda entries, *a: "0000000000000000")
    with caplog.at_level("WARNING"):
        s = pretrain(smoke_config("recon_a", **{"train.max_steps": 2}), tmp_path, show_progress=False)
    assert "not resuming" in caplog.text and s["steps"] == 2
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2]


def test_data_fraction_trains_on_a_fixed_subset(smoke_config, tmp_path):
    s = pretrain(
        smoke_config("recon_a", **{"train.max_steps": 1, "data.fraction": 0.5}), tmp_path / "a", show_progress=False
    )
    assert s["clips"] == 12  # half of the 24 fixture clips
    with pytest.raises(ValueError, match="data.fraction"):
        pretrain(smoke_config("recon_a", **{"data.fraction": 1.5}), tmp_path / "b", show_progress=False)


@pytest.fixture(scope="module")
def audio_only_cache(smoke_cache, tmp_path_factory):
    """The smoke pretraining clips cached audio-only (what ESC-50 and other sound datasets give)."""
    from avlib.data.cache import build_cache
    from avlib.profiles import load_profile

    c = {k: v for k, v in load_profile("smoke")["cache"].items() if k != "datasets"}
    out = tmp_path_factory.mktemp("audio_cache") / "pretrain"
    build_cache(smoke_cache.parent.parent / "data" / "pretrain", out, modality="audio", progress=False, **c)
    return out


def test_audio_only_cache_trains_audio_mae_and_loss_falls(smoke_config, audio_only_cache, tmp_path):
    from avlib.data.cache import load_cache

    assert load_cache(audio_only_cache).video is None
    cfg = smoke_config(
        "recon_a",
        **{"data.cache": str(audio_only_cache), "train.epochs": 4, "optim.warmup_epochs": 0, "optim.lr": 2e-3},
    )
    s = pretrain(cfg, tmp_path, show_progress=False)
    log = read_jsonl(tmp_path / "metrics.jsonl")
    assert s["steps"] == 12 and all("loss_recon_video" not in r for r in log)
    first, last = sum(r["loss"] for r in log[:3]) / 3, sum(r["loss"] for r in log[-3:]) / 3
    assert last < first, (first, last)


def test_audio_only_cache_rejects_a_method_that_needs_video(smoke_config, audio_only_cache, tmp_path):
    with pytest.raises(ValueError, match="audio-only but the method uses video"):
        pretrain(smoke_config("xkd", **{"data.cache": str(audio_only_cache)}), tmp_path, show_progress=False)


def test_several_training_splits(smoke_config, tmp_path):
    """data.split may list splits (ESC-50's four training folds); a missing one names the cache's splits."""
    s = pretrain(
        smoke_config("recon_a", **{"data.split": "[train, train]", "train.max_steps": 1}), tmp_path, show_progress=False
    )
    assert s["steps"] == 1
    with pytest.raises(KeyError, match="has no split 'fold9'"):
        pretrain(smoke_config("recon_a", **{"data.split": "[train, fold9]"}), tmp_path / "b", show_progress=False)


def test_thread_count_comes_from_config_then_omp_num_threads_then_all_cores(monkeypatch):
    import os

    from avlib.train.process import resolve_num_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_num_threads(3) == 3  # train.num_threads wins
    assert resolve_num_threads(0) == 1  # then the environment (torchrun sets it to 1)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert resolve_num_threads(0) == (os.cpu_count() or 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="OMP_NUM_THREADS='two'"):
        resolve_num_threads(0)


def test_run_writes_its_resolved_config(smoke_config, tmp_path):
    import yaml

    from avlib.config import from_dict, to_dict
    from avlib.methods import config_class

    cfg = smoke_config("recon_a", **{"train.max_steps": 1})
    pretrain(cfg, tmp_path, show_progress=False)
    written = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert written == to_dict(cfg) and written["data"]["cache"] == str(cfg.data.cache)
    assert from_dict(config_class(written["method"]), written) == cfg  # it rebuilds the same config
