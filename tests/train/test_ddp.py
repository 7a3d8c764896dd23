"""DDP on CPU: `torchrun --nproc_per_node=2` (gloo) runs `avlib pretrain`; replicas end identical."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.ddp
@pytest.mark.parametrize(
    "run,extra",
    [
        ("xkd", []),
        # MAViL: its schedule, the fixed fbank statistics; its InfoNCE gathers negatives across the two ranks
        ("mavil", ["--schedule", "mavil", "--set", "mavil.fbank.stats=''"]),
    ],
)
def test_two_process_gloo_pretraining(smoke_cache, tmp_path, run, extra):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "avlib",
        "pretrain",
        *extra[:2],
        "--config",
        f"params/pretrain/{run}.yaml",
        "--profile",
        "smoke",
        "--out",
        str(out),
        "--set",
        f"data.cache={smoke_cache}",
        "--set",
        "train.max_steps=3",
        "--set",
        "train.num_threads=1",
        *extra[2:],
    ]
    env = {**os.environ, "AVLIB_NO_TQDM": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["replicas_agree"] is True and summary["steps"] == 3
    assert (out / "final.pt").is_file()
