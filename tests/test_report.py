import math

from avlib.report.tables import mean_std


def test_mean_std_closed_form():
    m, s, n = mean_std([1.0, 3.0])
    assert (m, n) == (2.0, 2) and math.isclose(s, math.sqrt(2))
    assert mean_std([2.0, float("nan"), None]) == (2.0, 0.0, 1)


def _write_eval(path, run, seed, encoder, values):
    import json

    tasks = {
        t: {
            "test": v,
            "val": v,
            "encoder": encoder,
            "modality": "video",
            "protocol": "svm",
            "metric": "top1",
            "chance": 10.0,
            "n_test": 50,
        }
        for t, v in values.items()
    }
    path.write_text(json.dumps({"run": run, "seed": seed, "encoder": encoder, "tasks": tasks, "wall_s": 1.0}))


def _report_root(tmp_path, reference_csv: str = ""):
    """A project root for the report functions: params/profile.yaml (tiny), an empty evals/ and a reference CSV."""
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "profile.yaml").write_text("profile: tiny\n")
    ev = tmp_path / "evals"
    ev.mkdir()
    ref = tmp_path / "ref.csv"
    ref.write_text(reference_csv)
    return ev, ref


def _comparison_kw(tmp_path, ev, ref, **over):
    kw = dict(
        artifact_id="t",
        title="T",
        caption="c",
        statement="s",
        tasks={"ucf": "UCF101", "esc": "ESC50"},
        evals_dir=str(ev),
        runs_dir=str(tmp_path / "runs"),
        reference=str(ref),
        out_dir=str(tmp_path / "out"),
        root=str(tmp_path),
    )
    return {**kw, **over}


def test_comparison_rows_of_encoders_paired_claims_and_arrows_to_the_reference_row(tmp_path):
    """XKD Table 5's shape: rows are the student and teacher encoders of the same runs, claims are paired."""
    import json

    import pytest

    from avlib.report.comparison import run_comparison_table

    ev, ref = _report_root(
        tmp_path,
        "row,task,paper_dataset,metric,paper_value\nstudent,ucf,UCF101,top1,84.4\n"
        "teacher,ucf,UCF101,top1,84.7\nstudent,esc,ESC50,top1,90.3\nteacher,esc,ESC50,top1,91.0\n",
    )
    for s, (tu, su, te, se) in enumerate([(30.0, 25.0, 90.0, 91.0), (40.0, 34.0, 92.0, 91.5)]):
        _write_eval(ev / f"x{s}.json", f"x{s}", s, "teacher", {"ucf": tu, "esc": te})
        _write_eval(ev / f"x{s}_student.json", f"x{s}", s, "student", {"ucf": su, "esc": se})
    rows = {
        "student": {"label": "Student", "runs": ["x0_student", "x1_student"], "encoder": "student"},
        "teacher": {"label": "Teacher", "runs": ["x0", "x1"], "encoder": "teacher"},
    }
    claims = [
        {"better": "teacher", "worse": "student", "paired": True, "text": "the teacher beats the student on {dataset}"}
    ]
    kw = _comparison_kw(tmp_path, ev, ref, rows=rows, claims=claims, reference_row="teacher")
    r = run_comparison_table(**kw)
    by_task = {c["task"]: c for c in r.claims}
    # per-seed differences 5, 6: mean 5.5, SE std([5, 6]) / sqrt(2) = 0.5
    assert math.isclose(by_task["ucf"]["diff"], 5.5) and math.isclose(by_task["ucf"]["spread"], 0.5)
    assert (
        by_task["ucf"]["verdict"] == "supports" and by_task["ucf"]["claim"] == "the teacher beats the student on UCF101"
    )
    assert by_task["esc"]["verdict"] == "not resolved"  # diffs -1, +0.5
    assert "| Student | student | 84.4 (↓0.3) | 90.3 (↓0.7) | 29.5 ± 6.4 (↓5.5) |" in r.markdown
    assert "| Teacher | teacher | 84.7 | 91.0 | 35.0 ± 7.1 | 91.0 ± 1.4 |" in r.markdown
    for f in ("table.csv", "table.md", "metrics.json", "fig.png", "fig_data.csv", "provenance.json"):
        assert (tmp_path / "out" / f).is_file(), f
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["claim/overall"] == "mixed" and metrics["student/ucf/n_seeds"] == 2
    swapped = {**rows, "student": {**rows["student"], "runs": ["x0", "x1"]}}
    with pytest.raises(ValueError, match="rows.student: x0 evaluated the teacher encoder, not the student"):
        run_comparison_table(**{**kw, "rows": swapped})
    with pytest.raises(ValueError, match="reference_row='nope' is not a row"):
        run_comparison_table(**{**kw, "reference_row": "nope"})


