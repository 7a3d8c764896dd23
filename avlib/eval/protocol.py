"""Evaluate a pretrained run on the downstream tasks of a profile (``eval.tasks`` in the profile).

Each task names a cached dataset, the modality whose frozen encoder is probed, and the protocol
(``svm``: linear SVM with a C sweep; ``fc``: FC probe, top-1 or mAP; a task's ``probe`` dict overrides the
profile's FC recipe). Modality ``av`` is multimodal fusion (XKD Table 8): the video and audio features of
each clip (same sample, same time window) concatenated; the task's ``fusion`` is ``l2_per_modality`` (default,
the released code: each modality's feature L2-normalised first) or ``raw``. Returns a JSON-able dict."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from avlib import checkpoint
from avlib.data.cache import load_cache
from avlib.data.views import EvalViews
from avlib.eval.features import FUSIONS, extract_av_features, extract_features, fuse_av
from avlib.eval.probe import fc_probe
from avlib.eval.svm import linear_svm
from avlib.methods import build_config, build_method, logmel_from_config, views_config
from avlib.paths import resolve
from avlib.seed import make_generator, seed_everything

log = logging.getLogger(__name__)

TASK_KEYS = {"dataset", "modality", "protocol", "train_clips", "test_clips", "multilabel", "probe", "fusion"}


def load_pretrained(run_dir: str | Path, device: str = "cpu"):
    """Rebuild the method from ``final.pt`` (config + weights)."""
    state = checkpoint.load(Path(run_dir) / "final.pt", map_location=device)
    data = dict(state["config"])
    proj = data.get("model", {}).get("projector")
    if isinstance(proj, dict) and "shared_hidden_norm" not in proj:  # written before the option: two LayerNorms
        data["model"] = {**data["model"], "projector": {**proj, "shared_hidden_norm": False}}
    cfg = build_config(data, where=f"{run_dir}/final.pt:config")
    logmel = logmel_from_config(cfg).to(device)
    model = build_method(cfg, logmel)
    model.load_state_dict(state["model"])
    return cfg, model.to(device).eval(), logmel


def evaluate_run(
    run_dir: str | Path,
    tasks: dict,
    *,
    encoder: str = "teacher",
    svm_cs=None,
    select_on: str = "val",
    probe: dict | None = None,
    batch_size: int = 64,
    device: str = "cpu",
) -> dict:
    t0 = time.time()
    cfg, model, logmel = load_pretrained(run_dir, device)
    seed = cfg.train.seed
    seed_everything(seed)
    ev = EvalViews(views_config(cfg), logmel)
    results = {}
    for name, task in tasks.items():
        unknown = set(task) - TASK_KEYS
        if unknown:
            raise ValueError(f"eval.tasks.{name}: unknown key(s) {sorted(unknown)}; allowed {sorted(TASK_KEYS)}")
        mod = task["modality"]
        if mod not in ("video", "audio", "av"):
            raise ValueError(f"eval.tasks.{name}.modality must be 'video', 'audio' or 'av', got {mod!r}")
        fusion = task.get("fusion", FUSIONS[0])  # default: the released code's L2 per modality
        if "fusion" in task and mod != "av":
            raise ValueError(f"eval.tasks.{name}.fusion: only an 'av' task fuses modalities, this one is {mod!r}")
        if fusion not in FUSIONS:
            raise ValueError(f"eval.tasks.{name}.fusion must be one of {list(FUSIONS)}, got {fusion!r}")
        try:  # 'av': multimodal fusion (XKD Table 8), video and audio features of the same clips concatenated
            encs = {m: model.encoder_for_eval(m, encoder) for m in (("video", "audio") if mod == "av" else (mod,))}
        except KeyError as e:
            results[name] = {"skipped": str(e)}
            log.info("%s: skip %s (%s)", Path(run_dir).name, name, e)
            continue
        data = load_cache(resolve(task["dataset"]))
        gen = make_generator(seed, device)
        feats = {}
        for split in ("train", "val", "test"):
            ids = np.asarray(data.split_indices(split))
            if len(ids) == 0:
                raise ValueError(f"eval.tasks.{name}: dataset {task['dataset']} has no {split!r} clips")
            n = task["train_clips"] if split == "train" else task["test_clips"]
            kw = dict(n_clips=n, train_aug=(split == "train"), batch_size=batch_size, device=device)
            if mod == "av":  # one window per clip for both modalities (extract_av_features)
                g = make_generator(seed * 1009 + {"train": 0, "val": 1, "test": 2}[split], device)
                f = extract_av_features(encs, data, ids, ev, generator=g, desc=f"{name}/{split}/av", **kw)
                x = fuse_av(f["video"], f["audio"], fusion)
            else:
                x = extract_features(
                    encs[mod], data, ids, ev, modality=mod, generator=gen, desc=f"{name}/{split}/{mod}", **kw
                )
            feats[split] = (x, data.labels[ids])
        multilabel = bool(task.get("multilabel", False))
        if task["protocol"] == "svm":
            if multilabel:
                raise ValueError(f"eval.tasks.{name}: the linear SVM protocol is single-label; use protocol fc")
            r = linear_svm(
                feats["train"],
                feats["val"],
                feats["test"],
                Cs=svm_cs or (1e-3, 1e-2, 1e-1, 1.0),
                select_on=select_on,
                seed=seed,
            )
            res = {
                "metric": "top1",
                "val": r["val_acc"],
                "test": r["test_acc"],
                "best_C": r["best_C"],
                "per_C": r["per_C"],
            }
        elif task["protocol"] == "fc":
            recipe = {**(probe or {}), **(task.get("probe") or {})}  # the task's own recipe wins
            r = fc_probe(feats["train"], feats["val"], feats["test"], multilabel=multilabel, seed=seed, **recipe)
            res = {
                "metric": r["metric"],
                "val": r["val"],
                "test": r["test"],
                "best_epoch": r["best_epoch"],
                "selection": r["selection"],
            }
        else:
            raise ValueError(f"eval.tasks.{name}.protocol must be 'svm' or 'fc', got {task['protocol']!r}")
        ytest = np.asarray(feats["test"][1])
        # chance: uniform guessing for top-1; label prevalence for mAP (the AP of a random ranking)
        chance = 100.0 * float(ytest.mean()) if multilabel else 100.0 / len(np.unique(feats["train"][1]))
        res.update(
            {
                "modality": mod,
                "encoder": encoder,
                "protocol": task["protocol"],
                "chance": chance,
                "n_train": int(len(feats["train"][0])),
                "n_test": int(len(feats["test"][0])),
                "feature_dim": int(feats["train"][0].shape[-1]),
                **({"fusion": fusion} if mod == "av" else {}),
            }
        )
        results[name] = res
        log.info("%s %s: %s %.2f (val %.2f)", Path(run_dir).name, name, res["metric"], res["test"], res["val"])
    return {
        "run": Path(run_dir).name,
        "method": cfg.name,
        "seed": seed,
        "encoder": encoder,
        "select_on": select_on,
        "tasks": results,
        "wall_s": time.time() - t0,
    }
