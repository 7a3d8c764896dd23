"""``pretrain(cfg, out_dir)``: the pretraining loop shared by every method.

* reads clips from the decode-once array cache (never decodes media per step) and builds the views
  on the training device, batched;
* AdamW with warm-up cosine LR, a weight-decay schedule, EMA and teacher-temperature schedules, all
  per iteration;
* bf16 autocast on CUDA (fp16 with a GradScaler on request), fp32 on CPU;
* DDP when launched by ``torchrun`` (gloo on CPU, NCCL on GPU); teachers never receive gradients;
* checkpoints every ``ckpt_every_steps`` written atomically, automatic resume (not across a change of
  a result-affecting config field: the old files are then moved to ``stale-<hash>/``), per-rank RNG
  states so a resumed run equals an uninterrupted one, a JSON-lines metrics log, a progress bar;
* a non-finite loss or gradient, or a collapse signal, stops the run with a clear message and keeps
  the last good checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from avlib import __version__, checkpoint, dist
from avlib.config import PretrainConfig, to_dict
from avlib.data.cache import load_cache
from avlib.data.views import GlobalLocalViews
from avlib.log import JsonlWriter, progress
from avlib.methods import build_method, logmel_from_config, views_config
from avlib.paths import resolve
from avlib.seed import make_generator
from avlib.train.collapse import collapsed
from avlib.train.optim import build_optimizer, clip_gradients, grads_finite, lr_wd_schedules, set_lr_wd
from avlib.train.process import setup_process
from avlib.train.resume import open_checkpoint, run_key, write_config

log = logging.getLogger(__name__)
FINAL = "final.pt"


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN/inf; the last good checkpoint is kept."""


class CollapseError(RuntimeError):
    """Teacher outputs stopped depending on the input (Supp. B.5); the last good checkpoint is kept."""


def autocast_context(device: str, precision: str):
    """bf16 autocast on CUDA by default; nothing on CPU (precision 'auto')."""
    dev = torch.device(device).type
    if precision == "auto":
        precision = "bf16" if dev == "cuda" else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    return torch.autocast(device_type=dev, dtype=dtype), scaler


class _Batches:
    """Deterministic, resumable batch order: epoch ``e`` uses ``permutation(default_rng([seed, e]))``;
    each rank takes a strided share of every global batch. Arrays are read in a background thread."""

    def __init__(self, data, indices: np.ndarray, batch_size: int, seed: int):
        self.data, self.indices, self.seed = data, indices, seed
        self.batch_size = batch_size
        self.iters_per_epoch = len(indices) // batch_size
        if self.iters_per_epoch == 0:
            raise ValueError(f"train.batch_size={batch_size} exceeds the {len(indices)} training clips")
        self._pool = ThreadPoolExecutor(1)
        self._perm_epoch, self._perm = -1, None

    def ids(self, step: int) -> np.ndarray:
        epoch, b = divmod(step, self.iters_per_epoch)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.indices))
            self._perm_epoch = epoch
        sel = self._perm[b * self.batch_size : (b + 1) * self.batch_size][dist.rank() :: dist.world_size()]
        return np.sort(self.indices[sel])

    def _read(self, ids):
        video = None if self.data.video is None else torch.from_numpy(np.ascontiguousarray(self.data.video[ids]))
        return video, torch.from_numpy(np.ascontiguousarray(self.data.audio[ids]).astype(np.float32))

    def prefetch(self, step: int):
        return self._pool.submit(self._read, self.ids(step))


def _rng_states(gen: torch.Generator) -> dict:
    """Every rank's generator and CPU RNG state (gathered on all ranks; index = rank)."""
    mine = (gen.get_state(), torch.get_rng_state())
    if dist.is_dist():
        import torch.distributed as tdist

        allst = [None] * dist.world_size()
        tdist.all_gather_object(allst, mine)
    else:
        allst = [mine]
    return {"gen": [g for g, _ in allst], "torch": [t for _, t in allst]}