def test_comparison_task_runs_remarks_and_one_reference_schema(tmp_path):
    """XKD Tables 1-2's shape: a row that reads other runs for some tasks (L_recon: video reconstruction on video
    tasks, audio reconstruction on audio tasks), the paper's remarks as a column, arrows to the reference row."""
    import pytest

    from avlib.report.comparison import run_comparison_table

    ev, ref = _report_root(
        tmp_path,
        "row,task,paper_dataset,metric,paper_value\nrecon,ucf,UCF101,top1,76.1\nxkd,ucf,UCF101,top1,84.7\n",
    )
    for s in range(2):
        _write_eval(ev / f"rv_s{s}.json", f"rv_s{s}", s, "teacher", {"ucf": 10.0 + 2 * s})  # no audio task
        _write_eval(ev / f"ra_s{s}.json", f"ra_s{s}", s, "teacher", {"esc": 40.0 + 2 * s})  # no video task
        _write_eval(ev / f"x_s{s}.json", f"x_s{s}", s, "teacher", {"ucf": 30.0 + 2 * s, "esc": 50.0 + 2 * s})
    rows = {
        "recon": {
            "label": "L_recon",
            "runs": ["rv_s0", "rv_s1"],
            "task_runs": {"esc": ["ra_s0", "ra_s1"]},
            "remark": "r1",
        },
        "xkd": {"label": "L_xkd", "runs": ["x_s0", "x_s1"], "remark": "r2"},
    }
    claims = [{"better": "xkd", "worse": "recon", "tasks": ["ucf"], "text": "L_xkd beats {worse} on {dataset} (video)"}]
    r = run_comparison_table(**_comparison_kw(tmp_path, ev, ref, rows=rows, claims=claims, reference_row="xkd"))
    assert r.metrics["recon/ucf/mean"] == 11.0 and r.metrics["recon/esc/mean"] == 41.0
    assert sorted(r.tidy[(r.tidy.row == "recon") & (r.tidy.task == "esc")].run) == ["ra_s0", "ra_s1"]
    assert [(c["claim"], c["diff"]) for c in r.claims] == [("L_xkd beats L_recon on UCF101 (video)", 20.0)]
    assert "| L_recon | teacher | 76.1 (↓8.6) | — | 11.0 ± 1.4 (↓20.0) | 41.0 ± 1.4 (↓10.0) | r1 |" in r.markdown
    assert "Remarks (paper)" in r.markdown and "Protocols: UCF101 → `ucf` (svm, top1)" in r.markdown
    with pytest.raises(ValueError, match="evaluation rv_s0 has no result for task 'esc'"):
        run_comparison_table(**_comparison_kw(tmp_path, ev, ref, rows={"recon": {"runs": ["rv_s0"]}}, claims=[]))
    old_schema = tmp_path / "old.csv"
    old_schema.write_text("method,task,paper_dataset,metric,paper_value\nrecon,ucf,UCF101,top1,76.1\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['row'\]"):
        run_comparison_table(**_comparison_kw(tmp_path, ev, old_schema, rows=rows, claims=[]))


def test_every_reference_csv_has_the_one_schema():
    from pathlib import Path

    from avlib.report.tables import read_reference

    refs = sorted((Path(__file__).resolve().parents[1] / "params/reference").glob("*.csv"))
    assert len(refs) >= 26
    for f in refs:
        read_reference(f, f.stem)  # raises naming the file and the missing column


