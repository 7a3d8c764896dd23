"""``python -m avlib benchmark``: pretraining throughput (clips/s) and peak memory per method.

Each configuration runs in its own process (so peak memory is its own) for ``warmup`` + ``steps``
optimisation steps of exactly the training code (:class:`avlib.train.runner.Trainer`) on random inputs
of the profile's cache shape; decoding is excluded by design, as in training. Peak memory is
``torch.cuda.max_memory_allocated`` on GPU and the process's peak resident set size on CPU."""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from pathlib import Path

import torch

from avlib.profiles import load_pretrain_config, load_profile


def _config(config: str, profile: str, tmp: Path):
    """The run file's config at ``profile`` under its method's schedule. MAViL: the fixed fbank statistics, and a
    stage-2 run gets a freshly initialised stage-1 run of its own shape as the teacher (the same cost per step)."""
    import dataclasses

    import yaml

    from avlib.checkpoint import atomic_save
    from avlib.config import to_dict
    from avlib.methods import build_method

    path = Path("params/pretrain") / f"{config}.yaml"
    method = (yaml.safe_load(path.read_text()) or {}).get("method", "xkd")
    sets = ["mavil.fbank.stats=''"] if method == "mavil" else []
    schedule = "main" if method == "xkd" else method
    cfg = load_pretrain_config(path, profile=profile, schedule=schedule, overrides=sets)
    if method == "mavil" and cfg.mavil.teacher:
        stage1 = dataclasses.replace(
            cfg, mavil=dataclasses.replace(cfg.mavil, recon_raw=True, target="raw", teacher="")
        )
        teacher = build_method(stage1, None)
        atomic_save({"config": to_dict(stage1), "model": teacher.state_dict()}, tmp / "teacher" / "final.pt")
        cfg = load_pretrain_config(
            path, profile=profile, schedule=schedule, overrides=[*sets, f"mavil.teacher={tmp / 'teacher'}"]
        )
    return cfg


def _one(args) -> dict:
    import tempfile

    config, profile, steps, warmup = args
    from avlib.train.process import resolve_device
    from avlib.train.runner import Trainer

    tmp = Path(tempfile.mkdtemp(prefix="avlib-bench-"))
    cfg = _config(config, profile, tmp)
    device = resolve_device(cfg.train.device)
    torch.manual_seed(0)
    c = load_profile(profile)["cache"]
    B = cfg.train.batch_size
    T = int(round(c["seconds"] * c["fps"]))
    video = torch.randint(0, 256, (B, T, c["size"], c["size"], 3), dtype=torch.uint8, device=device)
    audio = 0.1 * torch.randn(B, int(round(c["seconds"] * c["sample_rate"])), device=device)
    total = steps + warmup
    tr = Trainer(cfg, device, total=total, iters_per_epoch=total)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for s in range(warmup):
        tr.step(video, audio, s, 0, Path("."))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(warmup, total):
        tr.step(video, audio, s, 0, Path("."))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dt = time.perf_counter() - t0
    n_params = sum(p.numel() for p in tr.core.parameters() if p.requires_grad)
    return {
        "config": config,
        "profile": profile,
        "device": device,
        "batch": B,
        "steps": steps,
        "s_per_step": dt / steps,
        "clips_per_s": B * steps / dt,
        "peak_mem_mb": peak,
        "trainable_params_m": n_params / 1e6,
        "threads": torch.get_num_threads(),
    }


def run_benchmark(configs: list[str], profile: str | None = None, steps: int = 5, warmup: int = 2) -> list[dict]:
    profile = profile or load_profile()["name"]
    ctx = mp.get_context("spawn")
    rows = []
    for c in configs:
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(_one, ((c, profile, steps, warmup),)))
    base = next((r for r in rows if r["config"] == "recon_v"), rows[0])
    print(
        f"\npretraining throughput, profile {profile!r} ({rows[0]['device']}, {rows[0]['threads']} threads, "
        f"batch {rows[0]['batch']}, {steps} timed steps after {warmup} warm-up)"
    )
    print(f"{'config':<14} {'clips/s':>9} {'s/step':>8} {'rel. time':>9} {'peak MB':>9} {'params M':>9}")
    for r in rows:
        print(
            f"{r['config']:<14} {r['clips_per_s']:9.1f} {r['s_per_step']:8.3f} "
            f"{r['s_per_step'] / base['s_per_step']:8.2f}x {r['peak_mem_mb']:9.0f} {r['trainable_params_m']:9.2f}"
        )
    return rows