class Trainer:
    """Everything one optimisation step needs; shared by :func:`pretrain` and the benchmark."""

    def __init__(self, cfg: PretrainConfig, device: str, total: int, iters_per_epoch: int, distributed: bool = False):
        self.cfg, self.device, self.total = cfg, device, total
        logmel = logmel_from_config(cfg).to(device)
        self.views = GlobalLocalViews(views_config(cfg), logmel)
        self.core = build_method(cfg, logmel).to(device)
        self.model = self.core
        if distributed:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.core,
                device_ids=[dist.local_rank()] if device.startswith("cuda") else None,
                broadcast_buffers=False,
            )
        self.optimizer = build_optimizer(self.core, cfg.optim)
        self.lr, self.wd = lr_wd_schedules(cfg.optim, total, iters_per_epoch)
        self.core.setup(total, iters_per_epoch)  # the method's own per-step schedules
        self.autocast, self.scaler = autocast_context(device, cfg.train.precision)
        self.gen = make_generator(cfg.train.seed * 1000 + dist.rank(), device=device)
        self.trainable = [p for p in self.core.parameters() if p.requires_grad]
        if cfg.optim.clip_mode == "per_param_students":
            self.clip_params = self.core.parameters_to_clip()
        else:
            self.clip_params = [p for p in self.core.parameters() if p.requires_grad]

    def step(
        self, video_u8: torch.Tensor | None, audio: torch.Tensor, step: int, last_good: int, out_dir: Path
    ) -> tuple[dict, float]:
        """One step: views -> forward (autocast) -> finite check -> backward -> clip -> AdamW -> the method's
        after-step hook (XKD: EMA)."""
        cfg = self.cfg
        set_lr_wd(self.optimizer, float(self.lr[step]), float(self.wd[step]))
        sched = self.core.step_inputs(step)
        with torch.no_grad():
            v = self.views(video_u8, audio, generator=self.gen)
        with self.autocast:
            out = self.model(v, sched, self.gen)
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"{cfg.name}: non-finite loss ({float(loss.detach())}) at step {step}; terms: "
                f"{ {k: float(x) for k, x in out['logs'].items()} }. The last good checkpoint is "
                f"{out_dir / checkpoint.LAST} (step {last_good}); lower optim.lr or use precision fp32/bf16."
            )
        self.optimizer.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        gnorm = clip_gradients(self.clip_params, cfg.optim.clip_grad, cfg.optim.clip_mode)
        if self.scaler is None and not (math.isfinite(gnorm) and grads_finite(self.trainable)):
            raise NonFiniteLossError(
                f"{cfg.name}: non-finite gradient norm at step {step}; the last good checkpoint is "
                f"{out_dir / checkpoint.LAST} (step {last_good})."
            )
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.core.after_step(step)
        return out["logs"], gnorm


def pretrain_indices(data, cfg) -> np.ndarray:
    """The cache indices a pretraining run trains on: the union of ``data.split`` (sorted), cut to
    ``data.max_clips``, then ``data.fraction`` of them as a fixed subset (seed 0) shared by every seed of
    a pretraining-set size (at least one batch). Shared by the step runner and the XDC rounds."""
    splits = [cfg.data.split] if isinstance(cfg.data.split, str) else list(cfg.data.split)
    indices = np.unique(np.concatenate([np.asarray(data.split_indices(s)) for s in splits]))
    if cfg.data.max_clips:
        indices = indices[: cfg.data.max_clips]
    if not 0.0 < cfg.data.fraction <= 1.0:
        raise ValueError(f"data.fraction must be in (0, 1], got {cfg.data.fraction}")
    if cfg.data.fraction < 1.0:
        keep = max(cfg.train.batch_size, int(round(len(indices) * cfg.data.fraction)))
        indices = np.sort(np.random.default_rng(0).choice(indices, size=min(keep, len(indices)), replace=False))
    return indices


