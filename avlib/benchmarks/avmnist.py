"""The AV-MNIST real-data benchmark: FSDD spoken digits paired with MNIST-5k handwritten digits.

Protocol (issue 4): pretrain ``L_ae``, ``L_xkd`` and MAViL stage 1 on the unlabelled training pairs (4 speakers), then
freeze the encoders and fit a linear SVM (C chosen on the held-out validation speaker) on each modality,
and fuse the two modalities late (each modality's SVM decision scores standardised on the training
set, summed). The test speaker is never seen in pretraining or in the SVM fit. Baselines: the same
encoders at random initialisation (what the architecture gives without pretraining) and a linear SVM
on input features (log-mel statistics; raw pixels). Every pretrained and random-init row also reports
audio -> video retrieval on the test pairs (:func:`digit_retrieval`: R@1 / R@5 where a hit is a video of the
query's digit, cosine similarity of the frozen features), which only a cross-modal objective can make rise
above chance (10 %).

Each step is a function of files, so the CLI (``avlib real avmnist``) and the DVC stage resume: the
clips and cache are built once, each (method, seed) run resumes from its checkpoint, each evaluation is
a JSON file.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from avlib.paths import atomic_write_text

log = logging.getLogger(__name__)

__all__ = ["build_data", "pretrain_run", "evaluate", "late_fusion", "digit_retrieval", "run_benchmark"]

SIZES = {
    # CI: 10 train and 5 val/test pairs per digit, 2 epochs, 1 seed; full: every pair, 3 seeds
    "small": {
        "max_per_split": {"train": 100, "val": 50, "test": 50},
        "epochs": 2,
        "seeds": [0],
        "warmup_epochs": 0.5,
        "batch_size": 32,
    },
    "full": {"max_per_split": None, "epochs": 12, "seeds": [0, 1, 2], "warmup_epochs": 2, "batch_size": 32},
}
METHODS = {"ae": "L_ae", "xkd": "L_xkd", "mavil": "MAViL"}
SCHEDULES = {"mavil": "mavil"}  # a method's pretraining schedule (its profile section); default: main
OWN_ARCHITECTURE = ("mavil",)  # methods whose encoders (and front end) are not L_ae's: a random-init row of their own


def fbank_stats_path(cache: Path) -> Path:
    """Where MAViL's fbank statistics of a benchmark's cache live (computed once over its training split)."""
    return Path(cache).parent / "fbank_stats.json"


def build_data(work: Path, *, size: str, fsdd_root=None, progress: bool = True) -> Path:
    """Clips (MP4) + manifest under ``work/data``, decoded once into ``work/cache``; returns the cache."""
    from avlib.data.cache import build_cache
    from avlib.datasets.avmnist import write_dataset

    data, cache = Path(work) / "data", Path(work) / "cache"
    if not (cache / "meta.json").is_file():
        write_dataset(data, fsdd_root=fsdd_root, max_per_split=SIZES[size]["max_per_split"], progress=progress)
        build_cache(
            data,
            cache,
            fps=8,
            size=72,
            sample_rate=16000,
            seconds=2.0,
            modality="av",
            max_skip_fraction=0.0,
            progress=progress,
        )
    return cache


def _config(method: str, cache: Path, seed: int, size: str, profile: str | None):
    from avlib.paths import repo_root
    from avlib.profiles import load_pretrain_config

    s = SIZES[size]
    sets = [
        f"data.cache={cache}",
        f"train.epochs={s['epochs']}",
        f"optim.warmup_epochs={s['warmup_epochs']}",
        f"train.batch_size={s['batch_size']}",
    ]
    run_file = repo_root() / "params" / "pretrain" / f"{method}.yaml"
    schedule = SCHEDULES.get(method, "main")
    if method == "mavil":  # (x - mean) / (2 std) with this cache's statistics, computed once
        from avlib.methods.mavil_stats import config_fbank_stats

        stats = fbank_stats_path(cache)
        if not stats.is_file():
            config_fbank_stats(run_file, stats, profile=profile, schedule=schedule, overrides=sets, show_progress=False)
        sets.append(f"mavil.fbank.stats={stats}")
    return load_pretrain_config(run_file, profile=profile, seed=seed, overrides=sets, schedule=schedule)


def pretrain_run(method: str, seed: int, cache: Path, out: Path, *, size: str, profile: str | None = None) -> Path:
    """Pretrain (or resume) ``method`` on the training pairs; returns the run folder (``final.pt``)."""
    from avlib.train.runner import pretrain

    if not (Path(out) / "final.pt").is_file():
        pretrain(_config(method, cache, seed, size, profile), out_dir=out)
    return Path(out)


def late_fusion(svms: dict, feats: dict) -> dict:
    """Sum of each modality's standardised SVM decision scores (mean over a sample's clips); accuracy in %.

    ``svms[m]`` is a fitted ``LinearSVC``; ``feats[m][split] = (x [N, clips, D], y)``. Scores are
    standardised with the training-set score mean/std of each modality so neither dominates by scale."""
    out = {}
    for split in ("val", "test"):
        total, y = 0.0, None
        for m, clf in svms.items():
            xtr, _ = feats[m]["train"]
            ref = clf.decision_function(xtr.reshape(-1, xtr.shape[-1]))
            x, y = feats[m][split]
            dec = clf.decision_function(x.reshape(-1, x.shape[-1])).reshape(x.shape[0], x.shape[1], -1).mean(1)
            total = total + (dec - ref.mean()) / (ref.std() + 1e-8)
        out[split] = 100.0 * float(np.mean(svms[next(iter(svms))].classes_[total.argmax(1)] == y))
    return out


def digit_retrieval(feats: dict, split: str = "test", ks=(1, 5)) -> dict:
    """Audio -> video retrieval on ``split``: every clip's audio feature queries all clips' video features by
    cosine similarity, a hit is a video of the same digit (:func:`avlib.eval.retrieval.recall_at_k` with labels);
    ``{"R@1": %, "R@5": %, "median_rank", "n"}``. Chance R@1 is the digit's share of the gallery (~10 %)."""
    from avlib.eval.retrieval import recall_at_k

    (a, ya), (v, yv) = feats["audio"][split], feats["video"][split]
    if a.shape[-1] != v.shape[-1]:
        raise ValueError(f"audio and video features differ in width ({a.shape[-1]} vs {v.shape[-1]})")
    return recall_at_k(a.mean(1), v.mean(1), ks, labels=(np.asarray(ya), np.asarray(yv)))


