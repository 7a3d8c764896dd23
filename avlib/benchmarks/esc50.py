"""The ESC-50 real-data benchmark: the official 5-fold protocol on the real recordings.

For each validation round k (test = fold k, train = the other four folds):

* **baseline**: log-mel statistics (per-band mean and standard deviation over the clip) + a linear
  classifier;
* **audio MAE** (``L_recon^a``, XKD's audio-only baseline): pretrained without labels on the four
  training folds of round k only (never on the test fold), then frozen; features of the clip's
  uniformly spaced windows, the same linear classifier.

Classifier (both rows): ``avlib.eval.linear_svm`` on standardised features, C chosen on one of the four
training folds (the next fold, k mod 5 + 1) while fitting on the other three, then refitted on all four
training folds at that C and scored on fold k. Top-1 per fold and the mean.

The clips are decoded once into an audio-only cache (``work/cache``); each round's run resumes from its
checkpoint and each round's result is a JSON file, so an interrupted benchmark continues where it
stopped.
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

__all__ = ["SIZES", "build_cache_for", "logmel_stats", "fold_accuracy", "run_benchmark"]

SIZES = {
    # small (CI): ESC-10 (the official 10-class subset, 400 clips), 1 epoch per round
    "small": {"esc10": True, "epochs": 1, "warmup_epochs": 0.2, "batch_size": 32, "test_clips": 3},
    # full: all 2,000 clips; 40 epochs of 1,600 clips per round (about 2,000 steps)
    "full": {"esc10": False, "epochs": 40, "warmup_epochs": 4, "batch_size": 32, "test_clips": 3},
}
CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MAX_ITER = 5000


def build_cache_for(work: Path, *, size: str, root=None, progress: bool = True) -> Path:
    """ESC-50 (or ESC-10 at ``small``) decoded once into ``work/cache`` (audio only, 5 s at 16 kHz);
    the cache's splits are the official folds ``fold1``..``fold5``."""
    from avlib import datasets
    from avlib.data.cache import build_cache
    from avlib.data.manifest import Manifest
    from avlib.datasets.base import Loaded

    cache = Path(work) / "cache"
    if (cache / "meta.json").is_file():
        return cache
    loaded = datasets.load("esc50", root if root is not None else datasets.esc50.default_root())
    absent = int((~loaded.df["present"]).sum())
    if absent:
        raise FileNotFoundError(
            f"ESC-50 at {loaded.manifest.root}: {absent} of {len(loaded.df)} clips missing "
            "(python -m avlib data check esc50 --root ...)"
        )
    if SIZES[size]["esc10"]:
        df = loaded.df[loaded.df["esc10"].astype(str) == "True"]
        # ESC-10: relabel its 10 classes 0..9 (a contiguous label space for the classifier)
        names = sorted(df["label_name"].unique())
        df = df.assign(label=df["label_name"].map({n: str(i) for i, n in enumerate(names)}))
        loaded = Loaded(Manifest(df, root=loaded.manifest.root), names, loaded.info)
    datasets.write_manifest(loaded, Path(work) / "data")
    build_cache(
        Path(work) / "data",
        cache,
        fps=8,
        size=8,
        sample_rate=16000,
        seconds=5.0,
        modality="audio",
        max_skip_fraction=0.0,
        min_seconds=4.9,
        progress=progress,
    )
    return cache


def logmel_stats(audio: np.ndarray, logmel) -> np.ndarray:
    """Per-band mean and standard deviation of the log-mel spectrogram over the whole clip: [N, 2 * mels]."""
    out = []
    for i in range(0, len(audio), 128):
        spec = logmel(torch.from_numpy(np.asarray(audio[i : i + 128], np.float32)))[:, 0]  # [B, mels, frames]
        out.append(torch.cat([spec.mean(-1), spec.std(-1)], 1).numpy())
    return np.concatenate(out)


