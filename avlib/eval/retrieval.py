"""Cross-modal retrieval Recall@k (MAViL Table 9: audio -> video; the reverse direction alike).

Query ``i`` (e.g. a clip's audio embedding) searches the gallery (every held-out clip's video embedding) by cosine
similarity; its match is gallery item ``i`` (``labels=None``) or any gallery item with the query's label (a
"hit is the same digit" in the real-data page). ``R@k`` is the fraction of queries whose match ranks in the top
``k``. Ties are ranked pessimistically: a gallery item as similar as the match ranks before it, so a constant
embedding scores chance, never 100 %."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["recall_at_k", "match_ranks"]


def _unit(x: np.ndarray, name: str) -> torch.Tensor:
    x = np.asarray(x)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] array, got shape {x.shape}")
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    return t / t.norm(dim=1, keepdim=True).clamp_min(1e-12)


def match_ranks(
    query: np.ndarray, gallery: np.ndarray, labels: np.ndarray | None = None, chunk: int = 1024
) -> np.ndarray:
    """0-based rank of each query's best match (the number of gallery items ranked strictly before it, items as
    similar as the match counted before it). ``labels=None``: the match of query ``i`` is gallery item ``i``
    (``len(query) == len(gallery)``); else ``labels`` is ``(query_labels, gallery_labels)``."""
    q, g = _unit(query, "query"), _unit(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query and gallery widths differ: {q.shape[1]} vs {g.shape[1]}")
    if labels is None:
        if len(q) != len(g):
            raise ValueError(f"paired retrieval needs as many queries as gallery items, got {len(q)} and {len(g)}")
    else:
        ql, gl = (np.asarray(x) for x in labels)
        if ql.shape != (len(q),) or gl.shape != (len(g),):
            raise ValueError(f"labels must be ([{len(q)}], [{len(g)}]), got {ql.shape}, {gl.shape}")
        ql, gl = torch.from_numpy(ql), torch.from_numpy(gl)
    out = []
    for s in range(0, len(q), chunk):
        sim = q[s : s + chunk] @ g.T  # [c, M] float64
        if labels is None:
            rows = torch.arange(sim.shape[0])
            pos = sim[rows, rows + s]
            ahead = (sim >= pos[:, None]).sum(1) - 1  # items as similar as the match, itself excluded
        else:
            rel = ql[s : s + chunk, None] == gl[None, :]
            if not bool(rel.any(1).all()):
                raise ValueError("some query has no gallery item with its label")
            best = torch.where(rel, sim, torch.tensor(-torch.inf, dtype=sim.dtype)).max(1).values
            ahead = ((sim >= best[:, None]) & ~rel).sum(1)  # non-matching items at least as similar
        out.append(ahead.numpy())
    return np.concatenate(out)


def recall_at_k(query: np.ndarray, gallery: np.ndarray, ks=(1, 5, 10), labels=None) -> dict:
    """``{"R@1": %, "R@5": %, "R@10": %, "median_rank": 1-based, "n": queries}`` of :func:`match_ranks`."""
    ranks = match_ranks(query, gallery, labels)
    out = {f"R@{k}": 100.0 * float(np.mean(ranks < k)) for k in ks}
    out.update(median_rank=float(np.median(ranks + 1)), n=int(len(ranks)))
    return out