def pretrain(cfg: PretrainConfig, out_dir: str | Path, *, resume: bool = True, show_progress: bool = True) -> dict:
    """Train ``cfg`` into ``out_dir`` (``last.pt``, ``final.pt``, ``metrics.jsonl``, ``summary.json``)."""
    t0 = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device, distributed = setup_process(
        device=cfg.train.device, num_threads=cfg.train.num_threads, seed=cfg.train.seed, distributed=True
    )

    data = load_cache(resolve(cfg.data.cache))
    indices = pretrain_indices(data, cfg)
    if cfg.train.batch_size % dist.world_size():
        raise ValueError(f"train.batch_size={cfg.train.batch_size} not divisible by world size {dist.world_size()}")
    batches = _Batches(data, indices, cfg.train.batch_size, cfg.train.seed)
    ipe = batches.iters_per_epoch
    total = cfg.train.epochs * ipe
    if cfg.train.max_steps:
        total = min(total, cfg.train.max_steps)

    tr = Trainer(cfg, device, total, ipe, distributed)
    if data.video is None and tr.core.use_video:
        raise ValueError(
            f"{cfg.name}: cache {cfg.data.cache} is audio-only but the method uses video "
            "(an audio-only method, e.g. audio reconstruction alone, trains on it)"
        )
    core, optimizer, scaler, gen = tr.core, tr.optimizer, tr.scaler, tr.gen
    chash = run_key(cfg, __name__)
    writer = JsonlWriter(out_dir / "metrics.jsonl")
    step = 0
    state = open_checkpoint(out_dir, chash, resume=resume, map_location=device, name=cfg.name)
    if state is not None:
        ckpt_path = out_dir / checkpoint.LAST
        core.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        gens, cpus = state["rng"]["gen"], state["rng"]["torch"]
        if len(gens) != dist.world_size():
            raise RuntimeError(
                f"{ckpt_path} was written by {len(gens)} rank(s); resume it with the same "
                f"world size (now {dist.world_size()}) or start afresh with --fresh"
            )
        gen.set_state(gens[dist.rank()].cpu())
        torch.set_rng_state(cpus[dist.rank()].cpu())
        step = int(state["step"])
        log.info("resumed from %s at step %d/%d (epoch %d)", ckpt_path, step, total, step // ipe)
    if dist.is_main():
        write_config(out_dir, cfg)
    if dist.is_main():
        writer.truncate_after(step)
    if step == 0:
        log.info(
            "starting %s: %d clips, %d steps (%d epochs x %d), batch %d, device %s, %d threads",
            cfg.name,
            len(indices),
            total,
            cfg.train.epochs,
            ipe,
            cfg.train.batch_size,
            device,
            torch.get_num_threads(),
        )

    def save(step_done: int) -> Path | None:
        rng = _rng_states(gen)  # collective: every rank takes part
        if not dist.is_main():
            return None
        return checkpoint.atomic_save(
            {
                "model": core.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else {},
                "step": step_done,
                "epoch": step_done // ipe,
                "config": to_dict(cfg),
                "config_hash": chash,
                "rng": rng,
                "avlib_version": __version__,
            },
            out_dir / checkpoint.LAST,
        )

    last_good = step
    collapse_count = 0
    bar = progress(total=total, initial=step, desc=cfg.name, disable=None if show_progress else True)
    pending = batches.prefetch(step) if step < total else None
    t_steps, n_steps = time.time(), 0
    tr.model.train()
    while step < total:
        video_u8, audio = pending.result()
        if step + 1 < total:
            pending = batches.prefetch(step + 1)
        video_u8 = video_u8.to(device, non_blocking=True) if video_u8 is not None else None
        audio = audio.to(device, non_blocking=True)
        logs_t, gnorm = tr.step(video_u8, audio, step, last_good, out_dir)
        step += 1
        n_steps += 1
        if step % cfg.train.log_every_steps == 0 or step == total:
            logs = {k: float(v) for k, v in logs_t.items()}
            collapse_count = collapse_count + 1 if collapsed(logs, cfg.train.collapse_kl_min) else 0
            rate = n_steps * cfg.train.batch_size / max(time.time() - t_steps, 1e-9)
            rec = {
                "step": step,
                "epoch": step / ipe,
                "lr": float(tr.lr[step - 1]),
                "wd": float(tr.wd[step - 1]),
                **tr.core.schedule_logs(step - 1),
                "grad_norm": gnorm,
                "clips_per_s": rate,
                **logs,
            }
            if dist.is_main():
                writer.write(rec)
            bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)
        bar.update(1)
        if collapse_count >= cfg.train.collapse_patience and cfg.train.stop_on_collapse:  # counted in log steps
            raise CollapseError(
                f"{cfg.name}: teacher outputs collapsed at step {step} (KL of teacher outputs to their batch "
                f"mean < {cfg.train.collapse_kl_min} for {collapse_count} steps: {_kl_logs(logs)}). The last good "
                f"checkpoint is {out_dir / checkpoint.LAST} (step {last_good}). See Supp. B.5: projector "
                f"norm, L_da and centering prevent this."
            )
        if step % cfg.train.ckpt_every_steps == 0 and step < total:  # all ranks (RNG gather)
            save(step)
            last_good = step
    bar.close()
    save(step)
    if dist.is_main():
        checkpoint.atomic_save(
            {
                "model": core.state_dict(),
                "config": to_dict(cfg),
                "config_hash": chash,
                "step": step,
                "avlib_version": __version__,
            },
            out_dir / FINAL,
        )
    replicas_agree = _replicas_agree(core) if distributed else None
    dist.barrier()
    summary = {
        "name": cfg.name,
        "steps": step,
        "epochs": cfg.train.epochs,
        "clips": int(len(indices)),
        "wall_s": time.time() - t0,
        "device": device,
        "world_size": dist.world_size(),
        "config_hash": chash,
        "replicas_agree": replicas_agree,
    }
    return summary


@torch.no_grad()
def _replicas_agree(core) -> bool:
    """DDP sanity check: every rank ends with the same student and teacher weights."""
    import torch.distributed as tdist

    s = torch.stack([p.detach().double().sum() for p in core.parameters()]).sum().reshape(1)
    lo, hi = s.clone(), s.clone()
    tdist.all_reduce(lo, op=tdist.ReduceOp.MIN)
    tdist.all_reduce(hi, op=tdist.ReduceOp.MAX)
    ok = bool(torch.isclose(lo, hi, rtol=1e-9, atol=1e-6))
    if not ok:
        raise RuntimeError(f"DDP replicas diverged: parameter checksums range {float(lo)}..{float(hi)}")
    return ok


def _kl_logs(logs: dict) -> dict:
    return {k: round(v, 6) for k, v in logs.items() if k.startswith("teacher_kl_")}


def reset_run(out_dir: str | Path) -> None:
    """Delete a run folder (used by ``avlib pretrain --fresh``)."""
    shutil.rmtree(out_dir, ignore_errors=True)
