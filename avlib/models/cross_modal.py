"""Cross-modal attention and feature refinement (XKD Eq. 3-6, Supp. Eq. S3, Tab. S14).

Pipeline for one teacher pair (all under ``no_grad`` in XKD)::

    a_v = cls_attention(attn_v)                  # Eq. 3   [B, H, Nv]
    a_a = cls_attention(attn_a)                  #         [B, H, Na]
    x_v = cross_modal_attention(a_v, a_a)        # Eq. 4   [B, H, Nv]
    f_v = refine(feat_v, x_v)                    # Eq. 5-6 [B, Nv, D]

Derived (reference-notes §1.3): with ``mode='mean'`` Eq. 4 equals
``A_self[h, i] * mean_j A_other[h, j] / mean_i A_self[h, i]``, i.e. a per-head rescaling of the
teacher's own CLS attention; ``impl='closed_form'`` computes exactly that without the N x M tensor.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["cls_attention", "cross_modal_attention", "refine"]


def cls_attention(attn: Tensor, use_cls: bool = True) -> Tensor:
    """Per-head attention over the patch tokens from a last-block attention map (Eq. 3).

    Args:
        attn: ``[B, H, 1 + N, 1 + N]`` post-softmax attention, token 0 = CLS.
        use_cls: True: the CLS query row without the CLS key column, ``attn[:, :, 0, 1:]``.
            False (Supp. Tab. S14 "w/o CLS"): the mean over the N patch-query rows,
            ``attn[:, :, 1:, 1:].mean(2)``. (The supplement describes the query *embeddings*
            being averaged before the softmax; that cannot be computed from ``attn`` alone, so this
            follows the released code's fallback of averaging attention rows.)

    Returns:
        ``[B, H, N]``.
    """
    if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2] or attn.shape[-1] < 2:
        raise ValueError(f"attn must be [B, H, 1+N, 1+N] with N >= 1, got {tuple(attn.shape)}")
    if use_cls:
        return attn[:, :, 0, 1:]
    return attn[:, :, 1:, 1:].mean(dim=2)


def cross_modal_attention(
    a_self: Tensor,
    a_other: Tensor,
    mode: Literal["mean", "softmax"] = "mean",
    impl: Literal["closed_form", "outer"] = "closed_form",
) -> Tensor:
    """Cross-modal attention map of one modality, Eq. 4 (``mode='mean'``) or Eq. S3 (``'softmax'``).

    ``outer = A_self[h, :, None] * A_other[h, None, :]`` (``[B, H, N, M]``),
    ``pooled = MeanPool_M(outer)`` (``[B, H, N]``), then

    * ``mode='mean'``: ``pooled / scale`` with ``scale[h] = mean_i A_self[h, i]`` (Eq. 4);
    * ``mode='softmax'``: ``softmax_i(pooled[h, i])`` over the N tokens (Eq. S3).

    Args:
        a_self: ``[B, H, N]`` attention of the modality being re-weighted (e.g. video).
        a_other: ``[B, H, M]`` attention of the other modality (same B and H).
        impl: ``'outer'`` builds the literal ``[B, H, N, M]`` tensor; ``'closed_form'`` uses
            ``pooled = A_self * mean_j A_other`` (identical result, O(N + M) memory).

    Returns:
        ``[B, H, N]``.
    """
    if a_self.ndim != 3 or a_other.ndim != 3:
        raise ValueError(
            f"a_self and a_other must be [B, H, N] / [B, H, M], got {tuple(a_self.shape)} and {tuple(a_other.shape)}"
        )
    if a_self.shape[:2] != a_other.shape[:2]:
        raise ValueError(
            "a_self and a_other must share batch and head dims (both teachers need the same number "
            f"of heads), got {tuple(a_self.shape)} and {tuple(a_other.shape)}"
        )
    if mode not in ("mean", "softmax"):
        raise ValueError(f"mode must be 'mean' or 'softmax', got {mode!r}")
    if impl == "outer":
        pooled = (a_self.unsqueeze(-1) * a_other.unsqueeze(-2)).mean(dim=-1)  # [B,H,N,M] -> [B,H,N]
    elif impl == "closed_form":
        pooled = a_self * a_other.mean(dim=-1, keepdim=True)
    else:
        raise ValueError(f"impl must be 'closed_form' or 'outer', got {impl!r}")
    if mode == "mean":
        scale = a_self.mean(dim=-1, keepdim=True).clamp_min(torch.finfo(a_self.dtype).tiny)
        return pooled / scale
    return torch.softmax(pooled, dim=-1)


def refine(
    feat: Tensor,
    attn_x: Tensor,
    omega: Literal["code", "paper"] = "code",
    eps: float = 0.0,
) -> Tensor:
    """Re-weight teacher tokens by the head-averaged cross-modal attention, Eq. 5-6.

    ``a = (1/H) sum_h A_h^x`` (``[B, N, 1]``) and ``refine = Omega * a * feat``, where

    * ``omega='code'`` (released code, default): ``Omega = sqrt(||mean_i feat_i||^2 /
      ||mean_i (a_i feat_i)||^2)`` per sample; the refined token-mean keeps the L2 norm of the
      original token-mean.
    * ``omega='paper'`` (Eq. 6 as written): ``Omega = ||feat||^2 / ||a * feat||^2`` with the
      squared norms taken over all tokens and channels of a sample, no square root.

    Args:
        feat: ``[B, N, D]`` teacher patch tokens (CLS excluded).
        attn_x: ``[B, H, N]`` cross-modal attention from :func:`cross_modal_attention`.
        eps: added to the denominator energy (0 reproduces the code).

    Returns:
        ``[B, N, D]`` in ``feat``'s dtype (Omega is computed in at least float32).
    """
    if feat.ndim != 3:
        raise ValueError(f"feat must be [B, N, D], got {tuple(feat.shape)}")
    if attn_x.ndim != 3 or attn_x.shape[0] != feat.shape[0] or attn_x.shape[2] != feat.shape[1]:
        raise ValueError(
            f"attn_x must be [B, H, N] matching feat [B, N, D]={tuple(feat.shape)}, got {tuple(attn_x.shape)}"
        )
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    a = attn_x.mean(dim=1).unsqueeze(-1).to(feat.dtype)  # [B, N, 1]
    weighted = feat * a
    acc = torch.promote_types(feat.dtype, torch.float32)  # >= fp32 for the energies
    f32, w32 = feat.to(acc), weighted.to(acc)
    if omega == "code":
        e_org = f32.mean(dim=1).pow(2).sum(dim=-1)  # [B]
        e_aft = w32.mean(dim=1).pow(2).sum(dim=-1)
        om = (e_org / (e_aft + eps)).sqrt()
    elif omega == "paper":
        e_org = f32.pow(2).sum(dim=(1, 2))
        e_aft = w32.pow(2).sum(dim=(1, 2))
        om = e_org / (e_aft + eps)
    else:
        raise ValueError(f"omega must be 'code' or 'paper', got {omega!r}")
    return weighted * om.to(feat.dtype).view(-1, 1, 1)
