"""Mutually exclusive visible sets for MAViL's intra-modal contrast (Sec. 3.2).

"For each modality, we sample a second random view containing 20 % of tokens that are mutually exclusive
from the first view": one random permutation per sample, view ``i`` keeps its slice ``i`` of ``n_keep``
indices, so no index is visible in two views and every view keeps exactly ``n_keep`` tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .masking import num_kept

__all__ = ["exclusive_keep_ids"]


def exclusive_keep_ids(
    batch: int,
    n_tokens: int,
    mask_ratio: float,
    n_views: int = 2,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> list[Tensor]:
    """``n_views`` tensors ``[batch, K]`` of kept token indices (``K = num_kept(n_tokens, mask_ratio)``),
    disjoint within each row; drawn from one uniform permutation per row on the generator's device."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    if n_views < 1 or batch < 1 or n_tokens < 1:
        raise ValueError(f"need batch, n_tokens, n_views >= 1; got {batch}, {n_tokens}, {n_views}")
    k = num_kept(n_tokens, mask_ratio)
    if n_views * k > n_tokens:
        raise ValueError(
            f"{n_views} mutually exclusive views of {k} visible tokens need {n_views * k} of {n_tokens} tokens: "
            f"mask_ratio={mask_ratio} is too low (it must leave at most 1/{n_views} of the tokens visible)"
        )
    gen_device = generator.device if generator is not None else torch.device(device)
    noise = torch.rand(batch, n_tokens, generator=generator, device=gen_device)
    perm = torch.argsort(noise, dim=1).to(device)
    return [perm[:, i * k : (i + 1) * k] for i in range(n_views)]
