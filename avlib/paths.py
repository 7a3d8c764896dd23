"""Project paths that work the same from the CLI, papermill (cwd = repo root) and JupyterLab
(cwd = notebooks/): everything is resolved against the repository root."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root(start: str | Path | None = None) -> Path:
    """The nearest ancestor of ``start`` (default: cwd) holding ``dvc.yaml`` and ``params/``.

    ``AVLIB_ROOT`` overrides the search."""
    env = os.environ.get("AVLIB_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "dvc.yaml").is_file() and (p / "params").is_dir():
            return p
    raise FileNotFoundError(f"no avlib project (dvc.yaml + params/) above {here}; set AVLIB_ROOT")


def resolve(path: str | Path, root: str | Path | None = None) -> Path:
    """Absolute path: ``path`` itself if absolute, else relative to the repo root."""
    p = Path(path)
    return p if p.is_absolute() else (Path(root) if root else repo_root()) / p


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``: readers never
    see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def results_dir(artifact_id: str, root: str | Path | None = None) -> Path:
    d = resolve(Path("results") / artifact_id, root)
    d.mkdir(parents=True, exist_ok=True)
    return d
