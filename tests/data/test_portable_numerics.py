"""The data commands run with CPU-independent numerics (avlib.portable): avsynth's bytes must not depend on which
SIMD sets and BLAS kernels the machine offers, or DVC re-runs the whole DAG on the next machine."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from avlib import cli
from avlib.data.cache import CacheError
from avlib.portable import FLAG, portable_env

ROOT = Path(__file__).resolve().parents[2]
GENERATE = """
import sys
from avlib.data.avsynth import generate_all
cfg = {"workers": 1, "progress": False, "datasets": {"hmdb": {"splits": {"train": 16}}},
       "spec": {"num_classes": 16, "difficulty": 0.5, "src_fps": 16, "src_size": 48, "duration": 2.0,
                "src_sample_rate": 22050}}
generate_all(sys.argv[1], cfg, seed=0)
"""


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f.relative_to(folder).as_posix().encode() + f.read_bytes())
    return h.hexdigest()


def _generate(out: Path, env: dict) -> str:
    base = {k: v for k, v in os.environ.items() if k not in portable_env()}
    subprocess.run([sys.executable, "-c", GENERATE, str(out)], env={**base, **env}, check=True, cwd=ROOT)
    return _digest(out)


# sha256 of the files GENERATE writes under portable_env(), measured on an AMD EPYC (AVX-512) session; any x86-64
# machine must reproduce it (a changed avsynth, media writer or pinned package changes it too: then every stage
# re-runs, so update it deliberately, in the same commit, and say so)
PINNED_DIGEST = "df7fd36454cb429becc6f9a39f0ae8f26ff7f9a1e3a9b838243e40e5e6b910ec"


def test_pinned_generation_reproduces_the_recorded_bytes_on_this_machine(tmp_path):
    native = _generate(tmp_path / "native", portable_env())
    assert native == PINNED_DIGEST, f"avsynth under portable numerics gave {native}"


def test_the_environment_disables_every_numpy_simd_target_and_pins_the_libraries():
    env = portable_env()
    probe = "from numpy._core._multiarray_umath import __cpu_features__ as f, __cpu_dispatch__ as d; print([x for x in d if f[x]])"
    out = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"  # NumPy runs its baseline loops only
    assert env["OPENBLAS_CORETYPE"] and env["MKL_CBWR"] == "COMPATIBLE" and env["ATEN_CPU_CAPABILITY"] == "default"
    assert env[FLAG] == "1"


@pytest.mark.parametrize(
    "argv, portable",
    [
        (["data", "generate", "--out", "x"], True),
        (["data", "cache", "--data", "d", "--out", "x"], True),
        (["data", "fbank-stats", "--config", "c.yaml", "--out", "x.json"], True),
        (["data", "mixtures", "--src", "s", "--out", "x"], True),
        (["data", "preview"], False),
    ],
)
def test_the_data_commands_whose_files_are_hashed_run_in_a_pinned_child(monkeypatch, argv, portable):
    calls = []
    monkeypatch.delenv(FLAG, raising=False)
    monkeypatch.setattr("avlib.portable.subprocess.call", lambda cmd, env: calls.append((cmd, env)) or 0)
    if portable:
        assert cli.main(argv) == 0
        (cmd, env), = calls
        assert cmd[1:] == ["-m", "avlib", *argv] and env[FLAG] == "1" and env["MKL_CBWR"] == "COMPATIBLE"
    else:
        monkeypatch.setattr(cli, "cmd_data_preview", lambda a: 0)
        parser = cli.build_parser()
        assert not getattr(parser.parse_args(argv), "portable", False)
        assert calls == []


def test_inside_the_pinned_child_the_command_runs_itself(monkeypatch, tmp_path):
    monkeypatch.setenv(FLAG, "1")
    monkeypatch.setattr("avlib.portable.subprocess.call", lambda *a, **k: pytest.fail("spawned a second child"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "meta.json").write_text(json.dumps({"multilabel": True}))
    with pytest.raises(CacheError, match="is not a built cache"):  # the command itself ran: no re-spawn
        cli.main(["data", "mixtures", "--src", str(src), "--out", str(tmp_path / "o")])