def _features(model, cfg, logmel, cache, seed: int, encoder: str) -> dict:
    from avlib.data.cache import load_cache
    from avlib.data.views import EvalViews
    from avlib.eval.features import extract_features
    from avlib.methods import views_config
    from avlib.seed import make_generator

    data = load_cache(cache)
    ev = EvalViews(views_config(cfg), logmel)
    feats = {}
    for m in ("audio", "video"):
        enc = model.encoder_for_eval(m, encoder)
        feats[m] = {}
        for k, split in enumerate(("train", "val", "test")):
            ids = data.split_indices(split)
            # one centred clip, no augmentation: the linear-evaluation augmentations flip frames, which
            # turns digits into other shapes
            x = extract_features(
                enc,
                data,
                ids,
                ev,
                modality=m,
                n_clips=1,
                train_aug=False,
                generator=make_generator(seed * 1009 + k),
                batch_size=64,
                desc=f"{m}/{split}",
            )
            feats[m][split] = (x, data.labels[ids])
    return feats


def _input_features(cfg, logmel, cache) -> dict:
    """Linear-on-inputs reference: per-band log-mel mean and std (audio); the middle frame's grey pixels
    at 1/3 resolution (video). Tells what a linear classifier gets without any learned encoder."""
    from avlib.data.cache import load_cache

    data = load_cache(cache)
    n = int(round(cfg.views.audio_seconds * cfg.audio.sample_rate))
    feats = {"audio": {}, "video": {}}
    for split in ("train", "val", "test"):
        ids = data.split_indices(split)
        wave = torch.from_numpy(np.asarray(data.audio[ids])[:, :n].astype(np.float32))
        spec = logmel(wave)[:, 0]  # [N, mels, frames]
        fa = torch.cat([spec.mean(-1), spec.std(-1)], 1).numpy()
        video = np.asarray(data.video[ids])
        fv = video[:, video.shape[1] // 2].mean(-1)[:, ::3, ::3].reshape(len(ids), -1).astype(np.float32) / 255.0
        y = data.labels[ids]
        feats["audio"][split] = (fa[:, None], y)
        feats["video"][split] = (fv[:, None], y)
    return feats


def evaluate(
    run,
    cache: Path,
    out: Path,
    *,
    method: str = "ae",
    seed: int = 0,
    size: str = "small",
    encoder: str = "teacher",
    Cs=(1e-3, 1e-2, 1e-1, 1.0, 10.0),
    profile: str | None = None,
) -> dict:
    """Linear SVM per modality + late fusion for a run folder, or ``run="random"`` (the encoders of
    ``method`` at random initialisation) or ``run="inputs"`` (linear on input features)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    from avlib.eval.protocol import load_pretrained
    from avlib.eval.svm import linear_svm
    from avlib.methods import build_method, logmel_from_config
    from avlib.seed import seed_everything

    if Path(out).is_file():
        return json.loads(Path(out).read_text())
    t0 = time.time()
    baseline = run if run in ("random", "inputs") else None
    if baseline:
        cfg = _config(method, cache, seed, size, profile)
        seed_everything(seed)
        logmel = logmel_from_config(cfg)
        model = build_method(cfg, logmel).eval()
    else:
        cfg, model, logmel = load_pretrained(run)
        seed = cfg.train.seed
    seed_everything(seed)
    with torch.no_grad():
        feats = (
            _input_features(cfg, logmel, cache)
            if baseline == "inputs"
            else _features(model, cfg, logmel, cache, seed, encoder)
        )
    res, svms = {}, {}
    retrieval = None if baseline == "inputs" else digit_retrieval(feats)  # the raw frozen features
    for m in ("audio", "video"):
        f = feats[m]
        # standardise features (random-init features have arbitrary scale; same transform for all splits)
        xtr = f["train"][0].reshape(-1, f["train"][0].shape[-1])
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        f = {k: ((x - mu) / sd, y) for k, (x, y) in f.items()}
        feats[m] = f
        r = linear_svm(f["train"], f["val"], f["test"], Cs=Cs, select_on="val", seed=seed)
        res[m] = {"val": r["val_acc"], "test": r["test_acc"], "best_C": r["best_C"]}
        clf = LinearSVC(C=r["best_C"], max_iter=2000, random_state=seed)
        x, y = f["train"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x.reshape(-1, x.shape[-1]), np.repeat(y, x.shape[1]))
        svms[m] = clf
    res["late_fusion"] = late_fusion(svms, feats)
    if retrieval is not None:
        res["a2v_retrieval"] = {
            "test": retrieval["R@1"],
            "R@5": retrieval["R@5"],
            "median_rank": retrieval["median_rank"],
        }
    out_obj = {
        "size": size,
        "method": baseline or method,
        "architecture": method,  # whose encoders (the random-init baseline's too)
        "pretrained": baseline is None,
        "seed": seed,
        "encoder": encoder,
        "run": None if baseline else str(run),
        "tasks": res,
        "chance": 10.0,
        "n": {s: int(len(feats["audio"][s][1])) for s in ("train", "val", "test")},
        "wall_s": time.time() - t0,
    }
    atomic_write_text(out, json.dumps(out_obj, indent=2, sort_keys=True) + "\n")
    log.info(
        "AV-MNIST %s seed %d: audio %.1f video %.1f late fusion %.1f a->v R@1 %s",
        out_obj["method"],
        seed,
        res["audio"]["test"],
        res["video"]["test"],
        res["late_fusion"]["test"],
        f"{retrieval['R@1']:.1f}" if retrieval else "-",
    )
    return out_obj


def run_benchmark(
    work,
    *,
    size: str = "small",
    methods=("ae", "xkd", "mavil"),
    fsdd_root=None,
    profile: str | None = None,
    progress: bool = True,
) -> list[dict]:
    """Everything: data, cache, every (method, seed) pretraining, and the evaluations (with the
    random-init baseline). Returns the evaluation records (also in ``work/evals/*.json``)."""
    if size not in SIZES:
        raise ValueError(f"AV-MNIST size must be one of {list(SIZES)}, got {size!r}")
    from avlib.benchmarks import claim_work_dir
    from avlib.profiles import active_profile_name

    work = Path(work)
    claim_work_dir(
        work,
        {
            "benchmark": "avmnist",
            "size": size,
            "methods": list(methods),
            "profile": profile or active_profile_name(),
            **SIZES[size],
        },
    )
    cache = build_data(work, size=size, fsdd_root=fsdd_root, progress=progress)
    records = []
    records.append(
        evaluate("inputs", cache, work / "evals" / "inputs.json", method=methods[0], size=size, profile=profile)
    )
    for seed in SIZES[size]["seeds"]:  # baseline: the (shared) encoder architecture at random initialisation
        records.append(
            evaluate(
                "random",
                cache,
                work / "evals" / f"random_s{seed}.json",
                method=methods[0],
                seed=seed,
                size=size,
                profile=profile,
            )
        )
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"AV-MNIST method must be one of {list(METHODS)}, got {method!r}")
        if method in OWN_ARCHITECTURE:  # its encoders differ from L_ae's: their own random-init baseline
            for seed in SIZES[size]["seeds"]:
                records.append(
                    evaluate(
                        "random",
                        cache,
                        work / "evals" / f"random_{method}_s{seed}.json",
                        method=method,
                        seed=seed,
                        size=size,
                        profile=profile,
                    )
                )
        for seed in SIZES[size]["seeds"]:
            t0 = time.time()
            run = pretrain_run(method, seed, cache, work / "runs" / f"{method}_s{seed}", size=size, profile=profile)
            rec = evaluate(
                run,
                cache,
                work / "evals" / f"{method}_s{seed}.json",
                method=method,
                seed=seed,
                size=size,
                profile=profile,
            )
            rec.setdefault("stage_s", time.time() - t0)
            records.append(rec)
    return records
