"""MAViL Table 11 (1 vs N test clips): the table reads both scores of the same fine-tuned model and judges the claim
paired by seed, checked against scipy.stats.ttest_rel on the same numbers."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from avlib.report.mavil_clips import run_mavil_tab11_clips

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2, 3)


def _root(tmp_path, n_clip, one_clip):
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "profile.yaml").write_text("profile: tiny\n")
    shutil.copy(ROOT / "params/reference/mavil_tab11_clips.csv", tmp_path / "params/ref.csv")
    ft = tmp_path / "ft"
    ft.mkdir()
    for task in n_clip:
        for s, hi, lo in zip(SEEDS, n_clip[task], one_clip[task]):
            res = {"seed": s, "test": hi, "test_1clip": lo, "test_clips": 3, "metric": "mAP"}
            (ft / f"st2_s{s}_{task}.json").write_text(json.dumps(res))
    return tmp_path


def test_the_claim_is_a_paired_test_of_n_clips_over_one_on_the_same_models(tmp_path):
    rng = np.random.default_rng(0)
    lo = {t: rng.normal(30, 5, len(SEEDS)) for t in ("as_a", "as_v", "as_av")}
    hi = {
        "as_a": lo["as_a"] + 0.0,
        "as_v": lo["as_v"] + np.array([1.1, 0.9, 1.3, 0.8]),  # video gains ~1 point
        "as_av": lo["as_av"] - 0.5,  # a loss: the N - 1 column must say so
    }
    root = _root(tmp_path, hi, lo)
    res = run_mavil_tab11_clips(
        tasks={"as_a": "Audio", "as_v": "Video", "as_av": "Audio+Video"},
        runs=[f"st2_s{s}" for s in (2, 0, 3, 1)],  # any order: the pairs are made by seed
        claim_tasks=["as_v"],
        statement="more clips help video",
        finetunes_dir="ft",
        reference="params/ref.csv",
        out_dir="out",
        root=str(root),
    )
    (claim,) = res.claims
    ref = stats.ttest_rel(hi["as_v"], lo["as_v"], alternative="greater")
    assert claim["test"].startswith("paired") and claim["n"] == [4, 4]
    assert claim["diff"] == pytest.approx(np.mean(hi["as_v"] - lo["as_v"]))
    assert claim["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert claim["verdict"] == "supports"  # a ~1 point gain with a 0.2 sd across seeds
    md = (root / "out" / "table.md").read_text()
    assert "| Video | 29.0 | 30.2 |" in md and "| Audio+Video | 52.6 | 53.1 |" in md  # the paper's columns, quoted
    video = md.split("| Video |")[1].split("\n")[0]
    assert video.strip().endswith(f"{np.mean(hi['as_v'] - lo['as_v']):+.2f} |")
    assert md.split("| Audio+Video |")[1].split("\n")[0].strip().endswith("-0.50 |")
    assert "+0.00" in md.split("| Audio |")[1].split("\n")[0]  # the audio row: N - 1 = 0 here, no claim on it
    assert (root / "out" / "fig.png").stat().st_size > 1000


def test_a_claim_on_a_task_the_table_lacks_and_a_missing_result_are_refused(tmp_path):
    root = _root(tmp_path, {"as_v": [1, 2, 3, 4]}, {"as_v": [0, 1, 2, 3]})
    kw = dict(runs=[f"st2_s{s}" for s in SEEDS], statement="", finetunes_dir="ft", reference="params/ref.csv")
    with pytest.raises(ValueError, match="claim_tasks"):
        run_mavil_tab11_clips(tasks={"as_v": "Video"}, claim_tasks=["as_av"], out_dir="o", root=str(root), **kw)
    with pytest.raises(FileNotFoundError, match="st2_s0_as_av.json"):
        run_mavil_tab11_clips(tasks={"as_av": "A+V"}, claim_tasks=[], out_dir="o", root=str(root), **kw)
