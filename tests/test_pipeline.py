"""The generated pipeline (:mod:`avlib.pipeline`): the committed dvc.yaml files are what the indexes generate,
dvc.lock keeps no entry of a gone stage, artifact stages depend on exactly the files their params name, and a
new method's index adds stages without changing any existing one."""

import shutil
from pathlib import Path

import pytest
import yaml

from avlib.config import ConfigError
from avlib.pipeline import Outputs, artifact_inputs, build_pipeline, generated, load_indexes, main, prune_lock

ROOT = Path(__file__).resolve().parents[1]


def test_committed_pipeline_files_are_the_generated_ones():
    for rel, (text, _) in generated(ROOT).items():
        assert (ROOT / rel).read_text() == text, f"{rel} is out of date: run `python -m avlib pipeline`"


@pytest.mark.parametrize("rel", ["dvc.yaml", "real/dvc.yaml"])
def test_lock_has_no_entry_of_a_gone_stage(rel):
    lock = ROOT / rel.replace("dvc.yaml", "dvc.lock")
    if not lock.is_file():
        pytest.skip(f"no {lock.name} committed beside {rel}")
    stages = yaml.safe_load((ROOT / rel).read_text())["stages"]
    known = set()
    for name, st in stages.items():
        known.update({f"{name}@{k}" for k in st["foreach"]} if "foreach" in st else {name})
    gone = set(yaml.safe_load(lock.read_text())["stages"]) - known
    assert not gone, f"{lock.name} has entries of stages that no longer exist: {sorted(gone)}"


def test_prune_lock_drops_exactly_the_gone_entries(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"a": {}, "b@x": {}, "b@y": {}, "old": {}}}))
    gone = prune_lock(lock, {"a": {"cmd": "c"}, "b": {"foreach": {"x": {}}}})
    assert gone == ["b@y", "old"]
    assert list(yaml.safe_load(lock.read_text())["stages"]) == ["a", "b@x"]


def test_index_expands_configs_times_seeds():
    xkd = next(ix for ix in load_indexes(ROOT) if ix.method == "xkd")
    runs = xkd.runs("ablation")
    assert xkd.seeds == [0, 1, 2]
    # every configuration x 3 seeds, then the A/A control: the default configuration under seeds 100-102
    assert len(runs) == 3 * len(xkd.groups["ablation"]["configs"]) + 3
    assert runs["recon_v_s2"] == {"config": "recon_v", "seed": 2}
    assert list(runs)[-3:] == ["xkd_s100", "xkd_s101", "xkd_s102"]
    stages = build_pipeline(ROOT)["stages"]
    assert "xkd_s101" in stages["eval_ablation"]["foreach"] and stages["eval_ablation"]["foreach"]["xkd_s101"] == {
        "run": "xkd_s101",
        "tasks": "all",
    }
    # families restricted to some configurations (students, fc, fine-tunes) leave the A/A runs out
    assert "xkd_s100_student" not in stages["eval_ablation_student"]["foreach"]
    assert "xdc_s100" in stages["xdc_eval"]["foreach"] and "xdc_s100_fc" not in stages["xdc_eval_fc"]["foreach"]
    assert not [k for k in stages["xdc_finetune"]["foreach"] if "_s100" in k]
    xdc = next(ix for ix in load_indexes(ROOT) if ix.method == "xdc")
    one = xdc.runs("xdc")
    assert "xdc_k05_s0" in one and "xdc_k05_s1" not in one and "xdc_s1" in one
    stages = build_pipeline(ROOT, seeds=[0])["stages"]  # overridden seeds: no A/A runs either
    assert not [k for k in stages["pretrain_ablation"]["foreach"] if not k.endswith("_s0")]
    assert set(stages["finetune"]["foreach"]) == {f"xkd_s0_{t}" for t in ("ucf", "hmdb", "k400", "esc", "fsd")}
    ev = stages["eval_ablation"]["foreach"]
    assert ev["recon_v_s0"]["tasks"] == "all" and ev["xkd_temp_004_s0"]["tasks"] == "ablation"
    assert stages["eval_ablation_student"]["foreach"]["xkd_mas_s0_student"] == {"run": "xkd_mas_s0"}
    assert "--encoder student" in stages["eval_ablation_student"]["do"]["cmd"]
    assert "--protocol fc" in stages["xdc_eval_fc"]["do"]["cmd"]


