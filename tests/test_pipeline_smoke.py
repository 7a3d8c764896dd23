"""The whole DVC DAG at the `smoke` profile, in a copy of the repository: data -> cache -> pretrain(_ablation)@*
-> eval(_ablation)@* / finetune@* -> every table, figure and page notebook, and the XDC stages
(xdc_pretrain@* -> xdc_eval(_fc)@* / xdc_finetune@* -> xdc_tab01_variants, ...) on the same caches. dvc.yaml
is generated for one seed (`python -m avlib pipeline --seeds 0`) from the one-seed params.

CI time: after `dvc repro cache`, the stages run side by side in two copies (one core each): the second copy runs
every XDC and MAViL stage and 5 of the XKD ablation configurations, the first the other XKD runs and then the XKD artifacts
that read none of the second's outputs. The second copy's outputs and lock entries are then merged into the first,
where `dvc repro` runs the remaining XKD artifacts and nothing else (the two copies form one consistent DAG).
Then `dvc status` is clean, every artifact read exactly what its stage depends on, and a table param change
re-runs only the table."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


OTHER_SEED = re.compile(r"_s[1-9][0-9]*(_|$)")  # every run but seed 0 (the A/A control's 100-102 too)


def _one_seed(obj):
    """Drop every run, evaluation and fine-tune of a seed other than 0 from a params tree (index keys, run lists)."""
    if isinstance(obj, dict):
        return {k: _one_seed(v) for k, v in obj.items() if not (isinstance(k, str) and OTHER_SEED.search(k))}
    if isinstance(obj, list):
        return [_one_seed(v) for v in obj if not (isinstance(v, str) and OTHER_SEED.search(v))]
    return obj


def _dvc_exe() -> Path:
    return Path(sys.executable).with_name("dvc")


def _env(repo: Path) -> dict:
    return {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "AVLIB_NO_TQDM": "1",
        "AVLIB_ROOT": str(repo),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(repo),
    }


def _merge_lane(src: Path, dst: Path) -> None:
    """Bring what the second copy ran (the outputs its dvc.lock lists) and its dvc.lock entries into ``dst``."""
    import yaml

    lock = yaml.safe_load((dst / "dvc.lock").read_text())
    theirs = yaml.safe_load((src / "dvc.lock").read_text())["stages"]
    for name in ("data", "cache"):  # run once, before the copy: identical in both
        assert theirs[name] == lock["stages"][name], name
    for name, entry in theirs.items():
        if name in lock["stages"]:
            continue
        for out in entry.get("outs", []):
            path = src / out["path"]
            if path.is_dir():
                shutil.copytree(path, dst / out["path"], dirs_exist_ok=True)
            else:
                (dst / out["path"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dst / out["path"])
        lock["stages"][name] = entry
    (dst / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))


def _lanes(stages: dict, moved: int) -> tuple[list, list, list]:
    """The stage targets of two copies run side by side (one core each): the second runs every XDC and MAViL stage and the
    training + evaluation of ``moved`` XKD ablation configurations; the first every other training and evaluation
    stage, then the XKD artifacts that read none of the second's outputs (``early``). The other XKD artifacts run
    in the first copy once the second's outputs are merged into it."""
    students = {v["run"] for v in stages["eval_ablation_student"]["foreach"].values()}
    ablation = [k for k in stages["pretrain_ablation"]["foreach"] if k not in students]
    second_runs = ablation[-moved:]
    second = [s for s in stages if s.startswith(("xdc_", "mavil_"))]
    second += [f"{st}@{r}" for r in second_runs for st in ("pretrain_ablation", "eval_ablation")]
    first = [
        f"{st}@{k}"
        for st in ("pretrain", "eval", "eval_student", "finetune", "pretrain_ablation", "eval_ablation")
        for k in stages[st]["foreach"]
        if k not in second_runs
    ] + ["eval_ablation_student"]
    theirs = lambda d: any(f"/{r}/" in d or d.endswith((f"/{r}", f"/{r}.json")) for r in second_runs)  # noqa: E731
    early = [
        name
        for name, st in stages.items()
        if name.startswith("xkd_")
        and "foreach" not in st
        and not any(theirs(d) or d.startswith("results/") for d in st["deps"])
    ]
    return first, second, early


def _dvc(args, cwd, env):
    exe = _dvc_exe()
    p = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=3000)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    return p.stdout + p.stderr


def _check_reads_match_deps(aid: str, stage: dict, repo: Path) -> None:
    """Every project file the artifact's notebook read or listed (its provenance ``inputs`` and ``listed``) is one
    of its DVC deps or params files or lies in a dep, and every data dep was read: the stage depends on exactly
    what it reads."""
    import json

    prov = json.loads((repo / "results" / aid / "provenance.json").read_text())
    params = [f for p in stage["params"] for f in p]
    assert "params/profile.yaml" in params and f"params/{aid}.yaml" in params, params
    data = [d for d in stage["deps"] if not d.startswith(("avlib/", "notebooks/"))]
    covered = lambda f: any(f == d or f.startswith(d.rstrip("/") + "/") for d in data)  # noqa: E731
    undeclared = [f for f in prov["inputs"] + prov["listed"] if not covered(f) and f not in params]
    assert not undeclared, f"{aid} read files its DVC stage does not depend on: {undeclared}"
    unread = [d for d in data if not any(f == d or f.startswith(d + "/") for f in prov["inputs"])]
    assert not unread, f"{aid} depends on files it never read: {unread}"


