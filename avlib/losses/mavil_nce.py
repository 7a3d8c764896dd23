"""MAViL's contrastive terms (Eq. 2-3) with negatives gathered across DDP ranks.

``L_c(x, y) = -1/B sum_i log( exp(S(x_i, y_i)/tau) / sum_j exp(S(x_i, y_j)/tau) )`` (Eq. 2, cosine ``S``),
one-directional ``x -> y`` as written (``symmetric`` adds ``y -> x`` and averages: the paper is silent).

* inter-modal (Eq. 3): ``L_c(a_emb, v_emb)`` on the mean-pooled **pre-fusion** embeddings, tau 0.1;
* intra-modal (Eq. 3): ``1/2 [L_c(a_emb, a''_emb) + L_c(v_emb, v''_emb)]`` between two masked views with
  mutually exclusive visible tokens, tau 1.0.

Under DDP (``torch.distributed`` initialised, world size ``W``) every rank contrasts its ``B`` anchors with
the candidates of all ranks (``W * B``); :func:`all_gather_with_grad` returns the gathered candidates with
a backward that sums every rank's gradient into the owner's shard. With the usual DDP gradient average,
the parameter gradients then equal those of one process running the concatenated batch (tested with two
gloo processes in ``tests/losses/test_mavil_nce.py``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from avlib.numerics import at_least_fp32

__all__ = ["all_gather_with_grad", "contrastive", "inter_modal_nce", "intra_modal_nce"]


class _AllGather(torch.autograd.Function):
    """``cat`` of every rank's ``[B, d]`` tensor; backward: all-reduce (sum) the gradient, keep this rank's rows."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        world, rank = dist.get_world_size(), dist.get_rank()
        sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world)]
        dist.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
        if len({int(s) for s in sizes}) != 1:
            raise ValueError(f"all_gather_with_grad needs the same batch on every rank, got {[int(s) for s in sizes]}")
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.rows = rank, x.shape[0]
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # gloo has no reduce-scatter: sum everything, keep our slice
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def all_gather_with_grad(x: Tensor) -> tuple[Tensor, int]:
    """``(x of every rank concatenated [W*B, d], offset of this rank's rows)``; ``(x, 0)`` in one process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    return _AllGather.apply(x), dist.get_rank() * x.shape[0]


def _ce(x: Tensor, y_all: Tensor, offset: int, tau: float) -> Tensor:
    logits = F.normalize(x, dim=-1) @ F.normalize(y_all, dim=-1).T / tau
    return F.cross_entropy(logits, torch.arange(x.shape[0], device=x.device) + offset)


def contrastive(x: Tensor, y: Tensor, tau: float, *, symmetric: bool = False) -> Tensor:
    """Eq. 2: ``L_c(x, y)`` with ``y``'s rows (of every rank) as candidates; at least float32.

    Args:
        x, y: ``[B, d]`` instance embeddings; the positive of ``x[i]`` is ``y[i]``.
        tau: temperature > 0.
        symmetric: average with ``L_c(y, x)``.
    """
    if x.ndim != 2 or x.shape != y.shape or x.shape[0] < 1:
        raise ValueError(f"contrastive: x and y must both be [B, d], got {tuple(x.shape)} and {tuple(y.shape)}")
    if not float(tau) > 0:
        raise ValueError(f"contrastive: tau must be > 0, got {tau}")
    with torch.autocast(device_type=x.device.type, enabled=False):
        x, y = at_least_fp32(x), at_least_fp32(y)
        y_all, offset = all_gather_with_grad(y)
        loss = _ce(x, y_all, offset, float(tau))
        if symmetric:
            x_all, _ = all_gather_with_grad(x)
            loss = 0.5 * (loss + _ce(y, x_all, offset, float(tau)))
    return loss


def inter_modal_nce(a_emb: Tensor, v_emb: Tensor, tau: float = 0.1, symmetric: bool = False) -> Tensor:
    """``L_c^inter = L_c(a_emb, v_emb)`` (Eq. 3): audio anchors, video candidates."""
    return contrastive(a_emb, v_emb, tau, symmetric=symmetric)


def intra_modal_nce(
    a_emb: Tensor, a2_emb: Tensor, v_emb: Tensor, v2_emb: Tensor, tau: float = 1.0, symmetric: bool = False
) -> Tensor:
    """``L_c^intra = 1/2 [L_c(a_emb, a''_emb) + L_c(v_emb, v''_emb)]`` (Eq. 3)."""
    return 0.5 * (
        contrastive(a_emb, a2_emb, tau, symmetric=symmetric) + contrastive(v_emb, v2_emb, tau, symmetric=symmetric)
    )