def test_prepared_inputs_and_stage2_teachers_are_dependencies():
    """MAViL: the fbank statistics are built once before every run that reads them; a stage-2 run depends on
    the stage-1 run of its teacher configuration and the same seed (and its run file names that run)."""
    stages = build_pipeline(ROOT)["stages"]
    prep = stages["mavil_fbank_stats"]
    assert prep["outs"] == [{"work/mavil/fbank_stats.json": {"cache": False}}]
    assert "cache/pretrain" in prep["deps"] and "avlib/methods/mavil_stats.py" in prep["deps"]
    s1, s2 = stages["mavil_pretrain"], stages["mavil_stage2_pretrain"]
    assert "work/mavil/fbank_stats.json" in s1["do"]["deps"] and "work/mavil/fbank_stats.json" in s2["do"]["deps"]
    assert "work/mavil/fbank_stats.json" in stages["mavil_eval"]["do"]["deps"]
    assert "work/mavil/fbank_stats.json" in stages["mavil_fig03_reconstructions"]["deps"]  # it loads models
    assert "work/mavil/fbank_stats.json" not in stages["mavil_tab01_mask_ratio"]["deps"]  # a table reads JSON
    assert "work/mavil/runs/${item.teacher}" in s2["do"]["deps"]
    assert not any("item.teacher" in d for d in s1["do"]["deps"])
    items = s2["foreach"]
    assert items["mavil_stage2_s1"] == {"config": "mavil_stage2", "seed": 1, "teacher": "mavil_s1"}
    assert items["mavil_stage2_mae_s2"]["teacher"] == "mavil_nofusion_s2"
    assert {f"mavil_s{s}" for s in range(3)} | {f"mavil_nofusion_s{s}" for s in range(3)} <= set(s1["foreach"])


def test_a_finetune_family_names_its_trainer_and_recipe_params():
    """MAViL's fine-tunes run its own trainer (``code:``) with the recipes of ``params/finetune/mavil_<profile>.yaml``
    (``params_files:``) and no profile key (``params: []``)."""
    stages = build_pipeline(ROOT)["stages"]
    st = stages["mavil_stage2_finetune"]
    assert "avlib/finetune/mavil.py" in st["do"]["deps"] and "avlib/finetune/trainer.py" in st["do"]["deps"]
    assert st["do"]["params"] == [{"params/finetune/mavil_${profile}.yaml": None}]
    assert "work/mavil/fbank_stats.json" in st["do"]["deps"]
    tasks = ("ks_a", "ks_v", "ks_av", "as_a", "as_v", "as_av", "esc")
    assert set(st["foreach"]) == {f"mavil_stage2_s{s}_{t}" for s in range(3) for t in tasks}
    # a family's own prepared inputs (the AudioSet-role mixtures) are deps of its stage, not of the others
    assert (
        "work/mavil/cache/as_mix" in st["do"]["deps"]
        and "work/mavil/cache/as_mix" in stages["mavil_finetune"]["do"]["deps"]
    )
    mae = stages["mavil_finetune_mae"]
    assert set(mae["foreach"]) == {f"mavil_nofusion_s{s}_esc" for s in range(3)}
    assert "work/mavil/cache/as_mix" not in mae["do"]["deps"]
    assert "work/mavil/cache/as_mix" not in stages["mavil_pretrain"]["do"]["deps"]
    mix = stages["mavil_as_mixtures"]
    assert mix["outs"] == [{"work/mavil/cache/as_mix": {"cache": False}}] and "cache/ks" in mix["deps"]
    assert mix["params"] == [{"params/profile.yaml": ["profile"]}]  # no empty profile-key list
    assert {"work/mavil/finetunes/mavil_stage2_s1_as_v.json", "work/mavil/finetunes/mavil_stage2_s2_as_av.json"} <= set(
        stages["mavil_tab11_clips"]["deps"]
    )
    xkd = stages["finetune"]["do"]  # the default: XKD's trainer and recipes
    assert "avlib/finetune/mavil.py" not in xkd["deps"] and xkd["params"] == [
        {"params/profiles/${profile}.yaml": ["eval", "finetune"]}
    ]


