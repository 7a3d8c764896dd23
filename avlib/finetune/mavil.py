"""MAViL fine-tuning (Sec. 4.3, App. B, Table 10): audio-only, video-only and audio+video, with 1 or N test clips.

* audio / video: the stage-2 student's encoder, the mean of its patch tokens (CLS excluded), a LayerNorm and a
  linear head (MAE's fine-tuning head).
* audio+video: both encoders, then ``fusion_depth`` (3) vanilla Transformer blocks on ``a_tokens || v_tokens``
  (CLS included, as the av-superb port's ``blocks_av``), each stream mean-pooled without its CLS, concatenated,
  a LayerNorm and a linear head; the video encoder trains at ``video_lr_scale`` (0.5) of the rate ("a 50 %
  learning rate reduction for the weights of the video encoder").
* AdamW (0.9, 0.95), warm-up + half-cycle cosine, no clipping; mixup (the same lambda and partner for both
  modalities) and SpecAugment time / frequency masks on the time-major fbank; BCE for multi-label tasks or with
  mixup, else CE (Table 10). The last epoch is reported ("we simply pick the last checkpoint"): the test metric
  with ``test_clips`` uniformly spaced clips averaged (Table 11's N) and with one clip (its 1: the first window, as the shared
  evaluation views place a single clip; the paper does not say which).

* Table 10's other fine-tuning tools, each a recipe field (off by default): ``time_roll`` (R: a random cyclic
  shift of each clip's fbank in time), ``noise_snr_db`` (N: Gaussian noise on the spectrogram at that SNR),
  ``token_mask_audio`` / ``token_mask_video`` (fine-tuning masking: that fraction of the audio patch grid's time
  rows and frequency columns, of the video grid's time slices and spatial positions, dropped from the encoder's
  input), ``drop_path`` (stochastic depth, linearly increasing over the encoder blocks) and ``weighted_sampling``
  (each epoch draws ``weighted_sampling_size`` training clips with replacement, a clip's probability proportional
  to the summed inverse training frequencies of its labels)."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from avlib.config import from_dict, to_dict
from avlib.data.cache import load_cache
from avlib.data.views import EvalViews
from avlib.eval.features import audio_clips
from avlib.eval.metrics import mean_average_precision, top1
from avlib.finetune.augment import smooth_one_hot, spec_augment
from avlib.finetune.trainer import underfitting
from avlib.log import progress
from avlib.methods import views_config
from avlib.models.vit import ViTConfig, build_blocks
from avlib.paths import resolve
from avlib.seed import make_generator
from avlib.train.process import resolve_device, setup_process
from avlib.train.schedules import cosine_schedule

__all__ = [
    "AVFinetuneRecipe",
    "AVClassifier",
    "finetune_mavil",
    "mavil_finetune_task",
    "structured_keep",
    "time_roll",
    "add_noise",
    "sampling_weights",
    "set_drop_path",
]
log = logging.getLogger("avlib.finetune")
MODALITIES = ("audio", "video", "av")


@dataclass
class AVFinetuneRecipe:
    """Table 10's fine-tuning columns (AS-20K defaults); profiles scale them."""

    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-6
    warmup_epochs: float = 4
    weight_decay: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.95)
    mixup: float = 0.5
    time_mask: int = 0  # SpecAugment widths in frames / bins of the fbank (Table 10: 192 / 48 at 1024 x 128)
    freq_mask: int = 0
    n_masks: int = 1
    fusion_depth: int = 3
    video_lr_scale: float = 0.5
    test_clips: int = 3
    time_roll: bool = False  # Table 10 "R"
    noise_snr_db: float = 0.0  # Table 10 "N" (20 dB); 0 = off
    token_mask_audio: float = 0.0  # fine-tuning masking (0.2): time rows and frequency columns of the patch grid
    token_mask_video: float = 0.0  # (0.2): time slices and spatial positions of the tubelet grid
    drop_path: float = 0.0  # Table 10: 0.1
    weighted_sampling: bool = False
    weighted_sampling_size: int = 0  # clips drawn per epoch (0: the training-set size)

    def __post_init__(self):
        for k in ("epochs", "batch_size", "fusion_depth", "test_clips"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"AVFinetuneRecipe.{k} must be >= 1, got {getattr(self, k)}")
        if not self.lr > 0 or not 0 <= self.video_lr_scale or self.mixup < 0:
            raise ValueError("AVFinetuneRecipe: lr must be > 0, video_lr_scale and mixup >= 0")
        for k in ("token_mask_audio", "token_mask_video", "drop_path"):
            if not 0.0 <= getattr(self, k) < 1.0:
                raise ValueError(f"AVFinetuneRecipe.{k} must lie in [0, 1), got {getattr(self, k)}")
        if self.noise_snr_db < 0 or self.weighted_sampling_size < 0:
            raise ValueError("AVFinetuneRecipe: noise_snr_db and weighted_sampling_size must be >= 0")


