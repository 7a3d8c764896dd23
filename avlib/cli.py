"""Command line: ``python -m avlib <command>`` (also the ``avlib`` console script).

Commands
  data generate   write the embedded avsynth datasets (media files + manifests)
  data cache      decode every dataset once into array caches (skips bad files with reasons)
  data preview    PNG of sample frames and spectrograms per class
  data check      validate a copy of a real dataset against its official lists (non-zero exit if not usable)
  data prepare    where to get a real dataset, the layout it must have, then data check
  data manifest   write manifest.csv of a real dataset's present clips (input of data cache)
  data fbank-stats  dataset mean/std of a MAViL config's Kaldi fbank over a cached training split
  data mixtures   a multi-label audio-visual cache (AudioSet's role) mixing k clips of distinct classes
  pretrain        train one pretraining configuration (works under torchrun)
  evaluate        frozen-feature evaluation of a pretrained run on the profile's downstream tasks
  finetune        end-to-end fine-tuning of a run's encoder on one task (Tables S6/S7 recipes)
  import-official official XKD checkpoints (pritamqu/XKD) -> an avlib run that evaluate/finetune take
  benchmark       pretraining throughput (clips/s) and peak memory per method; `benchmark kmeans`: faiss vs sklearn
  real avmnist    real-data benchmark: FSDD x MNIST-5k pairs, L_ae / L_xkd / MAViL, linear SVM, late fusion, a->v retrieval
  real esc50      real-data benchmark: ESC-50 5 folds, log-mel statistics vs audio MAE, linear classifier
  pipeline        generate dvc.yaml / real/dvc.yaml from params/index/*.yaml and real/index.yaml (--check)
Every command reads the scale profile selected by params/profile.yaml unless --profile is given. The data
commands whose outputs later stages hash (generate, cache, fbank-stats, mixtures) run in a child process with
CPU-independent numerics (avlib.portable), so their files are the same bytes on every x86-64 machine.
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


def cmd_data_fbank_stats(a) -> int:
    """MAViL's fbank normalisation statistics, computed once over the training split of the run's cache."""
    from avlib.methods.mavil_stats import config_fbank_stats

    config_fbank_stats(a.config, a.out, profile=a.profile, schedule=a.schedule)
    return 0


def cmd_data_mixtures(a) -> int:
    """A multi-label audio-visual cache built from a single-label one (avlib.data.av_mixtures)."""
    from avlib.data.av_mixtures import build_mixture_cache

    per_split = None
    if a.per_split:
        per_split = {}
        for item in a.per_split:
            split, sep, n = item.partition("=")
            if not sep or not n.isdigit():
                raise SystemExit(f"avlib data mixtures: --per-split wants SPLIT=N, got {item!r}")
            per_split[split] = int(n)
    meta = build_mixture_cache(a.src, a.out, k=a.k, per_split=per_split, seed=a.seed)
    log.info("%s: %d clips of %d sources each from %s", a.out, meta["n_rows"], a.k, a.src)
    return 0


def cmd_data_preview(a) -> int:
    from avlib.data.preview import preview_grid

    preview_grid(a.dataset, a.out, n_classes=a.n_classes)
    return 0


def _loader_options(pairs: list[str]) -> dict:
    """``--option split=2 --option subsets=eval,balanced_train`` -> loader keyword arguments."""
    out = {}
    for kv in pairs:
        if "=" not in kv:
            raise SystemExit(f"--option {kv!r}: expected KEY=VALUE")
        k, v = kv.split("=", 1)
        if k in ("subsets", "splits", "classes"):  # list-valued loader options, even with one value
            out[k] = [x for x in v.split(",") if x]
        else:
            out[k] = int(v) if v.isdigit() else v.split(",") if "," in v else v
    return out


def cmd_data_check(a) -> int:
    from avlib import datasets

    opts = _loader_options(a.option)
    if a.annotations:
        opts["annotations"] = a.annotations
    try:
        report = datasets.check(a.dataset, a.root, decode=a.decode, tolerance=a.tolerance, **opts)
    except (datasets.AnnotationError, FileNotFoundError, KeyError, ValueError) as e:
        log.error("data check %s: %s", a.dataset, e)
        return 2
    print(report.render(a.show))
    if a.out:
        report.table.to_csv(a.out, index=False)
    return 0 if report.ok else 1


def cmd_data_prepare(a) -> int:
    from avlib import datasets

    try:
        info = datasets.info(a.dataset)
    except KeyError as e:
        log.error("%s", e.args[0])
        return 2
    ann = (
        f"<real-data>/annotations/{info.annotations} (or --annotations DIR)"
        if info.annotations and "/" not in info.annotations
        else "inside the dataset folder (see layout)"
    )
    print(
        f"{info.title} ({info.name})\n  get it from: {info.source}\n  licence:     {info.licence}\n"
        f"  layout:      {info.layout}\n  annotations: {ann}\n  required:    "
        f"{' + '.join(info.required_streams)} stream in every file"
        + (f"\n  note:        {info.notes}" if info.notes else "")
    )
    print("Nothing is downloaded by avlib; put the official files in that layout, then:")
    if not a.root:
        print(f"  python -m avlib data check {a.dataset} --root DIR")
        return 0
    a.decode, a.tolerance, a.show, a.out, a.option = False, None, 10, None, a.option
    return cmd_data_check(a)


def cmd_data_manifest(a) -> int:
    from avlib import datasets

    opts = _loader_options(a.option)
    if a.annotations:
        opts["annotations"] = a.annotations
    try:
        loaded = datasets.load(a.dataset, a.root, **opts)
    except (datasets.AnnotationError, FileNotFoundError, KeyError, ValueError) as e:
        log.error("data manifest %s: %s", a.dataset, e)
        return 2
    for p in loaded.problems:
        log.warning("%s: %s", a.dataset, p)
    r = datasets.write_manifest(loaded, a.out)
    log.info(
        "%s: wrote %d clips to %s (left out: %d listed clips absent under %s, see data check; %d unlabelled)",
        a.dataset,
        r["rows"],
        r["manifest"],
        r["absent"],
        a.root,
        r["unlabelled"],
    )
    return 0


def cmd_real_avmnist(a) -> int:
    import os

    from avlib.benchmarks.avmnist import run_benchmark

    if a.real_data:
        os.environ["AVLIB_REAL_DATA"] = a.real_data
    recs = run_benchmark(a.work or f"work/real_avmnist_{a.size}", size=a.size, methods=a.methods, profile=a.profile)
    for r in recs:
        log.info(
            "%-7s seed %d: %s", r["method"], r["seed"], ", ".join(f"{k} {v['test']:.1f}" for k, v in r["tasks"].items())
        )
    return 0


def cmd_real_esc50(a) -> int:
    from avlib.benchmarks.esc50 import run_benchmark

    root = a.root or (Path(a.real_data) / "esc50" if a.real_data else None)
    for r in run_benchmark(a.work or f"work/real_esc50_{a.size}", size=a.size, root=root, profile=a.profile):
        log.info("%-12s per fold: %s", r["method"], ", ".join(f"{f['test']:.1f}" for f in r["folds"]))
    return 0


def cmd_pretrain(a) -> int:
    from avlib.profiles import load_pretrain_config
    from avlib.train.runner import pretrain, reset_run

    cfg = load_pretrain_config(a.config, profile=a.profile, seed=a.seed, overrides=a.set, schedule=a.schedule)
    if a.name:
        cfg.name = a.name
    if a.fresh:
        reset_run(a.out)
    import importlib

    # a method may train its own way (XDC: clustering rounds); the others use the step runner
    train = getattr(importlib.import_module(f"avlib.methods.{cfg.method}"), "pretrain", pretrain)
    summary = train(cfg, a.out, resume=not a.fresh)
    from avlib import dist

    if dist.is_main():
        _atomic_json(summary, Path(a.out) / "summary.json")
    dist.cleanup()
    return 0


def cmd_evaluate(a) -> int:
    from avlib.eval.protocol import evaluate_run
    from avlib.profiles import load_profile, profile_section

    prof = load_profile(a.profile)
    ev = prof["eval"]
    tasks = ev["tasks"]
    if a.task_set != "all":
        if a.tasks:
            raise SystemExit("evaluate: give --tasks or --task-set, not both")
        section = profile_section(prof, a.task_set)
        tasks = {k: tasks[k] for k in section.get("tasks", [])}
    if a.tasks:
        unknown = set(a.tasks) - set(tasks)
        if unknown:
            raise SystemExit(f"evaluate: unknown task(s) {sorted(unknown)}; profile has {sorted(tasks)}")
        tasks = {k: tasks[k] for k in a.tasks}
    if a.protocol:
        tasks = {k: {**t, "protocol": a.protocol} for k, t in tasks.items()}
    res = evaluate_run(
        a.run,
        tasks,
        encoder=a.encoder or ev.get("encoder", "teacher"),
        svm_cs=ev.get("svm_cs"),
        select_on=a.select_on or ev.get("select_on", "val"),
        probe=ev.get("probe"),
        batch_size=ev.get("batch_size", 64),
    )
    _atomic_json(res, a.out)
    return 0


def cmd_finetune(a) -> int:
    from avlib import checkpoint
    from avlib.finetune import finetune
    from avlib.profiles import finetune_task, load_profile
    from avlib.train.process import resolve_device

    prof = load_profile(a.profile)
    method = checkpoint.load(Path(a.run) / "final.pt")["config"].get("method", "xkd")
    if method == "mavil":  # MAViL's recipes (Table 10): audio, video or audio+video with fusion blocks
        from avlib.finetune.mavil import finetune_mavil, mavil_finetune_task

        task, recipe = mavil_finetune_task(prof["name"], a.task)
        res = finetune_mavil(a.run, task, recipe, device=resolve_device(a.device), desc=f"finetune {a.run}/{a.task}")
        res["task"] = a.task
        _atomic_json(res, a.out)
        return 0
    task, recipe = finetune_task(prof, a.task)
    res = finetune(
        a.run,
        task,
        recipe,
        encoder=a.encoder,
        device=resolve_device(a.device),
        desc=f"finetune {Path(a.run).name}/{a.task}",
    )
    res["task"] = a.task
    _atomic_json(res, a.out)
    return 0


def _read_settings(path: str) -> dict:
    from avlib.config import ConfigError, read_yaml

    data = read_yaml(path)  # YAML is a superset of JSON
    missing = sorted({"model_kwargs", "encoder", "decoder", "projector"} - set(data))
    if missing:
        raise ConfigError(
            f"{path}: missing official setting(s) {missing} (need model_kwargs, encoder, decoder, "
            "projector and optionally fwd_kwargs, as the official XKD factory takes them)"
        )
    return data


def cmd_pipeline(a) -> int:
    from avlib.pipeline import main as pipeline_main

    argv = (["--check"] if a.check else []) + (["--root", a.root] if a.root else [])
    return pipeline_main(argv + (["--seeds", *map(str, a.seeds)] if a.seeds else []))


def cmd_import_official(a) -> int:
    from avlib.methods.xkd_official import OfficialImportError, config_from_official, import_official
    from avlib.profiles import load_pretrain_config

    if a.official_settings:
        s = _read_settings(a.official_settings)
        cfg = config_from_official(
            s["model_kwargs"],
            s["encoder"],
            s["decoder"],
            s["projector"],
            s.get("fwd_kwargs"),
            local_views=s.get("local_views"),
        )
    else:
        cfg = load_pretrain_config(a.config, profile=a.profile, overrides=a.set)
    cfg.name = Path(a.out).name
    try:
        report = import_official(a.paths, a.out, cfg, roles=a.role or None, overwrite=a.force)
    except (OfficialImportError, FileNotFoundError, FileExistsError) as e:
        log.error("import-official: %s", e)
        return 2
    print(report)
    log.info("wrote %s/final.pt: evaluate it with `python -m avlib evaluate --run %s --out <json>`", a.out, a.out)
    return 0


def cmd_benchmark(a) -> int:
    if a.what == "kmeans":
        import pandas as pd

        from avlib.cluster.benchmark import benchmark_kmeans

        gpu = {"auto": None, "cpu": False, "gpu": True}[a.device]
        rows = benchmark_kmeans(n=a.n, d=a.d, k=a.k, niter=a.niter, repeats=a.repeats, gpu=gpu)
        print(f"k-means, {a.n} x {a.d} points, k = {a.k}, {a.niter} iterations (median of {a.repeats}):")
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    else:
        from avlib.train.benchmark import run_benchmark

        rows = run_benchmark(profile=a.profile, configs=a.configs, steps=a.steps, warmup=a.warmup)
    if a.out:
        _atomic_json(rows, a.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="avlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="generate, cache or preview datasets").add_subparsers(
        dest="data_cmd", required=True
    )
    g = d.add_parser("generate", help="write the avsynth datasets")
    g.add_argument("--out", default="data")
    g.add_argument("--profile")
    g.set_defaults(func=cmd_data_generate, portable=True)
    c = d.add_parser("cache", help="decode datasets once into array caches")
    c.add_argument("--data", default="data")
    c.add_argument("--out", default="cache")
    c.add_argument("--profile")
    c.set_defaults(func=cmd_data_cache, portable=True)
    fs = d.add_parser("fbank-stats", help="mean/std of a MAViL config's Kaldi fbank over its training split")
    fs.add_argument("--config", required=True, help="a MAViL run file (its data.cache and split are used)")
    fs.add_argument("--schedule", default="mavil")
    fs.add_argument("--out", required=True, help="JSON file (mavil.fbank.stats of the runs)")
    fs.add_argument("--profile")
    fs.set_defaults(func=cmd_data_fbank_stats, portable=True)
    mx = d.add_parser("mixtures", help="multi-label AV cache: each clip mixes k clips of distinct classes")
    mx.add_argument("--src", required=True, help="a built single-label audio-visual cache, e.g. cache/ks")
    mx.add_argument("--out", required=True)
    mx.add_argument("--k", type=int, default=2, help="sources (distinct classes) per clip")
    mx.add_argument("--seed", type=int, default=0)
    mx.add_argument("--per-split", nargs="+", metavar="SPLIT=N", help="clips per split (default: as the source)")
    mx.set_defaults(func=cmd_data_mixtures, portable=True)
    v = d.add_parser("preview", help="PNG grid of frames + spectrograms per class")
    v.add_argument("--dataset", default="data/ks")
    v.add_argument("--out", default="docs/avsynth_preview.png")
    v.add_argument("--n-classes", type=int, default=8)
    v.set_defaults(func=cmd_data_preview)
    for name, fn, hlp in (
        ("check", cmd_data_check, "validate a real dataset copy (counts, missing, unreadable)"),
        ("prepare", cmd_data_prepare, "how to obtain and lay out a real dataset, then check it"),
        ("manifest", cmd_data_manifest, "manifest.csv of a real dataset's present clips"),
    ):
        k = d.add_parser(name, help=hlp)
        k.add_argument(
            "dataset",
            help="ucf101, hmdb51, kinetics400, kinetics600, kinetics_sound, audioset, "
            "vggsound, esc50, fsd50k, fsdd, crema_d, ave",
        )
        k.add_argument("--root", required=name != "prepare", help="folder holding the media (official layout)")
        k.add_argument("--annotations", help="folder of the official list files (default: <real-data>/annotations/...)")
        k.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="loader option, e.g. split=2 (UCF101/HMDB51) or subsets=eval,balanced_train",
        )
        if name == "check":
            k.add_argument("--decode", action="store_true", help="decode every file in full (slow)")
            k.add_argument("--tolerance", type=float, help="allowed missing+unreadable fraction per split")
            k.add_argument("--show", type=int, default=10, help="how many missing/unreadable files to list")
            k.add_argument("--out", help="write the per-split table as CSV")
        if name == "manifest":
            k.add_argument("--out", required=True, help="output folder (manifest.csv)")
        k.set_defaults(func=fn)

    t = sub.add_parser("pretrain", help="train one pretraining configuration (torchrun-ready)")
    t.add_argument("--config", required=True, help="params/pretrain/<run>.yaml")
    t.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, final.pt)")
    t.add_argument("--seed", type=int)
    t.add_argument("--name", help="run name used in logs (default: the config's)")
    t.add_argument("--profile")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.epochs=2")
    t.add_argument("--fresh", action="store_true", help="discard an existing checkpoint instead of resuming")
    t.add_argument(
        "--schedule",
        default="main",
        help="main: the profile's pretrain section; ablation: its ablation.pretrain overrides on top (shorter "
        "analysis schedule); a method's name (xdc): that method's profile section under the run file",
    )
    t.set_defaults(func=cmd_pretrain)

    e = sub.add_parser("evaluate", help="frozen-feature evaluation of a run")
    e.add_argument("--run", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--profile")
    e.add_argument("--tasks", nargs="*")
    e.add_argument(
        "--task-set",
        default="all",
        help="all: the profile's eval.tasks; ablation: only ablation.tasks (the supplement's analysis tasks); "
        "a method's name (xdc): that method's section's tasks",
    )
    e.add_argument(
        "--protocol",
        choices=["svm", "fc"],
        help="override every task's protocol (XDC Table 4 'fc': a linear layer on frozen features)",
    )
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

    r = sub.add_parser("real", help="real-data benchmarks").add_subparsers(dest="real_cmd", required=True)
    ra = r.add_parser(
        "avmnist",
        help="FSDD x MNIST-5k pairs: pretrain L_ae / L_xkd / MAViL, linear SVM per modality, late fusion, retrieval",
    )
    ra.add_argument(
        "--size", choices=["small", "full"], default="full", help="small: the CI size; full: every pair, 3 seeds"
    )
    ra.add_argument("--work", help="clips, cache, runs and evals (resumable); default work/real_avmnist_<size>")
    ra.add_argument("--methods", nargs="*", default=["ae", "xkd", "mavil"], help="of avlib.benchmarks.avmnist.METHODS")
    ra.add_argument("--real-data", help="the real-data bundle (default $AVLIB_REAL_DATA or ../shared/real-data)")
    ra.add_argument("--profile", help="model/view sizes (default: the active profile)")
    ra.set_defaults(func=cmd_real_avmnist)
    re_ = r.add_parser("esc50", help="ESC-50 official 5 folds: log-mel statistics vs audio MAE (linear classifier)")
    re_.add_argument(
        "--size", choices=["small", "full"], default="full", help="small: ESC-10, 1 epoch (CI); full: 2,000 clips"
    )
    re_.add_argument("--work", help="cache, runs and per-fold results (resumable); default work/real_esc50_<size>")
    re_.add_argument("--root", help="ESC-50 folder (audio/ + meta/); default <real-data>/esc50")
    re_.add_argument("--real-data", help="the real-data bundle (default $AVLIB_REAL_DATA or ../shared/real-data)")
    re_.add_argument("--profile", help="model/view sizes (default: the active profile)")
    re_.set_defaults(func=cmd_real_esc50)

    io = sub.add_parser("import-official", help="official XKD weights (pritamqu/XKD) -> an avlib run folder")
    io.add_argument(
        "paths",
        nargs="+",
        help="checkpoint.pth.tar (model/optimizer/epoch, 'module.' prefix ok), "
        "backbone files {vid,aud}_{student,teacher}.pth.tar, or a bare state_dict",
    )
    io.add_argument("--out", required=True, help="run folder to write (final.pt, import_report.txt, summary.json)")
    io.add_argument(
        "--official-settings",
        help="YAML/JSON of the official model settings (model_kwargs, encoder, "
        "decoder, projector[, fwd_kwargs]): the avlib config is derived from them",
    )
    io.add_argument(
        "--config",
        default="params/pretrain/xkd.yaml",
        help="else: the avlib run file whose model must match the checkpoint (with --profile/--set)",
    )
    io.add_argument("--profile", help="scale profile of --config (the released ViT-B weights: paper)")
    io.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override of --config")
    io.add_argument(
        "--role",
        action="append",
        help="role of each backbone-only file, in order (vid_teacher, "
        "aud_teacher, vid_student, aud_student); default: from its name",
    )
    io.add_argument("--force", action="store_true", help="replace an existing final.pt")
    io.set_defaults(func=cmd_import_official)

    b = sub.add_parser(
        "benchmark", help="pretraining clips/s and peak memory per method; or k-means (faiss vs sklearn)"
    )
    b.add_argument("what", nargs="?", choices=["pretrain", "kmeans"], default="pretrain")
    b.add_argument("--n", type=int, default=20000, help="kmeans: points")
    b.add_argument("--d", type=int, default=128, help="kmeans: dimension")
    b.add_argument("--k", type=int, default=64, help="kmeans: clusters")
    b.add_argument("--niter", type=int, default=20, help="kmeans: Lloyd iterations")
    b.add_argument("--repeats", type=int, default=3, help="kmeans: timed repeats (median)")
    b.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto", help="kmeans: faiss device")
    b.add_argument("--profile")
    b.add_argument("--configs", nargs="*", default=["recon_v", "recon_a", "ae", "xkd", "mavil", "mavil_stage2"])
    b.add_argument("--steps", type=int, default=5)
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--out")
    b.set_defaults(func=cmd_benchmark)

    pl = sub.add_parser("pipeline", help="generate dvc.yaml and real/dvc.yaml from the method indexes")
    pl.add_argument("--check", action="store_true", help="exit 1 when a committed pipeline file is out of date")
    pl.add_argument("--seeds", type=int, nargs="+", help="override every index's seeds (e.g. 0 for a quick run)")
    pl.add_argument("--root", help="project root (default: found from the working directory)")
    pl.set_defaults(func=cmd_pipeline)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    import os

    if getattr(args, "portable", False):  # files later stages hash: CPU-independent numerics (avlib.portable)
        from avlib.portable import run_portably

        rc = run_portably(argv)
        if rc is not None:
            return rc

    setup_logging(logging.DEBUG if args.verbose else logging.INFO, rank=int(os.environ.get("RANK", "0")))
    from avlib.config import ConfigError

    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        log.error("bad params: %s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