def test_claims_page_collects_every_artifacts_claims(tmp_path):
    import json

    import pytest

    from avlib.report.claims_page import run_claims_page

    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "profile.yaml").write_text("profile: tiny\n")
    for aid, verdicts in (("xkd_tab01_a", ["supports", "contradicts"]), ("xkd_tab05_b", ["not resolved"])):
        d = tmp_path / "results" / aid
        d.mkdir(parents=True)
        claims = [
            {
                "claim": f"{aid} c{i}",
                "diff": 1.0 + i,
                "spread": 0.5,
                "ci": [0.2 + i, 1.8 + i],
                "p": 0.01,
                "mdd": 1.5,
                "test": "paired t",
                "n": [3, 3],
                "alpha": 0.05,
                "verdict": v,
            }
            for i, v in enumerate(verdicts)
        ]
        (d / "metrics.json").write_text(json.dumps({"claims": claims, "claim/overall": "mixed"}))
    r = run_claims_page(
        sources={"xkd_tab01_a": "A", "xkd_tab05_b": "B"},
        results_dir=str(tmp_path / "results"),
        out_dir=str(tmp_path / "results" / "claims"),
        root=str(tmp_path),
    )
    assert len(r.tidy) == 3 and r.metrics["counts"] == {"supports": 1, "contradicts": 1, "not resolved": 1}
    assert r.metrics["overall"] == {"xkd_tab01_a": "mixed", "xkd_tab05_b": "mixed"}
    assert (
        "| `xkd_tab01_a` | xkd_tab01_a c1 | +2 | [+1.2, +2.8] | 0.010 | 1.5 | paired t (3 vs 3) | contradicts |"
        in r.markdown
    )
    assert "about 0.2 would still read *supports* by chance" in r.markdown  # 0.05 x 3 claims
    assert (tmp_path / "results" / "claims" / "fig.png").is_file()
    with pytest.raises(FileNotFoundError, match="dvc repro xkd_tab09_missing"):
        run_claims_page(
            sources={"xkd_tab09_missing": "?"},
            results_dir=str(tmp_path / "results"),
            out_dir=str(tmp_path / "o"),
            root=str(tmp_path),
        )


