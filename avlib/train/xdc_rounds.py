"""XDC / DeepCluster training rounds: ``pretrain_xdc(cfg, out_dir)``.

Each round (XDC Section 3.3; DeepCluster's recipe where XDC is silent, reference-notes section 4.2):

1. extract the features of every pretraining clip **offline** (centre clip, no augmentation; the first
   round clusters random-initialisation features);
2. k-means each clustering the variant needs (:attr:`avlib.methods.xdc.XDC.sources`; ``joint`` =
   ``cat(l2norm(f_v), l2norm(f_a))``) with :func:`avlib.cluster.kmeans` (faiss; GPU when present);
3. reset the classification heads (and their optimiser: a fresh momentum-less SGD, as DeepCluster, or a
   fresh AdamW with ``xdc.optimizer: adamw``; the encoders' optimiser persists across rounds);
4. train on the pseudo-labels, sampling clips **uniformly over clusters** (empty clusters skipped; for a
   variant with two clusterings, half of each epoch's draws balance each), until the loss on held-out
   clips' pseudo-labels has increased in ``patience`` consecutive epochs (Supp. Table 9), or
   ``max_epochs``; the last weights are kept.

Logged per epoch (``metrics.jsonl``): train and validation pseudo-label loss, and per round the cluster
sizes and, when the cache has labels (avsynth), the NMI and purity of each clustering w.r.t. them. The last
round's clusterings are kept in ``clusters.npz`` (clip ids, assignments per clustering, labels) for the
cluster tables (XDC Tables 5/6).

Baselines through the same loop: ``variant: supervised`` replaces the clustering by the pretraining set's
labels (*Superv*); ``rounds: 0`` saves the random initialisation (*Scratch*).
Checkpoints (atomic) after every epoch with the round's assignments and RNG states; an interrupted run
resumes at the next epoch, under the shared rule of :mod:`avlib.train.resume` (same config hash and same
fingerprint of the code XDC imports; otherwise the old run moves to ``stale-<key>/`` and training restarts). ``final.pt`` has the same layout as the XKD runner's, so evaluation and
fine-tuning load XDC runs unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from avlib import checkpoint
from avlib.cluster import kmeans
from avlib.config import to_dict
from avlib.data.cache import load_cache
from avlib.data.views import EvalViews
from avlib.log import JsonlWriter, progress
from avlib.methods import build_method, logmel_from_config, views_config
from avlib.paths import atomic_write_bytes, atomic_write_text, resolve
from avlib.seed import make_generator
from avlib.train.process import setup_process
from avlib.train.resume import open_checkpoint, run_key, write_config
from avlib.train.runner import pretrain_indices

log = logging.getLogger(__name__)

__all__ = ["pretrain_xdc", "uniform_cluster_sample", "cluster_quality", "load_clusters"]


def uniform_cluster_sample(assign: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` positions drawn uniformly over the non-empty clusters of ``assign`` (then uniformly within a
    cluster, with replacement only when a cluster is smaller than its share); shuffled."""
    clusters = [np.flatnonzero(assign == c) for c in np.unique(assign)]
    clusters = [c for c in clusters if len(c)]
    per = int(np.ceil(n / len(clusters)))
    out = np.concatenate([rng.choice(c, per, replace=len(c) < per) for c in clusters])
    return rng.permutation(out)[:n]


def cluster_quality(assign: np.ndarray, labels: np.ndarray) -> dict:
    """NMI (scikit-learn) and purity (fraction of clips in their cluster's majority class)."""
    from sklearn.metrics import normalized_mutual_info_score

    purity = sum(np.bincount(labels[assign == c]).max() for c in np.unique(assign)) / len(labels)
    return {"nmi": float(normalized_mutual_info_score(labels, assign)), "purity": float(purity)}


@torch.no_grad()
def _features(model, data, ids: np.ndarray, ev: EvalViews, device: str, batch: int = 64) -> dict:
    model.eval()
    out = {"video": [], "audio": []}
    for i in range(0, len(ids), batch):
        b = ids[i : i + batch]
        v, a = _clips(data, b, ev, device, train_aug=False, generator=None)
        out["video"].append(model.features("video", v).float().cpu().numpy())
        out["audio"].append(model.features("audio", a).float().cpu().numpy())
    return {m: np.concatenate(x) for m, x in out.items()}


