"""The one reader of what the pipeline measured: evaluation files (``evals/<run>.json``) and stage times, as
tidy tables the report's artifacts build on."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

__all__ = ["load_eval", "collect_evals", "stage_times"]


def load_eval(evals_dir: Path, run: str) -> dict:
    """``<evals_dir>/<run>.json`` (written by ``avlib evaluate``); a missing file names the stage that writes it."""
    path = evals_dir / f"{run}.json"
    if not path.is_file():
        raise FileNotFoundError(f"missing evaluation {path}: run `dvc repro eval@{run}`")
    return json.loads(path.read_text())


def stage_times(runs: list[str], evals_dir: Path, runs_dir: Path) -> dict:
    """Per run, the measured wall time of its pretraining (``runs/<run>/summary.json``) and of its evaluation
    (``evals/<run>.json``), in seconds; ``None`` where the file is absent."""
    out = {}
    for r in runs:
        s = runs_dir / r / "summary.json"
        e = evals_dir / f"{r}.json"
        out[r] = {
            "pretrain_s": round(json.loads(s.read_text())["wall_s"], 1) if s.is_file() else None,
            "eval_s": round(json.loads(e.read_text())["wall_s"], 1) if e.is_file() else None,
        }
    return out


def collect_evals(runs: dict, tasks: dict, ev_dir: Path) -> pd.DataFrame:
    """Tidy rows (one per row key x run x task) from ``evals/<run>.json``. ``runs`` maps a row to its seed runs,
    or to ``{task: seed runs}`` where a row reads other runs for some tasks; a missing result raises."""
    rows = []
    for row_key, spec in runs.items():
        by_task = spec if isinstance(spec, dict) else {t: spec for t in tasks}
        for run in dict.fromkeys(r for t in tasks for r in by_task[t]):
            ev = load_eval(ev_dir, run)
            for task in [t for t in tasks if run in by_task[t]]:
                res = ev["tasks"].get(task)
                if res is None or "skipped" in res:
                    raise ValueError(f"evaluation {run} has no result for task {task!r}")
                rows.append(
                    {
                        "row": row_key,
                        "run": run,
                        "seed": ev["seed"],
                        "task": task,
                        "dataset": tasks[task],
                        "encoder": res["encoder"],
                        "protocol": res["protocol"],
                        "metric": res["metric"],
                        "value": res["test"],
                        "val_value": res["val"],
                        "chance": res.get("chance", float("nan")),
                        "n_test": res.get("n_test", float("nan")),
                    }
                )
    return pd.DataFrame(rows)