def structured_keep(grid: tuple, fraction: float, batch: int, generator: torch.Generator) -> torch.Tensor | None:
    """``[B, K]`` kept token indices of a row-major patch ``grid`` after fine-tuning masking: per sample,
    ``int(n * (1 - fraction))`` of the first axis' ``n`` slices (audio time rows / video time slices) are kept
    (AudioMAE's rule: 12 rows at 0.2 keep 9) and likewise of the remaining positions (audio frequency columns /
    video spatial positions), so every sample keeps the same count. ``None`` when nothing is dropped."""
    first, rest = int(grid[0]), int(np.prod(grid[1:]))
    n_first, n_rest = (n - int(n * (1 - fraction)) if fraction > 0 else 0 for n in (first, rest))
    if fraction <= 0 or (n_first == 0 and n_rest == 0):
        return None
    if n_first >= first or n_rest >= rest:
        raise ValueError(f"token masking {fraction} of the grid {tuple(grid)} leaves no token")
    keep_first = torch.rand(batch, first, generator=generator).argsort(1)[:, n_first:].sort(1).values
    keep_rest = torch.rand(batch, rest, generator=generator).argsort(1)[:, n_rest:].sort(1).values
    return (keep_first[:, :, None] * rest + keep_rest[:, None, :]).reshape(batch, -1)


