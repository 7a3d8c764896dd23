"""``provenance.json``: where a result came from (git sha, versions, device, profile, wall time) and which of
the project's files it read.

The files read are recorded by a Python audit hook (:pep:`578`, installed when this module is imported) on
every ``open`` for reading and every directory listing under the project root, outside ``avlib/`` itself and
the virtual environment. :func:`write_provenance` writes those since the previous provenance record (in a
notebook: since the kernel imported the report) as ``inputs`` and ``listed``, so a reader sees which
evaluations a table was made of, and the whole-DAG test checks them against the stage's DVC dependencies.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import avlib
from avlib.paths import atomic_write_text, repo_root

_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_READ: dict[str, None] = {}  # ordered sets of absolute paths
_LISTED: dict[str, None] = {}
_WATCH: dict[str, object] = {}


def _audit(event: str, args) -> None:
    if event == "open":
        path, _mode, flags = args
        if flags & _WRITE or not isinstance(path, (str, bytes, os.PathLike)):
            return
        seen = _READ
    elif event in ("os.listdir", "os.scandir"):
        path = args[0]
        if not isinstance(path, (str, bytes, os.PathLike)):
            return
        seen = _LISTED
    else:
        return
    p = os.path.abspath(os.fsdecode(path))
    prefix = _WATCH.get("prefix")
    if prefix and p.startswith(prefix) and not p.startswith(_WATCH["skip"]):
        seen[p] = None


def _install() -> None:
    try:
        root = str(repo_root())
    except FileNotFoundError:  # not inside a project: nothing to record
        return
    _WATCH["prefix"] = root + os.sep
    _WATCH["skip"] = tuple(os.path.join(root, d) + os.sep for d in ("avlib", ".venv", ".git", ".dvc"))
    sys.addaudithook(_audit)


if "prefix" not in _WATCH:
    _install()


def files_read(exclude: str | Path | None = None) -> dict:
    """``{"inputs": [...], "listed": [...]}``: project-relative files read and folders listed since the last
    call (outside ``exclude``, e.g. the artifact's own output folder), then forgets them."""
    prefix = _WATCH.get("prefix")
    if prefix is None:
        return {"inputs": [], "listed": []}
    ex = os.path.abspath(exclude) + os.sep if exclude else None

    def rel(paths):
        keep = [p for p in paths if not (ex and (p + os.sep).startswith(ex))]
        return sorted({p[len(prefix) :] for p in keep})

    out = {
        "inputs": rel([p for p in _READ if os.path.isfile(p)]),
        "listed": rel([p for p in _LISTED if os.path.isdir(p)]),
    }
    _READ.clear()
    _LISTED.clear()
    return out


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
    """Installed versions of Python, avlib and the packages results depend on, read from the package metadata
    (importing torch, timm and torchaudio only to ask would cost a table notebook seconds)."""
    from importlib import metadata

    out = {"python": platform.python_version(), "avlib": avlib.__version__}
    for mod, dist_name in (
        ("torch", "torch"),
        ("timm", "timm"),
        ("torchaudio", "torchaudio"),
        ("numpy", "numpy"),
        ("sklearn", "scikit-learn"),
        ("av", "av"),
    ):
        try:
            out[mod] = metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            out[mod] = None
    return out


def device_info() -> dict:
    """The machine; CUDA details where this process already uses torch (a table notebook does not)."""
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["cuda"] = torch.cuda.is_available()
        if info["cuda"]:
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
        **files_read(exclude=out_dir),
    }
    return atomic_write_text(
        Path(out_dir) / "provenance.json", json.dumps(rec, indent=2, sort_keys=True, default=str) + "\n"
    )