def fold_accuracy(x: np.ndarray, y: np.ndarray, fold: np.ndarray, k: int, *, Cs=CS, seed: int = 0) -> dict:
    """Round ``k``: choose C on fold ``k mod 5 + 1`` (fit on the other three training folds), refit on all
    four training folds, top-1 % on fold ``k``. ``x`` is [N, D] or [N, clips, D] (decisions averaged)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    from avlib.eval.svm import linear_svm

    x = x if x.ndim == 3 else x[:, None]
    val_fold = k % 5 + 1
    tr, va, te = (fold != k) & (fold != val_fold), fold == val_fold, fold == k

    def standardise(rows):
        flat = x[rows].reshape(-1, x.shape[-1])
        return (x - flat.mean(0)) / (flat.std(0) + 1e-6)

    z = standardise(tr)  # selecting C: statistics of the three fitting folds only
    sel = linear_svm(
        (z[tr], y[tr]), (z[va], y[va]), (z[te], y[te]), Cs=Cs, select_on="val", seed=seed, max_iter=MAX_ITER
    )
    train = fold != k
    z = standardise(train)  # the final fit: statistics of its four training folds
    clf = LinearSVC(C=sel["best_C"], max_iter=MAX_ITER, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(z[train].reshape(-1, z.shape[-1]), np.repeat(y[train], z.shape[1]))
    dec = clf.decision_function(z[te].reshape(-1, z.shape[-1])).reshape(int(te.sum()), z.shape[1], -1).mean(1)
    acc = 100.0 * float(np.mean(clf.classes_[dec.argmax(1)] == y[te]))
    return {
        "fold": k,
        "test": acc,
        "val_fold": val_fold,
        "val": sel["val_acc"],
        "best_C": sel["best_C"],
        "n_train": int(train.sum()),
        "n_test": int(te.sum()),
    }


def _config(cache: Path, k: int, size: str, seed: int, profile: str | None):
    from avlib.paths import repo_root
    from avlib.profiles import load_pretrain_config

    s = SIZES[size]
    train = "[" + ", ".join(f"fold{j}" for j in range(1, 6) if j != k) + "]"
    return load_pretrain_config(
        repo_root() / "params" / "pretrain" / "recon_a.yaml",
        profile=profile,
        seed=seed,
        overrides=[
            f"data.cache={cache}",
            f"data.split={train}",
            f"train.epochs={s['epochs']}",
            f"optim.warmup_epochs={s['warmup_epochs']}",
            f"train.batch_size={s['batch_size']}",
        ],
    )


def _mae_features(run: Path, cache: Path, n_clips: int, seed: int) -> np.ndarray:
    from avlib.data.cache import load_cache
    from avlib.data.views import EvalViews
    from avlib.eval.features import extract_features
    from avlib.eval.protocol import load_pretrained
    from avlib.methods import views_config
    from avlib.seed import make_generator

    cfg, model, logmel = load_pretrained(run)
    data = load_cache(cache)
    ev = EvalViews(views_config(cfg), logmel)
    enc = model.encoder_for_eval("audio", "teacher")
    with torch.no_grad():
        return extract_features(
            enc,
            data,
            np.arange(len(data)),
            ev,
            modality="audio",
            n_clips=n_clips,
            train_aug=False,
            generator=make_generator(seed),
            batch_size=64,
            desc=run.name,
        )


def run_benchmark(
    work, *, size: str = "small", root=None, seed: int = 0, profile: str | None = None, progress: bool = True
) -> list[dict]:
    """All five rounds, baseline and audio MAE; returns per-fold records (also ``work/evals/*.json``)."""
    from avlib.data.cache import load_cache
    from avlib.train.runner import pretrain

    if size not in SIZES:
        raise ValueError(f"ESC-50 size must be one of {list(SIZES)}, got {size!r}")
    from avlib.benchmarks import claim_work_dir
    from avlib.profiles import active_profile_name

    work = Path(work)
    claim_work_dir(
        work,
        {"benchmark": "esc50", "size": size, "seed": seed, "profile": profile or active_profile_name(), **SIZES[size]},
    )
    cache = build_cache_for(work, size=size, root=root, progress=progress)
    data = load_cache(cache)
    y = data.labels
    fold = data.index["split"].str.replace("fold", "").astype(int).to_numpy()
    evals = work / "evals"
    records = []
    base_file = evals / "baseline.json"
    if base_file.is_file():
        base = json.loads(base_file.read_text())
    else:
        cfg = _config(cache, 1, size, seed, profile)
        from avlib.methods import logmel_from_config

        x = logmel_stats(np.asarray(data.audio), logmel_from_config(cfg))
        base = {
            "method": "logmel_stats",
            "folds": [fold_accuracy(x, y, fold, k, seed=seed) for k in range(1, 6)],
            "feature_dim": int(x.shape[1]),
            "n_classes": int(len(np.unique(y))),
            "size": size,
        }
        atomic_write_text(base_file, json.dumps(base, indent=2, sort_keys=True) + "\n")
    records.append(base)
    folds = []
    for k in range(1, 6):
        f = evals / f"mae_fold{k}.json"
        if f.is_file():
            folds.append(json.loads(f.read_text()))
            continue
        t0 = time.time()
        run = work / "runs" / f"mae_fold{k}"
        if not (run / "final.pt").is_file():
            pretrain(_config(cache, k, size, seed, profile), out_dir=run, show_progress=progress)
        x = _mae_features(run, cache, SIZES[size]["test_clips"], seed)
        rec = fold_accuracy(x, y, fold, k, seed=seed)
        rec.update(
            {
                "pretrain_clips": int((fold != k).sum()),
                "wall_s": round(time.time() - t0, 1),
                "feature_dim": int(x.shape[-1]),
                "size": size,
            }
        )
        atomic_write_text(f, json.dumps(rec, indent=2, sort_keys=True) + "\n")
        log.info("ESC-50 fold %d: audio MAE %.1f %% (baseline %.1f %%)", k, rec["test"], base["folds"][k - 1]["test"])
        folds.append(rec)
    records.append({"method": "audio_mae", "folds": folds})
    return records
