"""Precision rule of every deliberate cast in avlib: compute *at least* in float32.

Losses, attention maps and energies are computed in float32 when the model runs in bf16/fp16 (autocast
or a half-precision model), and in float64 when the model runs in float64 (``model.double()``: exact
comparisons, gradient checks, debugging a loss). Casting *to* float32 instead would make float64 runs
fail on mixed dtypes or silently lose precision.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["accumulation_dtype", "at_least_fp32", "to_accumulation"]


def accumulation_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """The widest of ``dtypes`` and float32 (``float64`` stays ``float64``; bf16/fp16 become float32)."""
    out = torch.float32
    for d in dtypes:
        out = torch.promote_types(out, d)
    return out


def at_least_fp32(x: Tensor) -> Tensor:
    """``x`` unchanged when it is float32 or float64, else ``x.float()``."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def to_accumulation(*tensors: Tensor) -> tuple[Tensor, ...]:
    """``tensors`` cast to their common :func:`accumulation_dtype` (e.g. a prediction and its target)."""
    acc = accumulation_dtype(*(t.dtype for t in tensors))
    return tuple(t.to(acc) for t in tensors)
