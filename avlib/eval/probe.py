"""FC probe on frozen features (XKD Supp. A.5: FSD50K and Kinetics-400 "linear" results).

AdamW, a fixed LR (FSD50K recipe) or a per-step cosine decay (Kinetics-400 FC-tuning recipe: base LR
0.01, batch 512, 20 epochs), weight decay, dropout on the features. Single-label
tasks use cross-entropy and report top-1; multi-label tasks use BCE and report mAP. ``selection`` says
which epoch's test score is reported: ``best_val`` (default) the epoch with the best validation metric,
``last`` the final epoch of the fixed schedule (XKD Supp. A.5 trains FSD50K for 50 epochs and names no
selection; see docs/fidelity-notes.md, "FC probe selection")."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from avlib.eval.metrics import mean_average_precision, top1

SELECTIONS = ("best_val", "last")


def _scores(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        if x.ndim == 3:
            n, c, d = x.shape
            s = model(torch.from_numpy(x.reshape(-1, d)).float()).reshape(n, c, -1).mean(1)
        else:
            s = model(torch.from_numpy(x).float())
    return s.numpy()


def fc_probe(
    train,
    val,
    test,
    *,
    multilabel: bool = False,
    epochs: int = 50,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    dropout: float = 0.3,
    batch_size: int = 256,
    schedule: str = "constant",
    selection: str = "best_val",
    seed: int = 0,
) -> dict:
    """Train a linear layer; returns ``val``/``test`` metric (top-1 or mAP, %), ``metric``, ``selection`` and
    ``best_epoch`` (the epoch whose scores are reported).

    ``schedule``: ``"constant"`` keeps ``lr``; ``"cosine"`` decays it per step from ``lr`` to 0.
    ``selection``: ``"best_val"`` (default, what the committed results used) reports the test score at the
    epoch with the best validation metric (the first such epoch); ``"last"`` reports the scores after the
    last epoch, a fixed schedule as XKD Supp. A.5 describes (the validation split is then only reported)."""
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"fc_probe: schedule must be 'constant' or 'cosine', got {schedule!r}")
    if selection not in SELECTIONS:
        raise ValueError(f"fc_probe: selection must be one of {list(SELECTIONS)}, got {selection!r}")
    xtr, ytr = np.asarray(train[0], np.float32), np.asarray(train[1])
    if xtr.ndim == 3:
        xtr, ytr = xtr.reshape(-1, xtr.shape[-1]), np.repeat(ytr, xtr.shape[1], axis=0)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n_out = ytr.shape[1] if multilabel else int(max(ytr.max(), np.max(val[1]), np.max(test[1])) + 1)
    model = nn.Sequential(nn.Dropout(dropout), nn.Linear(xtr.shape[1], n_out))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    total = epochs * -(-len(xtr) // batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, (lambda k: 0.5 * (1 + np.cos(np.pi * min(k, total) / total))) if schedule == "cosine" else (lambda k: 1.0)
    )
    loss_fn = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    xt = torch.from_numpy(xtr)
    yt = torch.from_numpy(ytr).float() if multilabel else torch.from_numpy(ytr).long()
    metric = (lambda s, y: mean_average_precision(s, y)) if multilabel else top1
    best = {"val": -1.0, "test": float("nan"), "best_epoch": 0}
    for ep in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), batch_size):
            b = perm[i : i + batch_size]
            opt.zero_grad()
            loss_fn(model(xt[b]), yt[b]).backward()
            opt.step()
            sched.step()
        v = metric(_scores(model, np.asarray(val[0], np.float32)), np.asarray(val[1]))
        if (v > best["val"]) if selection == "best_val" else (ep == epochs):
            best = {
                "val": v,
                "test": metric(_scores(model, np.asarray(test[0], np.float32)), np.asarray(test[1])),
                "best_epoch": ep,
            }
    if best["best_epoch"] == 0:
        raise ValueError("fc_probe: the validation metric was never finite (NaN features, or no positive labels)")
    best["metric"] = "mAP" if multilabel else "top1"
    best["selection"] = selection
    best["final_lr"] = float(opt.param_groups[0]["lr"])
    return best