def _clips(data, ids: np.ndarray, ev: EvalViews, device: str, *, train_aug: bool, generator):
    order = np.argsort(ids)
    sorted_ids = ids[order]
    video = torch.from_numpy(np.ascontiguousarray(data.video[sorted_ids])).to(device)
    audio = torch.from_numpy(np.ascontiguousarray(data.audio[sorted_ids]).astype(np.float32)).to(device)
    v, a = ev.clips(video, audio, n_clips=1, train_aug=train_aug, generator=generator)
    back = torch.as_tensor(np.argsort(order), device=device)
    return v[back], a[back]


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _cluster(feats: dict, cfg, sources, seed: int, labels: np.ndarray | None = None) -> dict:
    x = cfg.xdc
    out = {}
    for src in sources:
        if src == "labels":  # the Superv baseline: the "clustering" is the annotation
            out[src] = np.asarray(labels, dtype=np.int64)
            continue
        f = np.concatenate([_l2(feats["video"]), _l2(feats["audio"])], 1) if src == "joint" else feats[src]
        _, assign = kmeans(
            f, x.k, niter=x.kmeans_iters, seed=seed, pca_dim=x.pca_dim or None, l2norm=x.l2norm, init=x.kmeans_init
        )
        out[src] = assign
    return out


def _val_loss(model, data, ids, targets, ev, device, batch: int = 64) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(ids), batch):
            b = np.arange(i, min(i + batch, len(ids)))
            v, a = _clips(data, ids[b], ev, device, train_aug=False, generator=None)
            t = {s: torch.as_tensor(lab[b], device=device) for s, lab in targets.items()}
            total += float(model(v, a, t)["loss"]) * len(b)
            n += len(b)
    return total / max(n, 1)


def _optimizer(params, x, *, head: bool) -> torch.optim.Optimizer:
    """The encoders' optimiser (kept across rounds) or a round's fresh head optimiser: SGD as XDC Supp.
    Table 10 (heads momentum-less, as DeepCluster), or AdamW for ViT encoders (``xdc.optimizer``)."""
    if x.optimizer == "sgd":
        return torch.optim.SGD(params, lr=x.lr, momentum=0.0 if head else x.momentum, weight_decay=x.weight_decay)
    if x.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=x.lr, weight_decay=x.weight_decay)
    raise ValueError(f"xdc.optimizer must be 'sgd' or 'adamw', got {x.optimizer!r}")


def _save_clusters(path: Path, ids: np.ndarray, targets: dict, labels: np.ndarray | None) -> None:
    import io

    buf = io.BytesIO()
    arrays = {"ids": np.asarray(ids, np.int64), **{f"assign_{s}": a for s, a in targets.items()}}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, np.int64)
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_clusters(run_dir) -> dict:
    """The last round's clusterings of an XDC run: ``ids`` (cache indices), ``assign`` (per clustering:
    ``video``, ``audio``, ``joint`` or ``labels``) and ``labels`` (None when the cache has none)."""
    path = Path(run_dir) / "clusters.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no clustering saved (a run with rounds: 0, or not finished)")
    with np.load(path) as z:
        return {
            "ids": z["ids"],
            "labels": z["labels"] if "labels" in z.files else None,
            "assign": {f[len("assign_") :]: z[f] for f in z.files if f.startswith("assign_")},
        }


