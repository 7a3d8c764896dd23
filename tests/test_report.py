import math

from avlib.report.tables import diff_spread, mean_std, verdict


def test_mean_std_and_diff_spread_closed_form():
    m, s, n = mean_std([1.0, 3.0])
    assert (m, n) == (2.0, 2) and math.isclose(s, math.sqrt(2))
    d, sp = diff_spread([10.0, 12.0], [5.0, 7.0])
    assert d == 5.0 and math.isclose(sp, math.sqrt(2 / 2 + 2 / 2))


def test_verdicts():
    assert verdict(3.0, 1.0) == "supports"
    assert verdict(-3.0, 1.0) == "contradicts"
    assert verdict(0.5, 1.0) == "cannot resolve"
    assert verdict(float("nan"), 1.0) == "cannot resolve"


def test_resumed_runs_are_flagged_in_stage_times(tmp_path):
    import json

    from avlib.report.experiments import _resumed_at, _time_label

    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (10, 20, 30, 40, 30, 40, 50)))
    assert _resumed_at(log) == 30
    log.write_text("".join(json.dumps({"step": s}) + "\n" for s in (10, 20, 30)))
    assert _resumed_at(log) is None and _resumed_at(tmp_path / "absent.jsonl") is None
    assert "resumed" in _time_label({"pretrain_s": 5.0, "eval_s": 1.0, "resumed_at": 30})
    assert _time_label({"pretrain_s": 5.0, "eval_s": 1.0, "resumed_at": None}) == "pretrain 5.0, eval 1.0"
