"""``provenance.json``: where a result came from (git sha, versions, device, profile, wall time)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import avlib
from avlib.paths import atomic_write_text


def git_sha(root: str | Path | None = None) -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except Exception:  # not a git checkout (e.g. an sdist)
        return "unknown"


def versions() -> dict:
    out = {"python": platform.python_version(), "avlib": avlib.__version__}
    for mod in ("torch", "timm", "torchaudio", "numpy", "sklearn", "av"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            out[mod] = None
    return out


def device_info() -> dict:
    import torch

    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def write_provenance(
    out_dir: str | Path, *, profile: str, started: float, extra: dict | None = None, root: str | Path | None = None
) -> Path:
    rec = {
        "git_sha": git_sha(root),
        "versions": versions(),
        "device": device_info(),
        "profile": profile,
        "wall_s": round(time.time() - started, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    }
    return atomic_write_text(
        Path(out_dir) / "provenance.json", json.dumps(rec, indent=2, sort_keys=True, default=str) + "\n"
    )
