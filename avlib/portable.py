"""Portable numerics for the data-preparation commands: the same bytes on every x86-64 CPU.

The files that later stages depend on by hash (avsynth's clips, the decoded caches, MAViL's fbank statistics and
the AudioSet-role mixtures) must come out bit-identical wherever ``dvc repro`` runs, or DVC re-runs the whole DAG
on another machine. By default they do not: NumPy dispatches its element-wise loops and reductions to the widest
SIMD set the CPU has (AVX2, AVX-512, AVX-512-FP16...), OpenBLAS picks a kernel per CPU model, MKL takes other
paths on AMD than on Intel, and ATen vectorises for the CPU; each changes the last bits of some results, and a
few of them land on the other side of a rounding to int16 samples or uint8 pixels (measured: avsynth's smoke
data under AVX-512 vs the baseline SIMD set differed in 2 of ~400 clips; the `tiny` data of an Intel Xeon and an
AMD EPYC session had different hashes).

:func:`portable_env` pins each library to a path that every x86-64-v2 CPU runs identically (NumPy's baseline
loops, OpenBLAS's Nehalem kernels, MKL's conditional-numerical-reproducibility mode, ATen's scalar kernels, one
thread each); the CLI runs the ``data`` commands in a child process with it (:func:`run_portably`). Training and
evaluation are not pinned: their outputs are results, not inputs hashed by later stages, and they need the
fast paths."""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = ["FLAG", "portable_env", "run_portably"]

FLAG = "AVLIB_PORTABLE_NUMERICS"  # set in the child: the pinned environment is in force


def _numpy_dispatch() -> list[str]:
    """Every SIMD target NumPy can dispatch to beyond its baseline (all of them disabled)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_dispatch__
    return list(__cpu_dispatch__)


def portable_env() -> dict[str, str]:
    """The environment variables that pin NumPy, OpenBLAS, MKL and ATen to CPU-independent code paths."""
    return {
        "NPY_DISABLE_CPU_FEATURES": " ".join(_numpy_dispatch()),
        "OPENBLAS_CORETYPE": "Nehalem",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_CBWR": "COMPATIBLE",
        "MKL_NUM_THREADS": "1",
        "ATEN_CPU_CAPABILITY": "default",
        "OMP_NUM_THREADS": "1",
        FLAG: "1",
    }


def run_portably(argv: list[str]) -> int | None:
    """Run ``python -m avlib <argv>`` in a child process under :func:`portable_env` and return its exit code,
    or ``None`` when this process already runs under it (the caller then does the work itself)."""
    if os.environ.get(FLAG) == "1":
        return None
    env = {**os.environ, **portable_env()}
    return subprocess.call([sys.executable, "-m", "avlib", *argv], env=env)
