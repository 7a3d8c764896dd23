"""Command line: ``python -m avlib <command>`` (also the ``avlib`` console script).

Commands
  data generate   write the embedded avsynth datasets (media files + manifests)
  data cache      decode every dataset once into array caches (skips bad files with reasons)
  data preview    PNG of sample frames and spectrograms per class
  pretrain        train one pretraining configuration (works under torchrun)
  evaluate        frozen-feature evaluation of a pretrained run on the profile's downstream tasks
  finetune        end-to-end fine-tuning of a run's encoder on one task (Tables S6/S7 recipes)
  benchmark       pretraining throughput (clips/s) and peak memory per method
Every command reads the scale profile selected by params/profile.yaml unless --profile is given.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from avlib.log import setup_logging

log = logging.getLogger("avlib")


def _atomic_json(obj, path: str | Path) -> None:
    from avlib.paths import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def cmd_data_generate(a) -> int:
    from avlib.data.avsynth import generate_all
    from avlib.profiles import load_profile

    cfg = dict(load_profile(a.profile)["data"])
    seed = int(cfg.pop("seed", 0))
    summary = generate_all(Path(a.out), cfg, seed=seed)
    log.info("generated %s", json.dumps(summary, default=str))
    return 0


def cmd_data_cache(a) -> int:
    from avlib.data.cache import build_cache
    from avlib.profiles import load_profile

    prof = load_profile(a.profile)
    c = dict(prof["cache"])
    datasets = c.pop("datasets")
    out = {}
    for name, spec in datasets.items():
        kw = {**c, **(spec or {})}
        out[name] = build_cache(Path(a.data) / name, Path(a.out) / name, **kw)
    _atomic_json(out, Path(a.out) / "summary.json")
    return 0


def cmd_data_preview(a) -> int:
    from avlib.data.preview import preview_grid

    preview_grid(a.dataset, a.out, n_classes=a.n_classes)
    return 0


def cmd_pretrain(a) -> int:
    from avlib.profiles import load_pretrain_config
    from avlib.train.runner import pretrain, reset_run

    cfg = load_pretrain_config(a.config, profile=a.profile, seed=a.seed, overrides=a.set, schedule=a.schedule)
    if a.name:
        cfg.name = a.name
    if a.fresh:
        reset_run(a.out)
    summary = pretrain(cfg, a.out, resume=not a.fresh)
    from avlib import dist

    if dist.is_main():
        _atomic_json(summary, Path(a.out) / "summary.json")
    dist.cleanup()
    return 0


def cmd_evaluate(a) -> int:
    from avlib.eval.protocol import evaluate_run
    from avlib.profiles import ablation_section, load_profile

    prof = load_profile(a.profile)
    ev = prof["eval"]
    tasks = ev["tasks"]
    if a.task_set == "ablation":
        if a.tasks:
            raise SystemExit("evaluate: give --tasks or --task-set, not both")
        tasks = {k: tasks[k] for k in ablation_section(prof).get("tasks", [])}
    if a.tasks:
        unknown = set(a.tasks) - set(tasks)
        if unknown:
            raise SystemExit(f"evaluate: unknown task(s) {sorted(unknown)}; profile has {sorted(tasks)}")
        tasks = {k: tasks[k] for k in a.tasks}
    res = evaluate_run(a.run, tasks, encoder=a.encoder or ev.get("encoder", "teacher"),
                       svm_cs=ev.get("svm_cs"), select_on=a.select_on or ev.get("select_on", "val"),
                       probe=ev.get("probe"), batch_size=ev.get("batch_size", 64))
    _atomic_json(res, a.out)
    return 0


def cmd_finetune(a) -> int:
    from avlib.finetune import finetune
    from avlib.profiles import finetune_task, load_profile

    task, recipe = finetune_task(load_profile(a.profile), a.task)
    from avlib.train.runner import resolve_device

    res = finetune(a.run, task, recipe, encoder=a.encoder, device=resolve_device(a.device),
                   desc=f"finetune {Path(a.run).name}/{a.task}")
    res["task"] = a.task
    _atomic_json(res, a.out)
    return 0


def cmd_benchmark(a) -> int:
    from avlib.train.benchmark import run_benchmark

    rows = run_benchmark(profile=a.profile, configs=a.configs, steps=a.steps, warmup=a.warmup)
    if a.out:
        _atomic_json(rows, a.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="avlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="generate, cache or preview datasets").add_subparsers(dest="data_cmd", required=True)
    g = d.add_parser("generate", help="write the avsynth datasets")
    g.add_argument("--out", default="data")
    g.add_argument("--profile")
    g.set_defaults(func=cmd_data_generate)
    c = d.add_parser("cache", help="decode datasets once into array caches")
    c.add_argument("--data", default="data")
    c.add_argument("--out", default="cache")
    c.add_argument("--profile")
    c.set_defaults(func=cmd_data_cache)
    v = d.add_parser("preview", help="PNG grid of frames + spectrograms per class")
    v.add_argument("--dataset", default="data/ks")
    v.add_argument("--out", default="docs/avsynth_preview.png")
    v.add_argument("--n-classes", type=int, default=8)
    v.set_defaults(func=cmd_data_preview)

    t = sub.add_parser("pretrain", help="train one pretraining configuration (torchrun-ready)")
    t.add_argument("--config", required=True, help="params/pretrain/<run>.yaml")
    t.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, final.pt)")
    t.add_argument("--seed", type=int)
    t.add_argument("--name", help="run name used in logs (default: the config's)")
    t.add_argument("--profile")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.epochs=2")
    t.add_argument("--fresh", action="store_true", help="discard an existing checkpoint instead of resuming")
    t.add_argument("--schedule", choices=["main", "ablation"], default="main",
                   help="ablation: apply the profile's ablation.pretrain overrides (shorter analysis schedule)")
    t.set_defaults(func=cmd_pretrain)

    e = sub.add_parser("evaluate", help="frozen-feature evaluation of a run")
    e.add_argument("--run", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--profile")
    e.add_argument("--tasks", nargs="*")
    e.add_argument("--task-set", choices=["all", "ablation"], default="all",
                   help="ablation: only the profile's ablation.tasks (the supplement's analysis tasks)")
    e.add_argument("--encoder", choices=["teacher", "student"])
    e.add_argument("--select-on", choices=["val", "test"])
    e.set_defaults(func=cmd_evaluate)

    f = sub.add_parser("finetune", help="fine-tune a run's encoder end to end on one task (Supp. A.6)")
    f.add_argument("--run", required=True)
    f.add_argument("--task", required=True, help="a task of the profile's finetune.tasks (e.g. ucf, esc)")
    f.add_argument("--out", required=True, help="result JSON (metric, val/test, loss curve, recipe)")
    f.add_argument("--encoder", choices=["teacher", "student"], default="teacher")
    f.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    f.add_argument("--profile")
    f.set_defaults(func=cmd_finetune)

    b = sub.add_parser("benchmark", help="pretraining clips/s and peak memory per method")
    b.add_argument("--profile")
    b.add_argument("--configs", nargs="*", default=["recon_v", "recon_a", "ae", "xkd"])
    b.add_argument("--steps", type=int, default=5)
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--out")
    b.set_defaults(func=cmd_benchmark)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import os

    setup_logging(logging.DEBUG if args.verbose else logging.INFO, rank=int(os.environ.get("RANK", "0")))
    from avlib.config import ConfigError

    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        log.error("bad params: %s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
