"""Fine-tune a pretrained XKD encoder on a downstream task (Supp. A.6, Tables S6/S7).

Training samples one randomly placed, augmented clip per sample per epoch (crop + flip + colour
jitter for video, volume jitter for audio, as the linear-evaluation views) and adds the recipe's
MixUp/CutMix + label smoothing (video) or SpecAugment masking (audio). Testing averages the softmax
(sigmoid for multi-label tasks) of ``test_clips`` uniformly spaced clips per sample and reports top-1
(mAP for multi-label), the paper's protocol. The reported numbers are those of the final epoch, or of
the best validation epoch with ``select_on_val`` (early stopping).

Not implemented from Tables S6/S7 (documented in docs/fidelity-notes.md): RandAugment and multi-scale
crops (the linear-evaluation crop + flip + colour jitter are used), 224 px fine-tuning inputs (the
profile's pretraining size is kept), and audio time warping / random crop."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from avlib.config import from_dict, to_dict
from avlib.data.cache import load_cache
from avlib.data.views import EvalViews
from avlib.eval.features import audio_clips
from avlib.eval.metrics import mean_average_precision, top1
from avlib.finetune.augment import mixup_cutmix, smooth_one_hot, spec_augment
from avlib.finetune.layer_decay import layer_decay_groups
from avlib.log import progress
from avlib.methods import views_config
from avlib.paths import resolve
from avlib.seed import make_generator
from avlib.train.process import resolve_device, setup_process
from avlib.train.schedules import cosine_schedule

log = logging.getLogger("avlib.finetune")


@dataclass
class FinetuneRecipe:
    """Table S6 (video: K400/UCF101/HMDB51) and S7 (audio: ESC50/FSD50K) settings; profiles scale them."""

    epochs: int = 100
    batch_size: int = 96
    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup_epochs: float = 5
    schedule: Literal["cosine", "constant"] = "cosine"
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    layer_decay: float = 0.45
    dropout: float = 0.5
    label_smoothing: float = 0.1
    mixup: float = 0.6
    cutmix: float = 0.5
    freq_mask: int = 0
    time_mask: int = 0
    n_masks: int = 0
    volume_jitter: float = 0.1  # audio training clips (Table S7: 0.2)
    select_on_val: bool = False  # Table S7 FSD50K "early stop": report the test metric at the best val epoch
    test_clips: int = 3


class Classifier(nn.Module):
    """Encoder -> mean of patch tokens (XKD's feature) -> dropout -> linear head."""

    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.embed_dim, n_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encoder.features(x, pool="mean")))


def underfitting(curve: list[dict], min_drop: float = 0.1) -> str | None:
    """A message if the training loss of the last epoch is within ``min_drop`` (relative) of the first
    epoch's, else None: the optimisation budget (lr x steps) was too small to fit even the training clips,
    and the test metric then says more about the recipe than about the encoder."""
    if len(curve) < 2:
        return None
    first, last = curve[0]["loss"], curve[-1]["loss"]
    if last > (1 - min_drop) * first:
        return f"training loss fell only {first:.3f} -> {last:.3f} over {len(curve)} epochs"
    return None


def _inputs(ev: EvalViews, data, ids: np.ndarray, modality: str, n_clips: int, train: bool, g, device):
    b = np.sort(ids)
    audio = torch.from_numpy(np.ascontiguousarray(data.audio[b]).astype(np.float32)).to(device)
    if modality == "video":
        video = torch.from_numpy(np.ascontiguousarray(data.video[b])).to(device)
        x, _ = ev.clips(video, audio, n_clips=n_clips, train_aug=train, generator=g)
    else:
        x = audio_clips(ev, audio, n_clips, train, g)
    return x, b


