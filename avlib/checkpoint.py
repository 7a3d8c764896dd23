"""Atomic checkpoints that load with ``weights_only=True``.

A checkpoint is a plain dict (tensors, numbers, strings, lists, dicts): ``{model, optimizer, scaler,
step, epoch, config, config_hash, rng, avlib_version}``. Files are written to a temporary name in the
same folder and renamed, so an interrupted write never replaces the last good checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import torch

LAST = "last.pt"


def atomic_save(obj, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


def latest(run_dir: str | Path) -> Path | None:
    p = Path(run_dir) / LAST
    return p if p.is_file() else None
