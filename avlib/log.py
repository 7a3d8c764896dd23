"""Logging, JSON-lines metrics and progress bars (the library never configures handlers itself)."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import Path

from tqdm.auto import tqdm

from avlib.paths import atomic_write_text


def setup_logging(level: int = logging.INFO, rank: int = 0) -> None:
    """Configure the root logger for CLI use: one concise line per record, quiet off rank 0."""
    logging.basicConfig(
        level=level if rank == 0 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


def progress(iterable=None, *, total=None, desc=None, disable: bool | None = None, **kw):
    """A tqdm bar, disabled off rank 0, when ``AVLIB_NO_TQDM`` is set, or when explicitly asked."""
    if disable is None:
        disable = bool(os.environ.get("AVLIB_NO_TQDM")) or int(os.environ.get("RANK", "0")) != 0
    return tqdm(iterable, total=total, desc=desc, disable=disable, dynamic_ncols=True, **kw)


class JsonlWriter:
    """Append-only JSON-lines metrics file. ``truncate_after(step)`` drops records of steps that a
    resumed run will redo, so the log of a resumed run equals that of an uninterrupted one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        keep = [
            ln for ln in self.path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", -1) <= step
        ]
        atomic_write_text(self.path, "".join(k + "\n" for k in keep))

    def write(self, record: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(clean) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    return [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]