def test_claims_page_aa_control_judged_like_a_claim_with_its_null_rate(tmp_path):
    import json

    import numpy as np
    import pytest
    from scipy import stats

    from avlib.report.claims_page import run_claims_page

    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "profile.yaml").write_text("profile: tiny\n")
    d = tmp_path / "results" / "xkd_tab01_a"
    d.mkdir(parents=True)
    claim = {"claim": "c", "diff": 1.0, "spread": 0.5, "ci": [0.1, 1.9], "p": 0.03, "mdd": 1.4, "verdict": "supports"}
    (d / "metrics.json").write_text(json.dumps({"claims": [claim], "claim/overall": "supported"}))
    ev = tmp_path / "evals"
    ev.mkdir()
    a = {"ucf": [40.0, 44.0, 42.0], "esc": [60.0, 61.0, 59.0]}
    b = {"ucf": [41.0, 43.5, 45.0], "esc": [60.5, 58.0, 59.5]}
    for i, s in enumerate((0, 1, 2)):
        _write_eval(ev / f"xkd_s{s}.json", f"xkd_s{s}", s, "teacher", {t: v[i] for t, v in a.items()})
        _write_eval(ev / f"xkd_s{100 + s}.json", f"xkd_s{100 + s}", 100 + s, "teacher", {t: v[i] for t, v in b.items()})
    spec = {
        "a": ["xkd_s0", "xkd_s1", "xkd_s2"],
        "b": ["xkd_s100", "xkd_s101", "xkd_s102"],
        "tasks": {"ucf": "UCF101", "esc": "ESC50"},
    }
    kw = dict(
        sources={"xkd_tab01_a": "A"},
        results_dir=str(tmp_path / "results"),
        out_dir=str(tmp_path / "results" / "claims"),
        root=str(tmp_path),
    )
    r = run_claims_page(aa_control=spec, aa_evals_dir=str(ev), **kw)
    aa = r.metrics["aa_control"]
    ucf = aa["claims"][0]
    # the i-th run of each side paired: a paired t-test of a - b, against SciPy
    ref = stats.ttest_rel(a["ucf"], b["ucf"], alternative="greater")
    assert ucf["test"] == "paired t" and ucf["diff"] == pytest.approx(np.mean(np.subtract(a["ucf"], b["ucf"])))
    assert ucf["p"] == pytest.approx(ref.pvalue)  # not resolved: p of the 'supports' direction
    assert [c["verdict"] for c in aa["claims"]] == ["not resolved", "not resolved"] and aa["all_not_resolved"]
    rate = aa["null_rates"][0]
    assert rate["n"] == [3, 3] and abs(rate["supports"] - 0.05) < 4 * rate["mc_se"]
    assert "## A/A control" in r.markdown and "simulated false 'supports'" in r.markdown
    # where the variance comes from: the 6 runs' SD against the binomial SD of 1 test clip (_write_eval's n_test)
    var = {v["task"]: v for v in aa["variance_sources"]}
    six = np.array(a["ucf"] + b["ucf"])
    p = six.mean() / 100
    assert var["ucf"]["n_runs"] == 6 and var["ucf"]["sd"] == pytest.approx(six.std(ddof=1))
    assert var["ucf"]["binomial_sd"] == pytest.approx(100 * np.sqrt(p * (1 - p) / 50))
    assert var["ucf"]["test_share"] == pytest.approx(min(1, var["ucf"]["binomial_sd"] ** 2 / six.var(ddof=1)))
    # the smoke profile trains one seed: no second side, no test
    r = run_claims_page(aa_control={**spec, "a": ["xkd_s0"], "b": []}, aa_evals_dir=str(ev), **kw)
    assert r.metrics["aa_control"]["claims"][0]["verdict"] == "not resolved"
    assert r.metrics["aa_control"]["null_rates"] == [None, None]
    with pytest.raises(ValueError, match="aa_evals_dir"):
        run_claims_page(aa_control=spec, **kw)
    with pytest.raises(ValueError, match="share runs"):
        run_claims_page(aa_control={**spec, "b": ["xkd_s0"]}, aa_evals_dir=str(ev), **kw)
    with pytest.raises(KeyError, match="lacks"):
        run_claims_page(aa_control={"a": []}, aa_evals_dir=str(ev), **kw)


def test_fmt_diff_keeps_three_significant_digits():
    from avlib.report.tables import fmt_diff

    assert fmt_diff(0.012345) == "+0.0123" and fmt_diff(-5.234) == "-5.23" and fmt_diff(0.5, sign=False) == "0.5"
    assert fmt_diff(float("nan")) == "n/a"