@torch.no_grad()
def predict(
    model: Classifier,
    ev: EvalViews,
    data,
    ids: np.ndarray,
    *,
    modality: str,
    n_clips: int,
    multilabel: bool,
    batch_size: int,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Clip-averaged probabilities ``[len(ids), K]`` (softmax, or sigmoid if multi-label) in sorted id
    order, and those ids."""
    model.eval()
    out, order = [], []
    g = make_generator(0, device)
    for i in range(0, len(ids), batch_size):
        x, b = _inputs(ev, data, ids[i : i + batch_size], modality, n_clips, False, g, device)
        logits = model(x).float()
        p = torch.sigmoid(logits) if multilabel else logits.softmax(-1)
        out.append(p.reshape(len(b), n_clips, -1).mean(1).cpu().numpy())
        order.append(b)
    return np.concatenate(out), np.concatenate(order)


def finetune(
    run_dir: str | Path,
    task: dict,
    recipe: FinetuneRecipe | dict,
    *,
    encoder: str = "teacher",
    device: str = "cpu",
    desc: str | None = None,
) -> dict:
    """Fine-tune ``run_dir``'s ``encoder`` ('teacher' or 'student') end to end on ``task`` (an
    ``eval.tasks`` entry: ``dataset``, ``modality``, optional ``multilabel``).

    Returns ``{metric, val, test, n_classes, epochs, steps, curve: [{epoch, loss, lr}], underfit, recipe,
    wall_s, ...}``; ``underfit`` (also logged as a warning) says when the training loss barely fell."""
    from avlib.eval.protocol import load_pretrained

    t0 = time.time()
    rec = recipe if isinstance(recipe, FinetuneRecipe) else from_dict(FinetuneRecipe, recipe, where="finetune recipe")
    modality, multilabel = task["modality"], bool(task.get("multilabel", False))
    if modality not in ("video", "audio"):
        raise ValueError(f"finetune: task modality must be 'video' or 'audio', got {modality!r}")
    cfg, model, logmel = load_pretrained(run_dir, resolve_device(device))
    seed = cfg.train.seed
    device, _ = setup_process(device=device, num_threads=cfg.train.num_threads, seed=seed)
    g = make_generator(seed, device)  # view sampling on the device
    g_host = torch.Generator().manual_seed(seed)  # permutations, MixUp/CutMix, SpecAugment (CPU-side draws)
    enc = copy.deepcopy(model.encoder_for_eval(modality, encoder))
    del model
    enc.requires_grad_(True)
    data = load_cache(resolve(task["dataset"]))
    split = {s: np.asarray(data.split_indices(s)) for s in ("train", "val", "test")}
    for s, ids in split.items():
        if len(ids) == 0:
            raise ValueError(f"finetune: dataset {task['dataset']} has no {s!r} clips")
    labels = np.asarray(data.labels)
    n_classes = labels.shape[1] if multilabel else int(labels.max()) + 1
    clf = Classifier(enc, n_classes, rec.dropout).to(device)
    groups = layer_decay_groups(clf, enc.depth, weight_decay=rec.weight_decay, layer_decay=rec.layer_decay)
    opt = torch.optim.AdamW(groups, lr=rec.lr, betas=tuple(rec.betas))
    ev = EvalViews(dataclasses.replace(views_config(cfg), eval_volume_jitter=rec.volume_jitter), logmel)
    steps_per_epoch = -(-len(split["train"]) // rec.batch_size)
    total = rec.epochs * steps_per_epoch
    warm = min(int(round(rec.warmup_epochs * steps_per_epoch)), total - 1)
    lrs = (
        cosine_schedule(rec.lr, rec.min_lr, total, warmup_iters=warm)
        if rec.schedule == "cosine"
        else np.full(total, rec.lr)
    )
    mix = modality == "video" and not multilabel and (rec.mixup > 0 or rec.cutmix > 0)
    metric_fn = mean_average_precision if multilabel else top1
    curve, step, best = [], 0, {"val": -float("inf"), "epoch": 0, "state": None}
    for epoch in progress(range(1, rec.epochs + 1), desc=desc or f"finetune {Path(run_dir).name}"):
        clf.train()
        perm = split["train"][torch.randperm(len(split["train"]), generator=g_host).numpy()]
        losses = []
        for i in range(0, len(perm), rec.batch_size):
            x, b = _inputs(ev, data, perm[i : i + rec.batch_size], modality, 1, True, g, device)
            y = torch.from_numpy(labels[b]).to(device)
            if multilabel:
                target = y.float()
            else:
                target = smooth_one_hot(y, n_classes, rec.label_smoothing)
            if mix:
                x, target, _ = mixup_cutmix(x, target, mixup_alpha=rec.mixup, cutmix_alpha=rec.cutmix, generator=g_host)
            if modality == "audio" and rec.n_masks > 0:
                x = spec_augment(
                    x, freq_mask=rec.freq_mask, time_mask=rec.time_mask, n_masks=rec.n_masks, generator=g_host
                )
            for grp in opt.param_groups:
                grp["lr"] = lrs[step] * grp["lr_scale"]
            logits = clf(x).float()
            loss = (
                F.binary_cross_entropy_with_logits(logits, target)
                if multilabel
                else -(target * logits.log_softmax(-1)).sum(-1).mean()
            )
            if not torch.isfinite(loss):
                raise FloatingPointError(f"finetune {run_dir} on {task['dataset']}: non-finite loss at epoch {epoch}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
        entry = {"epoch": epoch, "loss": float(np.mean(losses)), "lr": float(lrs[step - 1])}
        if rec.select_on_val:
            p, ids = predict(
                clf,
                ev,
                data,
                split["val"],
                modality=modality,
                n_clips=rec.test_clips,
                multilabel=multilabel,
                batch_size=rec.batch_size,
                device=device,
            )
            entry["val"] = float(metric_fn(p, labels[ids]))
            if entry["val"] > best["val"]:
                best = {
                    "val": entry["val"],
                    "epoch": epoch,
                    "state": {k: v.detach().clone() for k, v in clf.state_dict().items()},
                }
        curve.append(entry)
    if rec.select_on_val and best["state"] is not None:
        clf.load_state_dict(best["state"])
    underfit = underfitting(curve)
    if underfit:
        log.warning(
            "%s finetune %s: %s (%d optimizer steps at peak lr %g): raise the recipe's lr or epochs",
            Path(run_dir).name,
            task["dataset"],
            underfit,
            total,
            rec.lr,
        )
    res = {}
    for s in ("val", "test"):
        p, ids = predict(
            clf,
            ev,
            data,
            split[s],
            modality=modality,
            n_clips=rec.test_clips,
            multilabel=multilabel,
            batch_size=rec.batch_size,
            device=device,
        )
        res[s] = float(metric_fn(p, labels[ids]))
    log.info(
        "%s finetune %s: %s %.2f (val %.2f) in %.0fs",
        Path(run_dir).name,
        task["dataset"],
        "mAP" if multilabel else "top1",
        res["test"],
        res["val"],
        time.time() - t0,
    )
    return {
        "run": Path(run_dir).name,
        "dataset": task["dataset"],
        "modality": modality,
        "encoder": encoder,
        "seed": seed,
        "protocol": "finetune",
        "metric": "mAP" if multilabel else "top1",
        "val": res["val"],
        "test": res["test"],
        "n_classes": n_classes,
        "epochs": rec.epochs,
        "steps": total,
        "curve": curve,
        "underfit": underfit,
        "selected_epoch": best["epoch"] if rec.select_on_val else rec.epochs,
        "recipe": to_dict(rec),
        "wall_s": round(time.time() - t0, 2),
    }
