"""Per-iteration schedules as NumPy arrays (DINO style): LR, weight decay, EMA momentum, temperatures.

XKD (reference-notes §1.5, §1.7): LR warm-up 0 -> 1e-4 over 30 epochs then cosine to 0; WD constant
0.3; EMA cosine 0.997 -> 1.0 without warm-up; teacher temperature ``linspace(warmup_T, T, 30 epochs)``
then constant, stepped per *epoch* (use ``'per': 'epoch'`` in :func:`build_schedule`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

__all__ = ["cosine_schedule", "linear_then_constant", "constant", "build_schedule"]


def _count(name: str, v) -> int:
    if isinstance(v, bool) or int(v) != v or v < 0:
        raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    return int(v)


def cosine_schedule(
    base: float, final: float, total_iters: int, warmup_iters: int = 0, warmup_start: float = 0.0
) -> np.ndarray:
    """Linear warm-up then half-cosine: ``float64 [total_iters]``.

    ``v[i] = linspace(warmup_start, base, W)[i]`` for ``i < W`` and, with ``T = total_iters - W``,
    ``v[W + j] = final + (base - final) * (1 + cos(pi * j / T)) / 2`` for ``0 <= j < T`` (so the last
    value approaches but does not reach ``final``, as in DINO's ``cosine_scheduler``).
    """
    total_iters = _count("total_iters", total_iters)
    warmup_iters = _count("warmup_iters", warmup_iters)
    if warmup_iters > total_iters:
        raise ValueError(f"warmup_iters ({warmup_iters}) must be <= total_iters ({total_iters})")
    warm = np.linspace(float(warmup_start), float(base), warmup_iters)
    n = total_iters - warmup_iters
    j = np.arange(n, dtype=np.float64)
    cos = float(final) + 0.5 * (float(base) - float(final)) * (1.0 + np.cos(np.pi * j / max(n, 1)))
    return np.concatenate([warm, cos]).astype(np.float64)


def linear_then_constant(start: float, end: float, ramp_iters: int, total_iters: int) -> np.ndarray:
    """``linspace(start, end, ramp_iters)`` then ``end`` until ``total_iters``: ``float64 [total_iters]``.

    DINO's teacher-temperature warm-up (``ramp_iters`` > ``total_iters`` is truncated).
    """
    ramp_iters = _count("ramp_iters", ramp_iters)
    total_iters = _count("total_iters", total_iters)
    ramp = np.linspace(float(start), float(end), ramp_iters)
    rest = np.full(max(total_iters - ramp_iters, 0), float(end))
    return np.concatenate([ramp, rest])[:total_iters].astype(np.float64)


def constant(v: float, total_iters: int) -> np.ndarray:
    """``float64 [total_iters]`` filled with ``v``."""
    return np.full(_count("total_iters", total_iters), float(v), dtype=np.float64)


_KEYS: dict[str, tuple[set[str], set[str]]] = {  # kind -> (required, optional)
    "cosine": ({"base", "final"}, {"warmup_epochs", "warmup_start"}),
    "linear_warmup": ({"start", "end", "epochs"}, set()),
    "constant": ({"value"}, set()),
}


def _epochs_to_iters(name: str, epochs, iters_per_epoch: int) -> int:
    if float(epochs) < 0:
        raise ValueError(f"schedule key {name!r} must be >= 0, got {epochs!r}")
    return int(round(float(epochs) * iters_per_epoch))


def build_schedule(spec: Mapping[str, Any], total_iters: int, iters_per_epoch: int) -> np.ndarray:
    """Build a ``float64 [total_iters]`` schedule from a params dict.

    Specs (epochs may be fractional; they are converted with ``round(epochs * iters_per_epoch)``):

    * ``{'kind': 'cosine', 'base', 'final', 'warmup_epochs': 0, 'warmup_start': 0.0}``
    * ``{'kind': 'linear_warmup', 'start', 'end', 'epochs'}`` (linear ramp, then constant ``end``)
    * ``{'kind': 'constant', 'value'}``

    Every kind also accepts ``'per': 'iter' | 'epoch'`` (default ``'iter'``). ``'epoch'`` evaluates the
    schedule once per epoch (epochs counted in whole epochs) and holds it for the epoch's iterations,
    as the released XKD code does for the teacher temperature.

    Raises:
        ValueError: unknown ``kind``, missing or unknown keys (named), bad counts.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"schedule spec must be a mapping, got {type(spec).__name__}")
    total_iters = _count("total_iters", total_iters)
    iters_per_epoch = _count("iters_per_epoch", iters_per_epoch)
    if iters_per_epoch < 1:
        raise ValueError("iters_per_epoch must be >= 1")
    kind = spec.get("kind")
    if kind not in _KEYS:
        raise ValueError(f"schedule 'kind' must be one of {sorted(_KEYS)}, got {kind!r}")
    required, optional = _KEYS[kind]
    keys = set(spec) - {"kind", "per"}
    missing = sorted(required - keys)
    unknown = sorted(keys - required - optional)
    if missing:
        raise ValueError(f"schedule kind {kind!r} is missing key(s) {missing}")
    if unknown:
        raise ValueError(f"schedule kind {kind!r} got unknown key(s) {unknown}; allowed: {sorted(required | optional)}")
    per = spec.get("per", "iter")
    if per not in ("iter", "epoch"):
        raise ValueError(f"schedule key 'per' must be 'iter' or 'epoch', got {per!r}")

    unit = 1 if per == "epoch" else iters_per_epoch
    n = math.ceil(total_iters / iters_per_epoch) if per == "epoch" else total_iters
    if kind == "cosine":
        w = _epochs_to_iters("warmup_epochs", spec.get("warmup_epochs", 0), unit)
        if w > n:
            raise ValueError(f"schedule key 'warmup_epochs' ({spec.get('warmup_epochs')}) exceeds the run length")
        out = cosine_schedule(spec["base"], spec["final"], n, w, spec.get("warmup_start", 0.0))
    elif kind == "linear_warmup":
        out = linear_then_constant(spec["start"], spec["end"], _epochs_to_iters("epochs", spec["epochs"], unit), n)
    else:
        out = constant(spec["value"], n)
    if per == "epoch":
        out = np.repeat(out, iters_per_epoch)[:total_iters]
    return out