def time_roll(audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each clip's ``[1, T, bins]`` fbank rolled cyclically in time by its own uniform shift in ``[0, T)``."""
    B, T = audio.shape[0], audio.shape[-2]
    shift = torch.randint(0, T, (B,), generator=generator).to(audio.device)
    idx = (torch.arange(T, device=audio.device)[None, :] - shift[:, None]) % T  # out[t] = in[t - shift]
    return torch.gather(audio, 2, idx[:, None, :, None].expand(B, audio.shape[1], T, audio.shape[-1]))


def add_noise(audio: torch.Tensor, snr_db: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise on each clip's spectrogram at ``snr_db`` (its mean square over the noise variance)."""
    power = audio.pow(2).mean(dim=tuple(range(1, audio.dim())), keepdim=True)
    noise = torch.randn(audio.shape, generator=generator).to(audio.device, audio.dtype)
    return audio + noise * (power / 10 ** (snr_db / 10)).sqrt()


def sampling_weights(labels: np.ndarray, multilabel: bool) -> np.ndarray:
    """A training clip's sampling weight: the sum over its labels of 1 / (that label's training count)."""
    labels = np.asarray(labels)
    onehot = labels.astype(np.float64) if multilabel else np.eye(int(labels.max()) + 1)[labels]
    counts = onehot.sum(0)
    return onehot @ np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)


def set_drop_path(blocks, rate: float) -> None:
    """Stochastic depth on timm ``Block``s: block ``i`` of ``n`` drops its residual branches with probability
    ``rate * i / (n - 1)`` (MAE's linear rule), in training mode only."""
    from timm.layers import DropPath

    for blk, p in zip(blocks, torch.linspace(0, rate, len(blocks)).tolist()):
        blk.drop_path1 = DropPath(p) if p > 0 else nn.Identity()
        blk.drop_path2 = DropPath(p) if p > 0 else nn.Identity()


def _pool(tokens: torch.Tensor) -> torch.Tensor:
    return tokens[:, 1:].mean(1)


class AVClassifier(nn.Module):
    """Encoder(s) -> (fusion blocks) -> mean of patch tokens -> LayerNorm -> linear head (see the module doc)."""

    def __init__(self, encoders: dict, modality: str, n_classes: int, fusion_depth: int = 3):
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        self.modality = modality
        self.encoders = nn.ModuleDict(
            {m: encoders[m] for m in (("audio", "video") if modality == "av" else (modality,))}
        )
        dims = {m: e.embed_dim for m, e in self.encoders.items()}
        self.fusion = None
        if modality == "av":
            if dims["audio"] != dims["video"]:
                raise ValueError(f"audio+video fine-tuning fuses tokens: widths differ {dims}")
            e = self.encoders["audio"]
            cfg = ViTConfig(dims["audio"], fusion_depth, e.num_heads, qkv_bias=e.cfg.qkv_bias, norm_eps=e.cfg.norm_eps)
            self.fusion = build_blocks(cfg)
        width = sum(dims.values())
        self.fc_norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, n_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(
        self, audio: torch.Tensor | None = None, video: torch.Tensor | None = None, keep: dict | None = None
    ) -> torch.Tensor:
        """Logits; ``keep`` (training): ``{modality: [B, K] kept token indices}`` (fine-tuning masking)."""
        keep = keep or {}
        if self.modality == "audio":
            feat = _pool(self.encoders["audio"](audio, ids_keep=keep.get("audio"))["tokens"])
        elif self.modality == "video":
            feat = _pool(self.encoders["video"](video, ids_keep=keep.get("video"))["tokens"])
        else:
            a = self.encoders["audio"](audio, ids_keep=keep.get("audio"))["tokens"]
            v = self.encoders["video"](video, ids_keep=keep.get("video"))["tokens"]
            x = torch.cat([a, v], 1)
            for blk in self.fusion:
                x = blk(x)
            feat = torch.cat([_pool(x[:, : a.shape[1]]), _pool(x[:, a.shape[1] :])], -1)
        return self.head(self.fc_norm(feat))


def _batch(ev: EvalViews, data, ids: np.ndarray, modality: str, n_clips: int, train: bool, g, device) -> dict:
    """``{"audio", "video"}`` inputs of the sorted ids (aligned windows; ``None`` where the task has no modality)."""
    b = np.sort(ids)
    audio = torch.from_numpy(np.ascontiguousarray(data.audio[b]).astype(np.float32)).to(device)
    if modality == "audio":
        return {"audio": audio_clips(ev, audio, n_clips, train, g), "video": None, "ids": b}
    video = torch.from_numpy(np.ascontiguousarray(data.video[b])).to(device)
    v, a = ev.clips(video, audio, n_clips=n_clips, train_aug=train, generator=g)
    return {"audio": a if modality == "av" else None, "video": v, "ids": b}


@torch.no_grad()
def _predict(clf, ev, data, ids, modality, n_clips, sigmoid, batch_size, device) -> tuple[np.ndarray, np.ndarray]:
    clf.eval()
    out, order = [], []
    g = make_generator(0, device)
    for i in range(0, len(ids), batch_size):
        x = _batch(ev, data, ids[i : i + batch_size], modality, n_clips, False, g, device)
        logits = clf(x["audio"], x["video"]).float()
        p = torch.sigmoid(logits) if sigmoid else logits.softmax(-1)
        out.append(p.reshape(len(x["ids"]), n_clips, -1).mean(1).cpu().numpy())
        order.append(x["ids"])
    return np.concatenate(out), np.concatenate(order)


def finetune_mavil(
    run_dir: str | Path, task: dict, recipe: AVFinetuneRecipe | dict, *, device: str = "cpu", desc: str | None = None
) -> dict:
    """Fine-tune a MAViL run on ``task`` (``dataset``, ``modality`` audio | video | av, optional ``multilabel``).

    Returns ``{metric, test, test_1clip, val, n_classes, curve, underfit, recipe, wall_s, ...}``."""
    from avlib.eval.protocol import load_pretrained

    t0 = time.time()
    rec = recipe if isinstance(recipe, AVFinetuneRecipe) else from_dict(AVFinetuneRecipe, recipe, where="recipe")
    modality, multilabel = task["modality"], bool(task.get("multilabel", False))
    cfg, model, fe = load_pretrained(run_dir, resolve_device(device))
    if cfg.method != "mavil":
        raise ValueError(f"finetune_mavil: {run_dir} is a {cfg.method!r} run")
    seed = cfg.train.seed
    device, _ = setup_process(device=device, num_threads=cfg.train.num_threads, seed=seed)
    g, g_host = make_generator(seed, device), torch.Generator().manual_seed(seed)
    encoders = {m: copy.deepcopy(model.encoder_for_eval(m)).requires_grad_(True) for m in ("audio", "video")}
    del model
    data = load_cache(resolve(task["dataset"]))
    split = {s: np.asarray(data.split_indices(s)) for s in ("train", "val", "test")}
    labels = np.asarray(data.labels)
    n_classes = labels.shape[1] if multilabel else int(labels.max()) + 1
    if rec.drop_path > 0:
        for enc in encoders.values():
            set_drop_path(enc.blocks, rec.drop_path)
    clf = AVClassifier(encoders, modality, n_classes, rec.fusion_depth).to(device)
    if rec.drop_path > 0 and clf.fusion is not None:
        set_drop_path(clf.fusion, rec.drop_path)
    video_params = {id(p) for p in clf.encoders["video"].parameters()} if modality == "av" else set()
    groups = [
        {"params": [p for p in clf.parameters() if id(p) not in video_params], "lr_scale": 1.0},
        {"params": [p for p in clf.parameters() if id(p) in video_params], "lr_scale": rec.video_lr_scale},
    ]
    opt = torch.optim.AdamW(
        [g_ for g_ in groups if g_["params"]], lr=rec.lr, betas=tuple(rec.betas), weight_decay=rec.weight_decay
    )
    ev = EvalViews(views_config(cfg), fe)
    n_epoch = rec.weighted_sampling_size or len(split["train"]) if rec.weighted_sampling else len(split["train"])
    weights = None
    if rec.weighted_sampling:
        w = sampling_weights(labels[split["train"]], multilabel)
        weights = torch.from_numpy(w / w.sum())
    steps_per_epoch = -(-n_epoch // rec.batch_size)
    total = rec.epochs * steps_per_epoch
    lrs = cosine_schedule(
        rec.lr, rec.min_lr, total, warmup_iters=min(int(round(rec.warmup_epochs * steps_per_epoch)), total - 1)
    )
    bce = multilabel or rec.mixup > 0  # Table 10: BCE for multi-label data or with mixup, else CE
    metric_fn = mean_average_precision if multilabel else top1
    curve, step = [], 0
    for epoch in progress(range(1, rec.epochs + 1), desc=desc or f"finetune {Path(run_dir).name}"):
        clf.train()
        if weights is None:
            perm = split["train"][torch.randperm(len(split["train"]), generator=g_host).numpy()]
        else:  # Table 10's weighted sampler: with replacement, inverse label frequency
            perm = split["train"][torch.multinomial(weights, n_epoch, replacement=True, generator=g_host).numpy()]
        losses = []
        for i in range(0, len(perm), rec.batch_size):
            x = _batch(ev, data, perm[i : i + rec.batch_size], modality, 1, True, g, device)
            y = torch.from_numpy(labels[x["ids"]]).to(device)
            target = y.float() if multilabel else smooth_one_hot(y, n_classes, 0.0)
            a, v = x["audio"], x["video"]
            if rec.mixup > 0:  # one lambda and one partner (the reversed batch) for both modalities
                lam = float(
                    np.random.default_rng(int(torch.randint(0, 2**31 - 1, (), generator=g_host))).beta(
                        rec.mixup, rec.mixup
                    )
                )
                a = None if a is None else lam * a + (1 - lam) * a.flip(0)
                v = None if v is None else lam * v + (1 - lam) * v.flip(0)
                target = lam * target + (1 - lam) * target.flip(0)
            if a is not None and (rec.time_mask or rec.freq_mask):  # [B, 1, T, bins] -> masks on time and bins
                a = spec_augment(
                    a.transpose(-1, -2),
                    freq_mask=rec.freq_mask,
                    time_mask=rec.time_mask,
                    n_masks=rec.n_masks,
                    generator=g_host,
                ).transpose(-1, -2)
            if a is not None and rec.time_roll:
                a = time_roll(a, g_host)
            if a is not None and rec.noise_snr_db > 0:
                a = add_noise(a, rec.noise_snr_db, g_host)
            keep = {}
            for m_, x_, frac in (("audio", a, rec.token_mask_audio), ("video", v, rec.token_mask_video)):
                if x_ is not None and frac > 0:
                    k_ = structured_keep(clf.encoders[m_].tokenizer.grid(x_.shape), frac, x_.shape[0], g_host)
                    keep[m_] = None if k_ is None else k_.to(device)
            for grp in opt.param_groups:
                grp["lr"] = lrs[step] * grp["lr_scale"]
            logits = clf(a, v, keep).float()
            loss = (
                F.binary_cross_entropy_with_logits(logits, target)
                if bce
                else -(target * logits.log_softmax(-1)).sum(-1).mean()
            )
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"finetune_mavil {run_dir} on {task['dataset']}: non-finite loss, epoch {epoch}"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
        curve.append({"epoch": epoch, "loss": float(np.mean(losses)), "lr": float(lrs[step - 1])})
    underfit = underfitting(curve)
    if underfit:
        log.warning("%s finetune %s: %s", Path(run_dir).name, task["dataset"], underfit)
    res = {}
    for key, s, n in (("val", "val", rec.test_clips), ("test", "test", rec.test_clips), ("test_1clip", "test", 1)):
        p, ids = _predict(clf, ev, data, split[s], modality, n, bce, rec.batch_size, device)
        res[key] = float(metric_fn(p, labels[ids]))
    return {
        "run": Path(run_dir).name,
        "dataset": task["dataset"],
        "modality": modality,
        "seed": seed,
        "protocol": "finetune",
        "metric": "mAP" if multilabel else "top1",
        **res,
        "n_classes": n_classes,
        "epochs": rec.epochs,
        "steps": total,
        "test_clips": rec.test_clips,
        "curve": curve,
        "underfit": underfit,
        "recipe": to_dict(rec),
        "wall_s": round(time.time() - t0, 2),
    }


def mavil_finetune_task(profile: str, task: str, root=None) -> tuple[dict, dict]:
    """``(task, recipe dict)`` of ``task`` from ``params/finetune/mavil_<profile>.yaml``: ``tasks.<task>`` holds
    ``dataset``, ``modality`` (audio | video | av), optional ``multilabel`` and ``recipe`` (a key of ``recipes``),
    and any recipe override."""
    from avlib.config import ConfigError, read_yaml

    where = f"params/finetune/mavil_{profile}.yaml"
    ft = read_yaml(resolve(where, root))
    tasks, recipes = ft.get("tasks", {}), ft.get("recipes", {})
    if task not in tasks:
        raise ConfigError(f"{where}: tasks: no task {task!r}; available: {sorted(tasks)}")
    spec = dict(tasks[task])
    name = spec.pop("recipe", None)
    if name not in recipes:
        raise ConfigError(f"{where}: tasks.{task}.recipe: {name!r} is not one of {sorted(recipes)}")
    keys = {"dataset", "modality", "multilabel"}
    recipe = {**recipes[name], **{k: v for k, v in spec.items() if k not in keys}}
    return {k: v for k, v in spec.items() if k in keys}, recipe
