"""`avlib benchmark`: every method's step timed by the training code, MAViL's stage 2 with a real teacher."""

import os

import pytest

from avlib.train.benchmark import _config, _one


def test_each_run_file_gets_its_methods_schedule_and_stage2_a_teacher(tmp_path):
    xkd = _config("xkd", "smoke", tmp_path)
    assert xkd.method == "xkd" and xkd.model.video_vit == "micro"
    s1 = _config("mavil", "smoke", tmp_path)
    assert s1.method == "mavil" and s1.views.fps == 4 and s1.mavil.fbank.stats == ""  # the mavil schedule
    s2 = _config("mavil_stage2", "smoke", tmp_path)
    assert s2.mavil.teacher == str(tmp_path / "teacher") and (tmp_path / "teacher" / "final.pt").is_file()


@pytest.mark.parametrize("config", ["mavil", "mavil_stage2"])
def test_mavil_steps_are_timed(config, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    row = _one((config, "smoke", 1, 1))
    assert row["config"] == config and row["clips_per_s"] > 0 and row["peak_mem_mb"] > 0
    assert row["trainable_params_m"] > 0