def test_a_teacher_that_the_run_file_does_not_name_is_refused(tmp_path):
    root = _copy_project(tmp_path)
    ix = yaml.safe_load((root / "params/index/mavil.yaml").read_text())
    ix["groups"]["mavil_stage2"]["teachers"]["mavil_stage2"] = "mavil_recon"
    (root / "params/index/mavil.yaml").write_text(yaml.safe_dump(ix))
    with pytest.raises(ConfigError, match="params/pretrain/mavil_stage2.yaml has mavil.teacher") as e:
        load_indexes(root)
    assert "mavil_recon_s{seed}" in str(e.value)
    del ix["groups"]["mavil_stage2"]["teachers"]["mavil_stage2"]
    (root / "params/index/mavil.yaml").write_text(yaml.safe_dump(ix))
    with pytest.raises(ConfigError, match=r"teachers names no teacher for \['mavil_stage2'\]"):
        load_indexes(root)


def test_artifact_inputs_resolve_exactly_the_named_files(tmp_path):
    (tmp_path / "params/reference").mkdir(parents=True)
    (tmp_path / "params/reference/t.csv").write_text("x\n")
    out = Outputs(
        files={"ev/a_s0.json", "ev/a_s0_student.json", "ev/b_s0.json", "ft/a_s0_ucf.json", "ft/a_s0_esc.json"},
        runs={"rn/a_s0", "rn/b_s0"},
        artifacts={"t", "other"},
    )
    params = {
        "artifact_id": "t",
        "caption": "a long text with a/slash in it",
        "rows": {"a": {"label": "A", "runs": ["a_s0"]}},
        "tasks": {"ucf": "UCF101"},
        "sources": {"other": "its claim"},
        "reference": "params/reference/t.csv",
        "dataset": "cache/k400",
        "missing": "params/reference/none.csv",
        "evals_dir": "ev",
        "finetunes_dir": "ft",
        "runs_dir": "rn",
        "out_dir": "results/t",
    }
    got = artifact_inputs(params, "tables", out, tmp_path)
    # b_s0 is not named, a_s0_student is not named, ft/a_s0_esc.json: `esc` is not named
    assert sorted(got) == sorted(
        [
            "ev/a_s0.json",
            "rn/a_s0/summary.json",
            "ft/a_s0_ucf.json",
            "results/other/metrics.json",
            "params/reference/t.csv",
            "cache/k400",
        ]
    )
    assert "rn/a_s0" in artifact_inputs(params, "figures", out, tmp_path)  # figures load the whole run


def _copy_project(tmp_path) -> Path:
    root = tmp_path / "proj"
    for d in ("params", "notebooks", "real"):
        shutil.copytree(ROOT / d, root / d)
    (root / "avlib").symlink_to(ROOT / "avlib")
    return root


def test_a_new_methods_index_adds_stages_and_changes_none(tmp_path):
    root = _copy_project(tmp_path)
    before = build_pipeline(root)["stages"]
    (root / "params/index/zz.yaml").write_text(
        yaml.safe_dump(
            {
                "method": "xkd",  # any existing module stands in for a new method here
                "seeds": [3],
                "groups": {
                    "g": {
                        "stage": "zz_pretrain",
                        "dir": "work/zz/runs",
                        "configs": ["xkd"],
                        "evals": {"zz_eval": {"dir": "work/zz/evals"}},
                    }
                },
            }
        )
    )
    after = build_pipeline(root)["stages"]
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"zz_pretrain", "zz_eval"}
    assert list(after["zz_eval"]["foreach"]) == ["xkd_s3"]


