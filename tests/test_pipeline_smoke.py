"""The whole DVC DAG at the `smoke` profile, in a copy of the repository: data -> cache -> pretrain@*
-> eval@* -> table@*; then a second `dvc repro` is a no-op and a table param change re-runs only the table."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dvc(args, cwd, env):
    exe = Path(sys.executable).with_name("dvc")
    p = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
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
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "AVLIB_NO_TQDM": "1", "AVLIB_ROOT": str(repo),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(repo)}
    _dvc(["repro"], repo, env)
    res = repo / "results/xkd_tab01_kd_effect"
    for f in ("table.md", "table.csv", "metrics.json", "fig.png", "provenance.json", "executed.ipynb"):
        assert (res / f).is_file(), f
    md = (res / "table.md").read_text()
    assert "profile `smoke`" in md and "(paper)" in md and "Directional claim" in md
    again = _dvc(["repro"], repo, env)
    assert "Running stage" not in again, again
    p = repo / "params/xkd_tab01_kd_effect.yaml"
    p.write_text(p.read_text().replace("video_tasks: [ucf, hmdb, ks, k400]", "video_tasks: [ucf, hmdb]"))
    third = _dvc(["repro"], repo, env)
    assert "Running stage 'table@xkd_tab01_kd_effect'" in third
    assert "Running stage 'pretrain@" not in third and "Running stage 'eval@" not in third
