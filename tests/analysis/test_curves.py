"""The figure's collapse detector is the training runner's rule, applied to logged metrics."""

import json

import numpy as np
import pandas as pd
import pytest

from avlib.analysis.curves import collapse_step, min_teacher_kl, read_metrics, tail_mean
from avlib.train.collapse import collapsed


def _runner_collapse_step(records, kl_min, patience):
    """The runner's loop (avlib.train.runner.pretrain) over logged records."""
    count = 0
    for r in records:
        count = count + 1 if collapsed(r, kl_min) else 0
        if count >= patience:
            return r["step"]
    return None


@pytest.mark.parametrize("seed", range(5))
def test_collapse_step_agrees_with_the_runner(seed):
    rng = np.random.default_rng(seed)
    recs = [
        {"step": 10 * (i + 1), "teacher_kl_video": float(v), "teacher_kl_audio": float(a), "loss": 1.0}
        for i, (v, a) in enumerate(zip(10 ** rng.uniform(-6, -2, 80), 10 ** rng.uniform(-6, -2, 80)))
    ]
    df = pd.DataFrame(recs)
    for patience in (1, 2, 3):
        assert collapse_step(df, 1e-4, patience) == _runner_collapse_step(recs, 1e-4, patience)


def test_collapse_step_closed_form_and_no_teachers():
    df = pd.DataFrame(
        {"step": [1, 2, 3, 4, 5], "teacher_kl_video": [1, 1e-5, 1, 1, 1e-5], "teacher_kl_audio": [1, 1, 1, 1, 1]}
    )
    assert collapse_step(df, 1e-4, 2) is None  # never two logging steps in a row
    assert collapse_step(df, 1e-4, 1) == 2
    df["teacher_kl_audio"] = [1, 1, 1e-6, 1, 1]  # either teacher collapsing counts (the smallest KL)
    assert collapse_step(df, 1e-4, 2) == 3
    assert collapse_step(pd.DataFrame({"step": [1, 2], "loss": [1.0, 0.5]}), 1e-4, 1) is None
    np.testing.assert_array_equal(min_teacher_kl(pd.DataFrame({"step": [1]})), [np.nan])


def test_read_metrics_keeps_the_last_of_re_logged_steps_and_tail_mean(tmp_path):
    lines = [{"step": 10, "loss": 3.0}, {"step": 20, "loss": 2.0}, {"step": 20, "loss": 1.5}, {"step": 30, "loss": 1.0}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    df = read_metrics(tmp_path)
    assert df.step.tolist() == [10, 20, 30] and df.loss.tolist() == [3.0, 1.5, 1.0]
    assert tail_mean(df, "loss", 0.5) == pytest.approx(1.25) and tail_mean(df, "loss", 0.01) == 1.0
    assert np.isnan(tail_mean(df, "absent"))
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        read_metrics(tmp_path / "nope")