@pytest.mark.parametrize(
    "edit,message",
    [
        ({"colour": 1}, "unknown key"),
        ({"groups": {"g": {"stage": "s", "dir": "d", "configs": ["no_such_config"]}}}, "no params/pretrain"),
        ({"groups": {"g": {"stage": "pretrain", "dir": "d", "configs": ["xkd"]}}}, "also used by"),
        ({"tables": ["no_such_table"]}, "missing params/no_such_table.yaml"),
        ({"method": "nomethod"}, "no module avlib/methods/nomethod.py"),
        ({"groups": {"g": {"stage": "s", "dir": "d", "configs": ["xkd"], "aa_seeds": {"ae": [9]}}}}, "aa_seeds config"),
        (
            {"groups": {"g": {"stage": "s", "dir": "d", "configs": ["xkd"], "aa_seeds": {"xkd": [0]}}}},
            "repeat the index",
        ),
    ],
)
def test_bad_index_is_refused_naming_file_and_key(tmp_path, edit, message):
    root = _copy_project(tmp_path)
    data = {"method": "xkd", "seeds": [0], "groups": {}, **edit}
    (root / "params/index/zz.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message) as e:
        load_indexes(root)
    assert "params/index/zz.yaml" in str(e.value)


def test_check_flags_an_edited_pipeline_and_regeneration_restores_it(tmp_path, capsys):
    from avlib.cli import main as cli

    root = _copy_project(tmp_path)
    for f in ("dvc.yaml", "dvc.lock"):
        shutil.copy(ROOT / f, root / f)
    assert main(["--check", "--root", str(root)]) == 0
    assert cli(["pipeline", "--check", "--root", str(root)]) == 0  # the command line the README gives
    (root / "dvc.yaml").write_text((root / "dvc.yaml").read_text().replace("--seed ${item.seed}", "--seed 0", 1))
    assert main(["--check", "--root", str(root)]) == 1
    assert cli(["pipeline", "--check", "--root", str(root)]) == 1
    assert "out of date: dvc.yaml" in capsys.readouterr().out
    assert main(["--root", str(root)]) == 0
    assert (root / "dvc.yaml").read_text() == (ROOT / "dvc.yaml").read_text()


def test_every_stage_lists_the_import_closure_of_what_it_runs():
    """Evaluation and fine-tune stages list the closure of their entry and the method's module (loaded by name at
    run time); artifact stages track the profile choice; data and cache stages keep the media I/O files."""
    from avlib.codedeps import import_closure

    stages = build_pipeline(ROOT)["stages"]
    for ix in load_indexes(ROOT):
        for g in ix.groups.values():
            for fam, entry in [
                *((f, "avlib.eval.protocol") for f in g.get("evals", {})),
                *((f, spec.get("code", "avlib.finetune")) for f, spec in g.get("finetunes", {}).items()),
            ]:
                code = {d for d in stages[fam]["do"]["deps"] if d.startswith("avlib/")}
                want = {f"avlib/{f}" for f in import_closure((entry, f"avlib.methods.{ix.method}"))}
                assert code == want, f"{fam}: {sorted(code ^ want)}"
                assert f"avlib/methods/{ix.method}.py" in code, fam
        for aid in ix.artifacts:
            assert {"params/profile.yaml": ["profile"]} in stages[aid]["params"], aid
    for name in ("data", "cache"):
        assert "avlib/data/media.py" in stages[name]["deps"], name  # decoding/encoding: what these stages do
    real = generated(ROOT)["real/dvc.yaml"][1]["stages"]
    assert "avlib/data/media.py" in real["esc50"]["deps"] and "avlib/datasets/esc50.py" in real["esc50"]["deps"]
