"""Top-1 accuracy and mean average precision (multi-label, FSD50K-style)."""

from __future__ import annotations

import numpy as np


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * float(np.mean(np.asarray(scores).argmax(1) == np.asarray(labels)))


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """AP of one class: mean precision at the rank of each positive (ties broken by order)."""
    order = np.argsort(-scores, kind="stable")
    t = targets[order].astype(np.float64)
    if t.sum() == 0:
        return float("nan")
    hits = np.cumsum(t)
    prec = hits / np.arange(1, len(t) + 1)
    return float((prec * t).sum() / t.sum())


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """mAP in % over classes that have at least one positive."""
    scores, targets = np.asarray(scores), np.asarray(targets)
    aps = [average_precision(scores[:, k], targets[:, k]) for k in range(targets.shape[1])]
    aps = [a for a in aps if np.isfinite(a)]
    return 100.0 * float(np.mean(aps)) if aps else float("nan")