def test_comparison_table_paper_column_claims_and_line_figure(tmp_path):
    import json

    import pytest

    from avlib.report.comparison import run_comparison_table

    ev, ref = _report_root(
        tmp_path,
        "row,task,paper_dataset,metric,paper_value,note\n"
        "default,ucf,UCF101,top1,82.6,\nno_refine,ucf,UCF101,top1,81.0,\n",
    )
    vals = {
        "default": {"ucf": (30.0, 32.0), "esc": (50.0, 52.0)},
        "no_refine": {"ucf": (20.0, 23.0), "esc": (53.0, 56.0)},  # per-seed gaps 10, 9 and -3, -4
    }
    for row, tasks in vals.items():
        for s in range(2):
            _write_eval(ev / f"{row}_s{s}.json", f"{row}_s{s}", s, "teacher", {t: v[s] for t, v in tasks.items()})
    rows = {
        "no_refine": {"label": "w/o refine", "runs": ["no_refine_s0", "no_refine_s1"], "x": 0.0},
        "default": {"label": "with refine", "runs": ["default_s0", "default_s1"], "x": 1.0},
    }
    kw = dict(
        artifact_id="t",
        title="T",
        caption="c",
        statement="refine helps",
        rows=rows,
        tasks={"ucf": "UCF101", "esc": "ESC50"},
        evals_dir=str(ev),
        runs_dir=str(tmp_path / "runs"),
        reference=str(ref),
        out_dir=str(tmp_path / "out"),
        root=str(tmp_path),
    )
    claims = [{"better": "default", "worse": "no_refine", "text": "refine improves {dataset}"}]
    r = run_comparison_table(claims=claims, **kw)
    assert [(c["claim"], c["verdict"]) for c in r.claims] == [
        ("refine improves UCF101", "supports"),
        ("refine improves ESC50", "contradicts"),
    ]
    # both rows share seeds 0, 1: paired by seed, t = 9.5 / 0.5 with 1 degree of freedom
    from scipy import stats

    assert r.claims[0]["diff"] == pytest.approx(9.5) and r.claims[0]["spread"] == pytest.approx(0.5)
    assert r.claims[0]["test"] == "paired t" and r.claims[0]["p"] == pytest.approx(stats.t.sf(19.0, 1))
    assert r.claims[1]["p"] == pytest.approx(stats.t.cdf(-7.0, 1))
    assert "| with refine | teacher | 82.6 | — | 31.0 ± 1.4 | 51.0 ± 1.4 |" in r.markdown  # no ESC50 paper value: —
    assert "one-sided t-test at level 0.05" in r.markdown
    assert r.metrics["claim/overall"] == "mixed"
    for f in ("table.md", "table.csv", "metrics.json", "fig.png", "fig_data.csv", "provenance.json"):
        assert (tmp_path / "out" / f).is_file(), f
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["default/ucf/mean"] == 31.0
    _write_eval(ev / "no_refine_s1.json", "no_refine_s1", 7, "teacher", {"ucf": 23.0, "esc": 56.0})  # seeds 0, 7
    r = run_comparison_table(claims=claims, **kw)  # seeds differ: Welch, t = 9.5 / sqrt(2 / 2 + 4.5 / 2)
    assert r.claims[0]["test"] == "Welch t" and r.claims[0]["spread"] == pytest.approx(math.sqrt(1 + 2.25))
    with pytest.raises(ValueError, match="same seeds"):
        run_comparison_table(claims=[{**claims[0], "paired": True}], **kw)
    ref.write_text(ref.read_text() + "longer,ucf,UCF101,top1,79.0,\n")  # a paper column not run here is quoted
    assert "| longer (paper only, not run) |  | 79.0 | — |  |  |" in run_comparison_table(claims=[], **kw).markdown
    r = run_comparison_table(claims=[], figure={"kind": "line", "xlabel": "refine"}, **kw)
    assert r.metrics["claim/overall"] == "n/a" and (tmp_path / "out" / "fig.png").is_file()
    with pytest.raises(ValueError, match=r"claims\[0\].worse='nope' is not a row"):
        run_comparison_table(claims=[{"better": "default", "worse": "nope"}], **kw)
    with pytest.raises(ValueError, match="unknown key"):
        run_comparison_table(claims=[{"better": "default", "worse": "no_refine", "task": "ucf"}], **kw)
    with pytest.raises(FileNotFoundError, match="missing evaluation"):
        run_comparison_table(claims=[], **{**kw, "rows": {"x": {"runs": ["absent_s0"]}}})
    with pytest.raises(FileNotFoundError, match="missing reference"):
        run_comparison_table(claims=[], **{**kw, "reference": str(tmp_path / "absent.csv")})


