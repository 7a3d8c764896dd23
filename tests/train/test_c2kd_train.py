"""C2KD's training loop: both stages on a tiny labelled cache, selection on val, the teacher loaded into stage 2,
resume after an interruption, and the schedule."""

import json

import numpy as np
import pytest

from avlib import checkpoint
from avlib.config import DataConfig, OptimConfig, TrainConfig, ViewsConfig
from avlib.methods.c2kd import C2KDConfig, C2KDPretrainConfig
from avlib.train.c2kd_train import poly_lr, pretrain_c2kd
from tests.finetune.test_mavil_finetune import _cache


def _cfg(cache, stage, epochs=3, **kw):
    return C2KDPretrainConfig(
        name=f"c2kd_{stage}",
        data=DataConfig(cache=str(cache), split="train"),
        views=ViewsConfig(fps=8, video_frames=8, video_size=32, audio_seconds=1.0),
        optim=OptimConfig(lr=0.05, min_lr=1e-4, weight_decay=0.0),
        train=TrainConfig(epochs=epochs, batch_size=8, seed=0, device="cpu", num_threads=1),
        c2kd=C2KDConfig(stage=stage, **kw),
    )


def test_poly_schedule_is_the_public_codes_formula_with_the_configured_epochs():
    assert poly_lr(1e-2, 1e-4, 0, 100) == pytest.approx(1e-2)
    assert poly_lr(1e-2, 1e-4, 50, 100) == pytest.approx(1e-4 + (1e-2 - 1e-4) * 0.5**0.9)
    assert poly_lr(1e-2, 1e-4, 100, 100) == pytest.approx(1e-4)


def test_two_stages_select_on_val_load_the_teacher_and_resume(tmp_path):
    cache = _cache(tmp_path)  # 24 train / 6 val / 6 test clips of 3 classes, audible and visible
    t = pretrain_c2kd(_cfg(cache, "teacher", teacher_modality="audio"), tmp_path / "t_s0", show_progress=False)
    hist = [json.loads(ln) for ln in (tmp_path / "t_s0" / "metrics.jsonl").read_text().splitlines()]
    assert len(hist) == 3 and t["stage"] == "teacher" and t["tested"] == "audio"
    best = max(hist, key=lambda r: r["val_acc"])  # the first maximum
    assert t["best_val_epoch"] == best["epoch"] and t["test_acc"] == best["test_acc"]
    assert t["test_acc_last"] == hist[-1]["test_acc"] and t["n"] == {"train": 24, "val": 6, "test": 6}
    student_cfg = _cfg(cache, "student", teacher_modality="audio", teacher=str(tmp_path / "t_s{seed}"))
    s = pretrain_c2kd(student_cfg, tmp_path / "s", show_progress=False)
    assert s["tested"] == "video" and s["teacher"].endswith("t_s0/final.pt")
    teacher = checkpoint.load(tmp_path / "t_s0" / "final.pt")["model"]
    moved = checkpoint.load(tmp_path / "s" / "final.pt")["model"]  # C2KD trains its teacher further
    assert any(not np.array_equal(moved[k], teacher[k]) for k in teacher if k.startswith("teacher.") and "weight" in k)
    kd_cfg = _cfg(cache, "student", epochs=1, loss="kd", teacher_modality="audio", teacher=str(tmp_path / "t_s{seed}"))
    pretrain_c2kd(kd_cfg, tmp_path / "kd", show_progress=False)
    frozen = checkpoint.load(tmp_path / "kd" / "final.pt")["model"]
    for k, v in teacher.items():  # a baseline's frozen teacher is exactly the stage-1 teacher, BN statistics too
        if k.startswith("teacher."):
            np.testing.assert_array_equal(frozen[k], v)
    # an interrupted run resumes at the next epoch and ends where an uninterrupted one does
    pretrain_c2kd(_cfg(cache, "teacher", epochs=2, teacher_modality="audio"), tmp_path / "r", show_progress=False)
    again = pretrain_c2kd(
        _cfg(cache, "teacher", epochs=3, teacher_modality="audio"), tmp_path / "r", show_progress=False
    )
    assert again["steps"] == t["steps"]
    np.testing.assert_allclose(again["test_acc_last"], t["test_acc_last"])
    with pytest.raises(ValueError, match="a teacher of"):
        bad = _cfg(cache, "student", teacher_modality="video", teacher=str(tmp_path / "t_s{seed}"))
        pretrain_c2kd(bad, tmp_path / "bad", show_progress=False)
