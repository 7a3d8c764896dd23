"""Real-data benchmarks (issue 4): ESC-50 5-fold linear evaluation and AV-MNIST."""

from __future__ import annotations

import json
from pathlib import Path

from avlib.paths import atomic_write_text

__all__ = ["claim_work_dir"]


def claim_work_dir(work, settings: dict) -> dict:
    """Bind ``work`` to ``settings`` (size, profile, ...): the first call writes ``settings.json``; a later
    call with different settings fails instead of silently reusing results of another configuration."""
    work = Path(work)
    path = work / "settings.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != settings:
            diff = {k: (old.get(k), settings.get(k)) for k in set(old) | set(settings) if old.get(k) != settings.get(k)}
            raise ValueError(
                f"{work} holds results of other settings {diff} (old, new); remove it or use another work folder"
            )
    else:
        work.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")
    return settings