def test_sota_table_quotes_the_paper_and_tests_only_our_rows(tmp_path):
    import json

    import pytest

    from avlib.report.sota import run_sota_table

    ev, ref = _report_root(
        tmp_path,
        "row,method,pretrain_data,backbone,protocol,task,paper_dataset,metric,paper_value,is_xkd,note\n"
        "videomae,VideoMAE,K400,,linear,ucf,UCF101,top1,80.0,false,\n"
        "xkd_k400,XKD,K400,,linear,ucf,UCF101,top1,83.8,true,\n"
        "xkd_k400,XKD,K400,,finetune,ucf,UCF101,top1,94.1,true,\n",
    )
    ft = tmp_path / "finetunes"
    ft.mkdir()
    for s, (lin, fin) in enumerate([(30.0, 40.0), (32.0, 44.0)]):
        _write_eval(ev / f"xkd_s{s}.json", f"xkd_s{s}", s, "teacher", {"ucf": lin})
        (ft / f"xkd_s{s}_ucf.json").write_text(json.dumps({"seed": s, "test": fin}))
    kw = dict(
        artifact_id="t6",
        title="T6",
        caption="c",
        statement="FT beats linear",
        tasks={"ucf": "UCF101"},
        ours={"xkd": {"label": "XKD (ours)", "linear": ["xkd_s0", "xkd_s1"], "finetune": ["xkd_s0", "xkd_s1"]}},
        claims=[{"kind": "ft_over_linear", "row": "xkd"}],
        paper_xkd_row="xkd_k400",
        evals_dir=str(ev),
        finetunes_dir=str(ft),
        reference=str(ref),
        out_dir=str(tmp_path / "out"),
        root=str(tmp_path),
    )
    r = run_sota_table(**kw)
    assert "| VideoMAE | K400 | quoted (paper) | 80.0 | — |" in r.markdown
    assert (
        "| **XKD (ours)** | avsynth (pretrain role) | measured (profile tiny) | 31.0 ± 1.4 | 42.0 ± 2.8 |" in r.markdown
    )
    assert len(r.claims) == 1 and r.claims[0]["diff"] == pytest.approx(11.0) and r.claims[0]["verdict"] == "supports"
    (ft / "xkd_s1_ucf.json").unlink()
    with pytest.raises(FileNotFoundError, match="fine-tuning result"):
        run_sota_table(**kw)


def test_collect_evals_tidy_rows_and_clear_errors(tmp_path):
    import json

    import pytest

    from avlib.report.collect import collect_evals, stage_times

    for run, seed, acc in (("a_s0", 0, 50.0), ("a_s1", 1, 60.0)):
        res = {"test": acc, "val": acc - 1, "encoder": "teacher", "protocol": "svm", "metric": "top1", "chance": 10.0}
        (tmp_path / f"{run}.json").write_text(json.dumps({"seed": seed, "wall_s": 3.25, "tasks": {"ucf": res}}))
    df = collect_evals({"A": ["a_s0", "a_s1"]}, {"ucf": "UCF101"}, tmp_path)
    assert df[["row", "run", "seed", "task", "dataset", "value"]].values.tolist() == [
        ["A", "a_s0", 0, "ucf", "UCF101", 50.0],
        ["A", "a_s1", 1, "ucf", "UCF101", 60.0],
    ]
    with pytest.raises(ValueError, match="no result for task 'esc'"):
        collect_evals({"A": ["a_s0"]}, {"esc": "ESC50"}, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"dvc repro eval@b_s0"):
        collect_evals({"B": ["b_s0"]}, {"ucf": "UCF101"}, tmp_path)
    assert stage_times(["a_s0"], tmp_path, tmp_path / "runs") == {"a_s0": {"pretrain_s": None, "eval_s": 3.2}}


def test_provenance_records_files_read_not_written(tmp_path, monkeypatch):
    """The audit hook behind provenance.json ``inputs``: reads and listings under the project, not writes, not the
    artifact's own folder; each record forgets what it reported."""
    import os

    from avlib.report import provenance

    monkeypatch.setitem(provenance._WATCH, "prefix", str(tmp_path) + os.sep)
    monkeypatch.setitem(provenance._WATCH, "skip", (str(tmp_path / "avlib") + os.sep,))
    provenance.files_read()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "rw.txt").write_text("x")
    (tmp_path / "out").mkdir()
    (tmp_path / "avlib").mkdir()
    (tmp_path / "sub").mkdir()
    provenance.files_read()  # the writes above are not reads
    (tmp_path / "a.txt").read_text()
    open(tmp_path / "b.txt", "w").close()
    open(tmp_path / "rw.txt", "a").close()
    os.close(os.open(tmp_path / "d.txt", os.O_WRONLY | os.O_CREAT))
    (tmp_path / "out" / "own.txt").write_text("o")
    (tmp_path / "out" / "own.txt").read_text()
    (tmp_path / "avlib" / "code.py").write_text("")
    (tmp_path / "avlib" / "code.py").read_text()
    os.listdir(tmp_path / "sub")
    assert provenance.files_read(exclude=tmp_path / "out") == {"inputs": ["a.txt"], "listed": ["sub"]}
    assert provenance.files_read() == {"inputs": [], "listed": []}
