"""C2KD's supervised training loop: ``pretrain_c2kd(cfg, out_dir)`` for both of its stages.

* Data: a labelled audio-visual cache (``data.cache``) with ``train``, ``val`` and ``test`` splits. Each clip gives
  a 1-channel spectrogram of the profile's audio front end and ``c2kd.frames`` evenly spaced frames of the aligned
  video window (``avlib.data.views.EvalViews.clips``: random window, crop and flip while training; the first
  window, centre crop at test).
* Optimiser: SGD with momentum 0.9 over the trainable parameters (``optim.weight_decay``; the public code uses
  none), the rate decayed per epoch as ``min_lr + (lr - min_lr)(1 - e / epochs)^0.9`` (the public code's
  polynomial schedule, with the configured rate and epochs: its own ignores ``--lr`` and ``--num-epochs``).
* Model selection on the **validation** split (the public code validates on the test set): each epoch scores the
  tested network (the teacher in stage 1, the student alone in stage 2) on val and test; the summary reports the
  test accuracy at the best-validation epoch and at the last one.
* Stage 2 loads its teacher from the stage-1 run's ``final.pt`` (``c2kd.teacher``, ``{seed}`` = the run's seed).
* An atomic checkpoint after every epoch (model, optimiser, RNG states, history); an interrupted run resumes at
  the next epoch under the shared rule of :mod:`avlib.train.resume`. ``final.pt`` holds ``config`` and ``model``
  like every run, ``summary.json`` the accuracies.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from avlib import checkpoint
from avlib.config import to_dict
from avlib.data.cache import load_cache
from avlib.data.views import EvalViews
from avlib.log import JsonlWriter, progress
from avlib.methods import build_method, logmel_from_config, views_config
from avlib.paths import atomic_write_text, resolve
from avlib.seed import make_generator
from avlib.train.process import setup_process
from avlib.train.resume import open_checkpoint, run_key, write_config

log = logging.getLogger(__name__)

__all__ = ["pretrain_c2kd", "c2kd_inputs", "poly_lr"]


def poly_lr(lr: float, min_lr: float, epoch: int, epochs: int, power: float = 0.9) -> float:
    """The rate of (0-based) ``epoch``: ``min_lr + (lr - min_lr) (1 - epoch / epochs)^power``."""
    return min_lr + (lr - min_lr) * (1.0 - epoch / epochs) ** power


def c2kd_inputs(ev: EvalViews, data, ids: np.ndarray, frames: int, *, train: bool, generator, device) -> dict:
    """``{"audio" [B, 1, ., .], "video" [B, K, 3, S, S], "label" [B], "ids"}`` of the sorted ``ids``: one aligned
    window per clip, ``frames`` evenly spaced frames of its video."""
    b = np.sort(ids)
    audio = torch.from_numpy(np.ascontiguousarray(data.audio[b]).astype(np.float32)).to(device)
    video = torch.from_numpy(np.ascontiguousarray(data.video[b])).to(device)
    v, a = ev.clips(video, audio, n_clips=1, train_aug=train, generator=generator)  # v: [B, 3, T, S, S]
    T = v.shape[2]
    pick = torch.as_tensor(np.linspace(0, T - 1, frames + 2)[1:-1].round().astype(np.int64), device=device)
    label = torch.as_tensor(np.asarray(data.labels)[b], device=device).long()
    return {"audio": a, "video": v[:, :, pick].transpose(1, 2).contiguous(), "label": label, "ids": b}


@torch.no_grad()
def _accuracy(model, ev, data, ids, frames, device, batch_size) -> float:
    model.eval()
    correct = 0
    g = make_generator(0, device)
    for i in range(0, len(ids), batch_size):
        x = c2kd_inputs(ev, data, ids[i : i + batch_size], frames, train=False, generator=g, device=device)
        correct += int((model.predict(x).argmax(-1) == x["label"]).sum())
    return 100.0 * correct / len(ids)


def _load_teacher(model, cfg) -> str:
    path = resolve(cfg.c2kd.teacher.format(seed=cfg.train.seed)) / "final.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{cfg.name}: no teacher run {path}: train stage 1 first (c2kd.stage: teacher)")
    state = checkpoint.load(path, map_location="cpu")
    t_cfg = state["config"]["c2kd"]
    want = (cfg.c2kd.teacher_modality, cfg.c2kd.teacher_arch)
    got = (t_cfg["teacher_modality"], t_cfg["teacher_arch"])
    if t_cfg["stage"] != "teacher" or got != want:
        raise ValueError(f"{cfg.name}: {path} is a {t_cfg['stage']} run of {got}, the config wants a teacher of {want}")
    model.teacher.load_state_dict(
        {k[len("teacher.") :]: v for k, v in state["model"].items() if k.startswith("teacher.")}
    )
    return str(path)


def pretrain_c2kd(cfg, out_dir, *, resume: bool = True, show_progress: bool = True) -> dict:
    """Train ``cfg`` (an :class:`avlib.methods.c2kd.C2KDPretrainConfig`, either stage) into ``out_dir``."""
    t0 = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = cfg.train.seed
    device, _ = setup_process(device=cfg.train.device, num_threads=cfg.train.num_threads, seed=seed)
    data = load_cache(resolve(cfg.data.cache))
    if data.video is None or data.audio is None:
        raise ValueError(f"{cfg.name}: C2KD needs audio-visual clips; cache {cfg.data.cache} lacks a modality")
    labels = np.asarray(data.labels)
    if labels.ndim != 1:
        raise ValueError(f"{cfg.name}: C2KD classifies single-label clips; cache {cfg.data.cache} is multi-label")
    split = {s: np.asarray(data.split_indices(s)) for s in ("train", "val", "test")}
    for s, ids in split.items():
        if not len(ids):
            raise ValueError(f"{cfg.name}: cache {cfg.data.cache} has no {s!r} clips (selection needs val, tests test)")
    x = cfg.c2kd
    if not x.n_classes:
        cfg = dataclasses.replace(cfg, c2kd=dataclasses.replace(x, n_classes=int(labels.max()) + 1))
        x = cfg.c2kd
    logmel = logmel_from_config(cfg).to(device)
    ev = EvalViews(views_config(cfg), logmel)
    model = build_method(cfg, logmel).to(device)
    teacher_from = _load_teacher(model, cfg) if x.stage == "student" else None
    opt = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=cfg.optim.lr,
        momentum=0.9,
        weight_decay=cfg.optim.weight_decay,
    )
    gen = make_generator(seed * 1000 + 3, device=device)
    rng = np.random.default_rng([seed, 5])
    chash = run_key(cfg, __name__)
    state = {"epoch": 0, "step": 0, "history": [], "best": None}
    st = open_checkpoint(out_dir, chash, resume=resume, map_location="cpu", name=cfg.name)
    writer = JsonlWriter(out_dir / "metrics.jsonl")
    if st is not None:
        if "c2kd_state" not in st:
            raise ValueError(f"{out_dir / checkpoint.LAST}: not a C2KD checkpoint (no c2kd_state); use --fresh")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        state = st["c2kd_state"]
        rng.bit_generator.state = st["np_rng"]
        gen.set_state(st["torch_gen"])
        torch.set_rng_state(st["torch_rng"])
        writer.truncate_after(state["step"])
        log.info("%s: resumed after epoch %d", cfg.name, state["epoch"])
    else:
        (out_dir / "metrics.jsonl").unlink(missing_ok=True)
    write_config(out_dir, cfg)
    bs, epochs = cfg.train.batch_size, cfg.train.epochs
    bar = progress(
        range(state["epoch"] + 1, epochs + 1), desc=f"c2kd {cfg.name}", disable=None if show_progress else True
    )
    for epoch in bar:
        lr = poly_lr(cfg.optim.lr, cfg.optim.min_lr, epoch - 1, epochs)
        for grp in opt.param_groups:
            grp["lr"] = lr
        model.train()
        perm = split["train"][rng.permutation(len(split["train"]))]
        sums: dict[str, float] = {}
        n = 0
        for i in range(0, len(perm) - bs + 1 if len(perm) >= bs else 1, bs):  # whole batches (BatchNorm)
            batch = c2kd_inputs(ev, data, perm[i : i + bs], x.frames, train=True, generator=gen, device=device)
            out = model(batch)
            if not torch.isfinite(out["loss"]):
                raise FloatingPointError(f"{cfg.name}: non-finite loss at epoch {epoch}, step {state['step']}")
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
            state["step"] += 1
            n += 1
            for k, v in {"loss": out["loss"].detach(), **out["logs"]}.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        rec = {"epoch": epoch, "step": state["step"], "lr": lr, **{k: v / max(n, 1) for k, v in sums.items()}}
        for s in ("val", "test"):
            rec[f"{s}_acc"] = _accuracy(model, ev, data, split[s], x.frames, device, bs)
        writer.write(rec)
        state["history"].append(rec)
        if state["best"] is None or rec["val_acc"] > state["best"]["val_acc"]:
            state["best"] = {k: rec[k] for k in ("epoch", "val_acc", "test_acc")}
        state["epoch"] = epoch
        checkpoint.atomic_save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "c2kd_state": state,
                "np_rng": rng.bit_generator.state,
                "torch_gen": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "config": to_dict(cfg),
                "config_hash": chash,
                "step": state["step"],
                "epoch": epoch,
            },
            out_dir / checkpoint.LAST,
        )
    checkpoint.atomic_save({"config": to_dict(cfg), "model": model.state_dict()}, out_dir / "final.pt")
    last = state["history"][-1]
    summary = {
        "name": cfg.name,
        "stage": x.stage,
        "loss": x.loss if x.stage == "student" else "ce",
        "tested": model.student_modality if x.stage == "student" else model.teacher_modality,
        "seed": seed,
        "epochs": epochs,
        "steps": state["step"],
        "best_val_epoch": state["best"]["epoch"],
        "val_acc": state["best"]["val_acc"],
        "test_acc": state["best"]["test_acc"],  # at the best-validation epoch
        "test_acc_last": last["test_acc"],
        "n": {s: int(len(v)) for s, v in split.items()},
        "teacher": teacher_from,
        "config_hash": chash,
        "wall_s": time.time() - t0,
    }
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    log.info(
        "%s: test %.1f at the best val epoch %d (last %.1f)",
        cfg.name,
        summary["test_acc"],
        summary["best_val_epoch"],
        summary["test_acc_last"],
    )
    return summary