def pretrain_xdc(cfg, out_dir, *, resume: bool = True, show_progress: bool = True) -> dict:
    """Train ``cfg`` (an :class:`avlib.methods.xdc.XDCPretrainConfig`) into ``out_dir``."""
    t0 = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x = cfg.xdc
    seed = cfg.train.seed
    device, _ = setup_process(device=cfg.train.device, num_threads=cfg.train.num_threads, seed=seed)

    data = load_cache(resolve(cfg.data.cache))
    if data.video is None:
        raise ValueError(f"{cfg.name}: XDC needs audio-visual clips; cache {cfg.data.cache} is audio-only")
    ids = pretrain_indices(data, cfg)  # the same clips (and fraction subset) as the step runner's
    labels = np.asarray(data.labels)[ids] if data.labels is not None and np.ndim(data.labels) == 1 else None
    if x.variant == "supervised":
        if labels is None:
            raise ValueError(
                f"{cfg.name}: the supervised baseline needs single-label annotations; cache {cfg.data.cache} has none"
            )
        n_cls = int(labels.max()) + 1
        if x.k != n_cls:  # one output per class: k is the number of classes, whatever the profile says
            log.info("%s: supervised baseline, k = %d classes (was %d)", cfg.name, n_cls, x.k)
            cfg = dataclasses.replace(cfg, xdc=dataclasses.replace(x, k=n_cls))
            x = cfg.xdc
    if x.variant != "supervised" and len(ids) <= x.k:
        raise ValueError(f"{cfg.name}: {len(ids)} clips are too few for k={x.k} clusters (need more than k)")
    perm = np.random.default_rng(seed).permutation(len(ids))
    n_val = max(cfg.train.batch_size, int(round(x.val_fraction * len(ids))))
    val_pos, train_pos = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    logmel = logmel_from_config(cfg).to(device)
    ev = EvalViews(views_config(cfg), logmel)
    model = build_method(cfg, logmel).to(device)
    body = [p for n, p in model.named_parameters() if not n.startswith("heads.")]
    opt_body = _optimizer(body, x, head=False)
    gen = make_generator(seed * 1000 + 7, device=device)
    rng = np.random.default_rng([seed, 11])

    chash = run_key(cfg, __name__)  # config hash and the fingerprint of the code XDC imports
    state = {
        "round": 0,
        "epoch": 0,
        "best": float("inf"),
        "prev": float("inf"),
        "bad": 0,
        "assign": None,
        "history": [],
        "step": 0,
    }
    opt_head = None
    # RNG states and assignments must stay on the CPU
    st = open_checkpoint(out_dir, chash, resume=resume, map_location="cpu", name=cfg.name)
    writer = JsonlWriter(out_dir / "metrics.jsonl")
    if st is not None:
        if "xdc_state" not in st:
            raise ValueError(f"{out_dir / checkpoint.LAST}: not an XDC checkpoint (no xdc_state); use --fresh")
        model.load_state_dict(st["model"])
        opt_body.load_state_dict(st["opt_body"])
        state = st["xdc_state"]
        if st.get("opt_head") is not None:
            opt_head = _optimizer(model.heads.parameters(), x, head=True)
            opt_head.load_state_dict(st["opt_head"])
        rng.bit_generator.state = st["np_rng"]
        gen.set_state(st["torch_gen"])
        torch.set_rng_state(st["torch_rng"])
        writer.truncate_after(state["step"])  # drop records written after that checkpoint
        log.info("%s: resumed at round %d epoch %d", cfg.name, state["round"], state["epoch"])
    else:  # afresh: records of an attempt that died before its first checkpoint go
        (out_dir / "metrics.jsonl").unlink(missing_ok=True)
    write_config(out_dir, cfg)

    def save(path_name: str):
        checkpoint.atomic_save(
            {
                "model": model.state_dict(),
                "opt_body": opt_body.state_dict(),
                "opt_head": opt_head.state_dict() if opt_head is not None else None,
                "xdc_state": state,
                "np_rng": rng.bit_generator.state,
                "torch_gen": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "config": to_dict(cfg),
                "config_hash": chash,
                "step": state["step"],
                "epoch": state["epoch"],
            },
            out_dir / path_name,
        )

    if x.epoch_clips < 0:
        raise ValueError(f"xdc.epoch_clips must be >= 0 (0 = the training set), got {x.epoch_clips}")
    steps_per_epoch = max(1, (x.epoch_clips or len(train_pos)) // cfg.train.batch_size)
    while state["round"] < x.rounds:
        r = state["round"]
        if state["assign"] is None:  # a new round: cluster, reset the heads
            tc = time.time()
            feats = _features(model, data, ids, ev, device)
            assign = _cluster(feats, cfg, model.sources, seed=seed * 1000 + r, labels=labels)
            state["assign"] = {s_: torch.from_numpy(a) for s_, a in assign.items()}  # tensors: weights_only checkpoints
            rec = {"round": r, "cluster_s": round(time.time() - tc, 2)}
            for src, a in assign.items():
                sizes = np.bincount(a, minlength=x.k)
                rec[f"{src}/min_size"], rec[f"{src}/max_size"] = int(sizes.min()), int(sizes.max())
                if labels is not None:
                    q = cluster_quality(a, labels)
                    rec[f"{src}/nmi"], rec[f"{src}/purity"] = q["nmi"], q["purity"]
            rec["step"] = state["step"]
            state["history"].append(rec)
            model.reset_heads(gen)
            opt_head = _optimizer(model.heads.parameters(), x, head=True)
            state.update(epoch=0, best=float("inf"), prev=float("inf"), bad=0)
            save(checkpoint.LAST)  # the round's clustering survives an interruption
            writer.write({"event": "cluster", **rec})
        if opt_head is None:
            opt_head = _optimizer(model.heads.parameters(), x, head=True)
        targets = {s: a.numpy().astype(np.int64) for s, a in state["assign"].items()}
        srcs = sorted(targets)
        while state["epoch"] < x.max_epochs and state["bad"] < x.patience:
            model.train()
            n = steps_per_epoch * cfg.train.batch_size
            draws = [uniform_cluster_sample(targets[s][train_pos], n // len(srcs) + 1, rng) for s in srcs]
            order = rng.permutation(np.concatenate(draws))[:n]
            losses = []
            for b in progress(
                range(steps_per_epoch),
                desc=f"{cfg.name} r{r} e{state['epoch']}",
                disable=None if show_progress else True,
                leave=False,
            ):
                pos = train_pos[order[b * cfg.train.batch_size : (b + 1) * cfg.train.batch_size]]
                v, a = _clips(data, ids[pos], ev, device, train_aug=True, generator=gen)
                t = {s: torch.as_tensor(targets[s][pos], device=device) for s in srcs}
                out = model(v, a, t)
                if not torch.isfinite(out["loss"]):
                    raise FloatingPointError(f"{cfg.name}: non-finite loss at round {r} epoch {state['epoch']}")
                opt_body.zero_grad(set_to_none=True)
                opt_head.zero_grad(set_to_none=True)
                out["loss"].backward()
                opt_body.step()
                opt_head.step()
                losses.append(out["loss"].item())
                state["step"] += 1
            val = _val_loss(model, data, ids[val_pos], {s: targets[s][val_pos] for s in srcs}, ev, device)
            # Supp. Table 9: stop once the validation loss has increased in `patience` consecutive epochs
            state["bad"] = state["bad"] + 1 if val > state["prev"] else 0
            state["prev"], state["best"] = val, min(state["best"], val)
            state["epoch"] += 1
            save(checkpoint.LAST)
            writer.write(
                {
                    "event": "epoch",
                    "round": r,
                    "epoch": state["epoch"] - 1,
                    "step": state["step"],
                    "loss": float(np.mean(losses)),
                    "val_loss": val,
                    "best_val_loss": state["best"],
                    "consecutive_increases": state["bad"],
                }
            )
        log.info(
            "%s: round %d done after %d epochs (best pseudo-label val loss %.4f)",
            cfg.name,
            r,
            state["epoch"],
            state["best"],
        )
        if r == x.rounds - 1:  # the last clustering, for the cluster tables (XDC Tables 5/6)
            _save_clusters(out_dir / "clusters.npz", ids, targets, labels)
        state.update(round=r + 1, assign=None)
        opt_head = None
        save(checkpoint.LAST)
    summary = {
        "name": cfg.name,
        "method": "xdc",
        "variant": x.variant,
        "k": x.k,
        "rounds": x.rounds,
        "steps": state["step"],
        "clusters": state["history"],
        "wall_s": round(time.time() - t0, 1),
        "n_clips": int(len(ids)),
    }
    checkpoint.atomic_save(
        {
            "model": model.state_dict(),
            "config": to_dict(cfg),
            "config_hash": chash,
            "step": state["step"],
            "summary": summary,
        },
        out_dir / "final.pt",
    )
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
