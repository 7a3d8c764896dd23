"""The first lines of every training loop (step runner, XDC rounds, fine-tuning): the device, the intra-op
threads and the seeds, decided one way."""

from __future__ import annotations

import os

import torch

from avlib import dist
from avlib.seed import seed_everything

__all__ = ["resolve_device", "resolve_num_threads", "setup_process"]


def resolve_num_threads(configured: int = 0) -> int:
    """Intra-op threads for a training process: ``train.num_threads`` when set (> 0), else the
    ``OMP_NUM_THREADS`` environment variable (set by torchrun, and by callers that run several processes
    side by side, e.g. the smoke DAG test), else every core."""
    if configured and int(configured) > 0:
        return int(configured)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"OMP_NUM_THREADS={env!r} is not an integer") from None
        if n > 0:
            return n
    return os.cpu_count() or 1


def resolve_device(name: str) -> str:
    if name == "auto":
        return f"cuda:{dist.local_rank()}" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"train.device={name!r} but CUDA is not available")
    return name


def setup_process(*, device: str, num_threads: int, seed: int, distributed: bool = False) -> tuple[str, bool]:
    """Resolve ``device`` (``auto``: this rank's GPU, else the CPU), join the process group when ``distributed``
    and launched by torchrun, set the intra-op threads (:func:`resolve_num_threads`) and seed every RNG with
    ``seed + rank`` (deterministic kernels). Returns the device and whether a process group is up."""
    device = resolve_device(device)
    joined = dist.init_from_env(device) if distributed else False
    torch.set_num_threads(resolve_num_threads(num_threads))
    seed_everything(seed + (dist.rank() if joined else 0), deterministic=True)
    return device, joined