@pytest.mark.slow
def test_smoke_dag_end_to_end(tmp_path):
    repo = tmp_path / "repo"
    keep = ["avlib", "params", "notebooks", "dvc.yaml", ".dvc", ".dvcignore", "pyproject.toml"]
    repo.mkdir()
    for k in keep:
        src = ROOT / k
        if src.is_dir():
            shutil.copytree(src, repo / k, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
        else:
            shutil.copy2(src, repo / k)
    (repo / "params/profile.yaml").write_text("profile: smoke\n")
    # CI time: one seed per configuration (~100 stages instead of ~190; the params files, and the run
    # dependencies that dvc.yaml lists for the figure stages); tiny and paper run them as they are.
    # Every notebook still runs; with one seed their claims read 'not resolved' (no spread).
    import yaml

    for f in [p for m in ("xkd", "xdc", "mavil") for p in sorted((repo / "params").glob(f"{m}_*.yaml"))]:
        head = "".join(line for line in f.read_text().splitlines(keepends=True) if line.startswith("#"))
        f.write_text(head + yaml.safe_dump(_one_seed(yaml.safe_load(f.read_text())), sort_keys=False))
    from avlib.pipeline import load_indexes
    from avlib.pipeline import main as generate

    assert generate(["--seeds", "0", "--root", str(repo)]) == 0  # dvc.yaml of the one-seed params
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc(["repro", "cache"], repo, _env(repo))
    second_repo = tmp_path / "second"
    shutil.copytree(repo, second_repo, symlinks=True, ignore=shutil.ignore_patterns("tmp"))
    dag = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    first, second, early = _lanes(dag, moved=5)
    assert sum(s.startswith("xdc_") for s in second) >= 8, second
    assert len(early) >= 15, early  # most XKD artifacts render while the second copy still trains
    dvc = shlex.quote(str(_dvc_exe()))
    procs = {}
    for lane, (cwd, cmd) in {
        "first": (repo, f"{dvc} repro {shlex.join(first)} && {dvc} repro {shlex.join(early)}"),
        "second": (second_repo, f"{dvc} repro {shlex.join(second)}"),
    }.items():
        log = open(tmp_path / f"{lane}.log", "w")
        procs[lane] = (
            subprocess.Popen(
                ["bash", "-c", cmd],
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env={**_env(cwd), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
            ),
            log,
        )
    for lane, (p, log) in procs.items():
        rc = p.wait(timeout=3000)
        log.close()
        assert rc == 0, f"dvc repro ({lane} copy):\n" + (tmp_path / f"{lane}.log").read_text()[-8000:]
    _merge_lane(second_repo, repo)
    rest = _dvc(["repro"], repo, _env(repo))  # the other XKD artifacts; nothing either copy ran runs again
    assert "Running stage 'pretrain" not in rest and "Running stage 'eval" not in rest, rest[-3000:]
    assert "Running stage 'xdc_" not in rest and "Running stage 'mavil_" not in rest
    assert "Running stage 'xkd_claims'" in rest
    assert not [a for a in early if f"Running stage '{a}'" in rest], rest[-3000:]
    env = _env(repo)
    indexes = {ix.method: ix for ix in load_indexes(repo)}
    assert len(indexes["xkd"].artifacts) >= 28, indexes["xkd"].artifacts  # every XKD table and figure ran
    assert len(indexes["xdc"].artifacts) == 7, indexes["xdc"].artifacts  # every XDC table, figure and page
    assert len(indexes["mavil"].artifacts) >= 5, indexes["mavil"].artifacts  # MAViL Tables 1-4 and its page
    artifacts = [*indexes["xkd"].artifacts, *indexes["xdc"].artifacts, *indexes["mavil"].artifacts]
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for aid in artifacts:  # DESIGN section 6 files of every artifact
        for f in (
            "table.md",
            "table.csv",
            "metrics.json",
            "fig.png",
            "fig_data.csv",
            "provenance.json",
            "executed.ipynb",
        ):
            assert (repo / "results" / aid / f).is_file(), f"{aid}/{f}"
        assert "profile `smoke`" in (repo / "results" / aid / "table.md").read_text(), aid
        _check_reads_match_deps(aid, stages[aid], repo)
    res = repo / "results/xkd_tab01_kd_effect"
    for f in ("table.md", "table.csv", "metrics.json", "fig.png", "provenance.json", "executed.ipynb"):
        assert (res / f).is_file(), f
    md = (res / "table.md").read_text()
    assert "profile `smoke`" in md and "(paper)" in md and "**Claim**" in md
    # the two copies form one consistent DAG: nothing is left to run (a `dvc repro` would be a no-op)
    assert "Data and pipelines are up to date" in _dvc(["status"], repo, env)
    p = repo / "params/xkd_tab01_kd_effect.yaml"
    text = p.read_text()
    assert "reference_row: xkd\n" in text
    p.write_text(text.replace("reference_row: xkd\n", "reference_row: ae\n"))
    third = _dvc(["repro"], repo, env)
    assert "Running stage 'xkd_tab01_kd_effect'" in third
    assert "gap to *L_ae*" in (repo / "results/xkd_tab01_kd_effect/table.md").read_text()
    assert "Running stage 'xkd_tab02_domain_alignment'" not in third and "Running stage 'xdc_" not in third
    assert "Running stage 'pretrain@" not in third and "Running stage 'eval@" not in third
    assert "Running stage 'pretrain_ablation@" not in third and "Running stage 'finetune@" not in third
