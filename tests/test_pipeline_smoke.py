"""The whole DVC DAG at the `smoke` profile, in a copy of the repository: data -> cache -> pretrain(_ablation)@*
-> eval(_ablation)@* / finetune@* -> every table, figure and page notebook, and the XDC stages
(xdc_pretrain@* -> xdc_eval(_fc)@* / xdc_finetune@* -> xdc_table@*, ...) on the same caches.

CI time: after `dvc repro cache`, the XKD stages and the XDC stages (`xdc_*`) run side by side in two
copies (one core each; they share only the data and cache stages), then the XDC copy's outputs and lock
entries are merged into the first: a full `dvc repro` must then be a no-op (the two halves form one
consistent DAG), and a table param change re-runs only the table."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


SEED1 = re.compile(r"_s1(_|$)")


def _one_seed(obj):
    """Drop every seed-1 run, evaluation and fine-tune from a params tree (index keys, run lists)."""
    if isinstance(obj, dict):
        return {k: _one_seed(v) for k, v in obj.items() if not (isinstance(k, str) and SEED1.search(k))}
    if isinstance(obj, list):
        return [_one_seed(v) for v in obj if not (isinstance(v, str) and SEED1.search(v))]
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


def _merge_xdc_half(src: Path, dst: Path) -> None:
    """Bring the XDC copy's outputs (work/, results/xdc_*) and its dvc.lock entries into ``dst``."""
    import yaml

    shutil.copytree(src / "work", dst / "work", dirs_exist_ok=True)
    for d in sorted((src / "results").glob("xdc_*")):
        shutil.copytree(d, dst / "results" / d.name, dirs_exist_ok=True)
    lock = yaml.safe_load((dst / "dvc.lock").read_text())
    theirs = yaml.safe_load((src / "dvc.lock").read_text())["stages"]
    for name in ("data", "cache"):  # run once, before the copy: identical in both
        assert theirs[name] == lock["stages"][name], name
    lock["stages"].update({k: v for k, v in theirs.items() if k not in lock["stages"]})
    (dst / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))


def _dvc(args, cwd, env):
    exe = _dvc_exe()
    p = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=3000)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    return p.stdout + p.stderr


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
    # Every notebook still runs; with one seed their claims read 'cannot resolve' (no spread).
    import yaml

    for f in [
        repo / "params/index.yaml",
        repo / "dvc.yaml",
        repo / "params/xdc_index.yaml",
        *sorted((repo / "params").glob("xkd_*.yaml")),
        *sorted((repo / "params").glob("xdc_*.yaml")),
    ]:
        head = "".join(line for line in f.read_text().splitlines(keepends=True) if line.startswith("#"))
        f.write_text(head + yaml.safe_dump(_one_seed(yaml.safe_load(f.read_text())), sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc(["repro", "cache"], repo, _env(repo))
    xdc_repo = tmp_path / "xdc"
    shutil.copytree(repo, xdc_repo, symlinks=True, ignore=shutil.ignore_patterns("tmp"))
    stages = list(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    halves = {
        "xkd": (repo, [s for s in stages if not s.startswith("xdc_")]),
        "xdc": (xdc_repo, [s for s in stages if s.startswith("xdc_")]),
    }
    assert len(halves["xdc"][1]) >= 8, halves["xdc"][1]
    procs = {}
    for half, (cwd, targets) in halves.items():
        log = open(tmp_path / f"{half}.log", "w")
        procs[half] = (
            subprocess.Popen(
                [str(_dvc_exe()), "repro", *targets],
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env={**_env(cwd), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
            ),
            log,
        )
    for half, (p, log) in procs.items():
        rc = p.wait(timeout=3000)
        log.close()
        assert rc == 0, f"dvc repro ({half} half):\n" + (tmp_path / f"{half}.log").read_text()[-8000:]
    _merge_xdc_half(xdc_repo, repo)
    env = _env(repo)
    index = yaml.safe_load((repo / "params/index.yaml").read_text())
    artifacts = [a for group in ("tables", "figures", "pages") for a in index.get(group, {})]
    assert len(artifacts) >= 28, artifacts  # every XKD table and figure ran its notebook at smoke
    xdc = yaml.safe_load((repo / "params/xdc_index.yaml").read_text())
    xdc_artifacts = [a for group in ("xdc_tables", "xdc_figures", "xdc_pages") for a in xdc.get(group, {})]
    assert len(xdc_artifacts) == 7, xdc_artifacts  # every XDC table and figure, and the claims page
    artifacts += xdc_artifacts
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
    res = repo / "results/xkd_tab01_kd_effect"
    for f in ("table.md", "table.csv", "metrics.json", "fig.png", "provenance.json", "executed.ipynb"):
        assert (res / f).is_file(), f
    md = (res / "table.md").read_text()
    assert "profile `smoke`" in md and "(paper)" in md and "Directional claim" in md
    again = _dvc(["repro"], repo, env)
    assert "Running stage" not in again, again
    p = repo / "params/xkd_tab01_kd_effect.yaml"
    text = p.read_text()
    assert "video_tasks:\n- ucf\n- hmdb\n- ks\n- k400\n" in text
    p.write_text(text.replace("video_tasks:\n- ucf\n- hmdb\n- ks\n- k400\n", "video_tasks:\n- ucf\n- hmdb\n"))
    third = _dvc(["repro"], repo, env)
    assert "Running stage 'table@xkd_tab01_kd_effect'" in third
    assert "Running stage 'pretrain@" not in third and "Running stage 'eval@" not in third
    assert "Running stage 'pretrain_ablation@" not in third and "Running stage 'finetune@" not in third
