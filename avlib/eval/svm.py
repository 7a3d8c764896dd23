"""Frozen-feature linear SVM with a C sweep (XKD Supp. A.5).

The XKD code picks C by the *test* accuracy (reference-notes 1.9); here C is chosen on a validation
split by default and ``select_on="test"`` reproduces the paper's protocol for comparison."""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

PAPER_CS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def _check(pair, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise ValueError(f"linear_svm: {name} must be a (features, labels) pair")
    x, y = np.asarray(pair[0], dtype=np.float64), np.asarray(pair[1])
    if x.ndim not in (2, 3):
        raise ValueError(f"linear_svm: {name} features must be [N, D] or [N, clips, D], got {x.shape}")
    if len(x) != len(y):
        raise ValueError(f"linear_svm: {name} has {len(x)} feature rows but {len(y)} labels")
    return x, y


def _flat_train(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training clips are independent samples: [N, C, D] -> [N*C, D] with repeated labels."""
    if x.ndim == 3:
        return x.reshape(-1, x.shape[-1]), np.repeat(y, x.shape[1])
    return x, y


def _predict(clf: LinearSVC, x: np.ndarray) -> np.ndarray:
    """Multi-clip test: average the decision function over clips, then argmax."""
    if x.ndim == 3:
        n, c, d = x.shape
        dec = clf.decision_function(x.reshape(-1, d))
        dec = dec.reshape(n, c, -1) if dec.ndim == 2 else dec.reshape(n, c, 1)
        dec = dec.mean(1)
    else:
        dec = clf.decision_function(x)
        dec = dec if dec.ndim == 2 else dec[:, None]
    if dec.shape[1] == 1:  # binary
        return clf.classes_[(dec[:, 0] > 0).astype(int)]
    return clf.classes_[dec.argmax(1)]


def linear_svm(
    train,
    val,
    test,
    Cs=PAPER_CS,
    select_on: Literal["val", "test"] = "val",
    *,
    max_iter: int = 2000,
    seed: int = 0,
    standardize: bool = False,
) -> dict:
    """Sweep ``Cs`` with ``sklearn.svm.LinearSVC``; return ``best_C``, ``val_acc``, ``test_acc`` (top-1,
    in %), and ``per_C`` accuracies. ``train``/``val``/``test`` are ``(features, labels)`` pairs; features
    may carry a clip axis ``[N, clips, D]`` (train clips become samples, val/test decisions are averaged)."""
    if select_on not in ("val", "test"):
        raise ValueError(f"linear_svm: select_on must be 'val' or 'test', got {select_on!r}")
    if not Cs:
        raise ValueError("linear_svm: empty C grid")
    xtr, ytr = _flat_train(*_check(train, "train"))
    xva, yva = _check(val, "val")
    xte, yte = _check(test, "test")
    if standardize:
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-8
        xtr, xva, xte = (xtr - mu) / sd, (xva - mu) / sd, (xte - mu) / sd
    per_c = []
    for c in Cs:
        clf = LinearSVC(C=float(c), max_iter=max_iter, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(xtr, ytr)
        per_c.append(
            {
                "C": float(c),
                "val_acc": 100.0 * float(np.mean(_predict(clf, xva) == yva)),
                "test_acc": 100.0 * float(np.mean(_predict(clf, xte) == yte)),
            }
        )
    key = "val_acc" if select_on == "val" else "test_acc"
    best = max(per_c, key=lambda r: (r[key], -r["C"]))
    return {
        "best_C": best["C"],
        "val_acc": best["val_acc"],
        "test_acc": best["test_acc"],
        "select_on": select_on,
        "per_C": per_c,
    }
