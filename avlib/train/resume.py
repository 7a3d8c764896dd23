"""Resume rule shared by every training loop (step runner, XDC rounds): a checkpoint is resumed only when
it was written under the same key, ``<config hash>-<fingerprint of the code the run imports>``.

* the config hash ignores bookkeeping fields (device, threads, cadence; :func:`avlib.config.config_hash`);
* the fingerprint hashes the static import closure of the loop and of the method's module
  (:mod:`avlib.codedeps`): after a fix, DVC re-runs exactly the stages whose code changed, and those runs
  retrain instead of "resuming" a finished checkpoint;
* a checkpoint written under another key is never resumed and never deleted: it moves, with the run's
  metrics, final weights and summary, to ``<run>/stale-<old key>/``.

Every run also writes its fully resolved config as ``<run>/config.yaml``.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

import yaml

from avlib import checkpoint, dist
from avlib.codedeps import code_fingerprint, import_closure
from avlib.config import config_hash, to_dict

log = logging.getLogger(__name__)

__all__ = ["training_loop", "run_entries", "run_code", "run_key", "open_checkpoint", "write_config"]

RUN_FILES = ("metrics.jsonl", "final.pt", "summary.json", "clusters.npz", "config.yaml")


def training_loop(method: str) -> str:
    """The module that trains ``method``: its module's ``TRAINING_LOOP`` (XDC: ``avlib.train.xdc_rounds``), else
    the step runner ``avlib.train.runner``."""
    return getattr(importlib.import_module(f"avlib.methods.{method}"), "TRAINING_LOOP", "avlib.train.runner")


def run_entries(loop_module: str, method: str) -> tuple[str, str]:
    """The modules whose import closure a run's result depends on: its training loop and its method."""
    return (loop_module, f"avlib.methods.{method}")


def run_code(method: str) -> list[str]:
    """The avlib files (relative to ``avlib/``) a run of ``method`` depends on: the import closure of its
    training loop and its module. The resume key hashes them and its DVC pretraining stage lists them."""
    return import_closure(run_entries(training_loop(method), method))


def run_key(cfg, loop_module: str) -> str:
    """``<config hash>-<code fingerprint>`` of a run of ``cfg`` trained by ``loop_module`` (which must be the
    method's :func:`training_loop`, so that the key hashes the files its DVC stage lists)."""
    if loop_module != training_loop(cfg.method):
        raise RuntimeError(
            f"{loop_module} trains method {cfg.method!r}, whose TRAINING_LOOP is {training_loop(cfg.method)}"
        )
    return f"{config_hash(cfg)}-{code_fingerprint(run_entries(loop_module, cfg.method))}"


def open_checkpoint(
    out_dir: str | Path, key: str, *, resume: bool = True, map_location="cpu", name: str | None = None
) -> dict | None:
    """The state of ``out_dir/last.pt`` when it was written under ``key``; else ``None``, after moving a
    checkpoint of another key (and the run's other files) to ``stale-<its key>/``. Collective under DDP
    (rank 0 moves the files)."""
    out_dir = Path(out_dir)
    path = checkpoint.latest(out_dir)
    if path is None or not resume:
        return None
    state = checkpoint.load(path, map_location=map_location)
    old = state.get("config_hash")
    if old == key:
        return state
    stale = out_dir / f"stale-{old}"
    log.warning(
        "%s: config or training code changed since %s (%s != %s): not resuming; the old run is kept in %s",
        name or out_dir.name,
        path,
        old,
        key,
        stale,
    )
    dist.barrier()
    if dist.is_main():
        stale.mkdir(exist_ok=True)
        for f in (path, *(out_dir / n for n in RUN_FILES)):
            if f.exists():
                os.replace(f, stale / f.name)
    dist.barrier()
    return None


def write_config(out_dir: str | Path, cfg) -> Path:
    """``out_dir/config.yaml``: the fully resolved config of the run (profile, run file and overrides merged)."""
    from avlib.paths import atomic_write_text

    return atomic_write_text(
        Path(out_dir) / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None)
    )
