"""Decode-once array cache: every manifest row is decoded a single time into fixed-shape arrays.

Layout of ``out_dir``: ``video.npy`` (uint8 [N,T,size,size,3]), ``audio.npy`` (float16 [N, seconds*rate]),
``index.csv`` (row, clip_id, split, label, label_name, path: row ``k`` of index.csv is row ``k`` of the
arrays), ``skipped.csv`` (path, reason, detail), ``meta.json`` (params, counts per reason and split),
``classes.csv`` (copied from the dataset when present). Training reads these through :func:`load_cache`
(memory maps) and never decodes media per step.

Bad input never crashes the job and is never dropped silently: each unusable row is skipped with one of
:data:`SKIP_REASONS`, logged, written to ``skipped.csv`` and counted in ``meta.json``; a wrong sample rate
is resampled and counted (``resampled``). :class:`CacheError` is raised only when the skipped fraction
exceeds ``max_skip_fraction``; the skipped list is then written to ``<out_dir>.skipped.csv``.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .manifest import Manifest, parse_label
from .media import MediaError, decode_clip

__all__ = ["build_cache", "load_cache", "CachedDataset", "CacheError", "SKIP_REASONS", "parallel_map"]
log = logging.getLogger(__name__)

SKIP_REASONS = ("missing_file", "decode_error", "no_audio_stream", "no_video_stream", "silent_audio",
                "too_short", "bad_manifest_row")
MODALITIES = {"av": (True, True), "video": (True, False), "audio": (False, True)}


class CacheError(RuntimeError):
    """Too many inputs were skipped (or the cache is unreadable); the message says why and where."""


def _decode_row(task: tuple) -> dict:
    """Worker: decode one file to fixed-length arrays, or return the skip reason."""
    i, path, p = task
    want_v, want_a = MODALITIES[p["modality"]]
    try:
        clip = decode_clip(path, fps=p["fps"], size=p["size"], sample_rate=p["sample_rate"],
                           want_video=want_v, want_audio=want_a)
    except MediaError as e:
        return dict(i=i, reason=e.reason, detail=e.detail)
    except Exception as e:  # anything unexpected from a decoder is a decode error, never a crash
        return dict(i=i, reason="decode_error", detail=f"{type(e).__name__}: {e}")
    secs = min(s for s in (clip.video_seconds, clip.audio_seconds) if s is not None)
    tol = max(0.5 / p["fps"], 0.01)
    if secs + tol < p["min_seconds"]:
        return dict(i=i, reason="too_short", detail=f"{secs:.3f}s < min_seconds={p['min_seconds']}s")
    out = dict(i=i, reason=None, native_sr=clip.native_sample_rate)
    if want_v:
        T, v = int(round(p["seconds"] * p["fps"])), clip.video
        out["video"] = v[:T] if len(v) >= T else np.concatenate([v, np.repeat(v[-1:], T - len(v), 0)])
    if want_a:
        L, a = int(round(p["seconds"] * p["sample_rate"])), clip.audio
        a = a[:L] if len(a) >= L else np.concatenate([a, np.zeros(L - len(a), np.float32)])
        rms = float(np.sqrt(np.mean(np.square(a, dtype=np.float64)))) if len(a) else 0.0
        if rms < p["silence_rms"]:
            return dict(i=i, reason="silent_audio", detail=f"rms={rms:.2e} < silence_rms={p['silence_rms']:.0e}")
        out["audio"] = np.clip(a, -65000, 65000).astype(np.float16)
    return out


def _mp_context():
    """Process start method: ``$AVLIB_MP_START`` if set, else fork where available (workers inherit the
    imports, and scripts without an ``if __name__ == "__main__"`` guard still work), else spawn."""
    method = os.environ.get("AVLIB_MP_START") or (
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    return multiprocessing.get_context(method)


def parallel_map(fn, tasks: list, workers: int, desc: str, progress: bool = True):
    """Yield ``fn(task)`` in order, using a pool of ``workers`` processes (in-process when ``workers <= 1``
    or for a handful of tasks), with a tqdm bar (off when ``progress`` is false or ``$AVLIB_NO_TQDM`` set)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc=desc, disable=not progress or bool(os.environ.get("AVLIB_NO_TQDM")))
    try:
        if workers <= 1 or len(tasks) < 4:
            for t in tasks:
                yield fn(t)
                bar.update()
        else:
            with _mp_context().Pool(workers) as pool:
                for r in pool.imap(fn, tasks, chunksize=max(1, min(16, len(tasks) // (8 * workers)))):
                    yield r
                    bar.update()
    finally:
        bar.close()


def _compact(path: Path, n_keep: int) -> None:
    """Shrink ``path`` (an .npy of N rows whose first ``n_keep`` rows are valid) to ``n_keep`` rows."""
    src = np.load(path, mmap_mode="r")
    if n_keep == src.shape[0]:
        return
    dst_path = path.with_name(path.stem + ".compact.npy")
    if n_keep == 0:
        np.save(dst_path, np.zeros((0,) + src.shape[1:], src.dtype))
    else:
        dst = np.lib.format.open_memmap(dst_path, mode="w+", dtype=src.dtype, shape=(n_keep,) + src.shape[1:])
        step = max(1, (64 << 20) // max(1, src[0].nbytes))
        for s in range(0, n_keep, step):
            dst[s:s + step] = src[s:min(s + step, n_keep)]
        dst.flush()
        del dst
    del src
    os.replace(dst_path, path)


def build_cache(dataset_dir, out_dir, *, fps: float, size: int, sample_rate: int, seconds: float,
                modality: str = "av", max_skip_fraction: float = 0.05, silence_rms: float = 1e-4,
                min_seconds: float | None = None, progress: bool = True, workers: int = 2) -> dict:
    """Decode every row of ``<dataset_dir>/manifest.csv`` once into ``out_dir`` (see module doc).

    ``modality``: 'av' (video + audio required), 'video' or 'audio'. Clips are trimmed/padded to ``seconds``
    (video: last frame repeated, audio: zeros); shorter than ``min_seconds`` (default ``seconds``) is
    skipped. Returns the summary written to ``meta.json`` (no timings: it goes into DVC outputs)."""
    if modality not in MODALITIES:
        raise ValueError(f"build_cache: modality must be one of {list(MODALITIES)}, got {modality!r}")
    if not 0.0 <= max_skip_fraction <= 1.0:
        raise ValueError(f"build_cache: max_skip_fraction must be in [0, 1], got {max_skip_fraction}")
    dataset_dir, out_dir, t0 = Path(dataset_dir), Path(out_dir), time.time()
    m = Manifest.read(dataset_dir, strict=False)
    if len(m) == 0:
        raise CacheError(f"build_cache: manifest {m.source} has no rows")
    min_seconds = seconds if min_seconds is None else min_seconds
    params = dict(fps=fps, size=int(size), sample_rate=int(sample_rate), seconds=float(seconds), modality=modality,
                  max_skip_fraction=max_skip_fraction, silence_rms=silence_rms, min_seconds=float(min_seconds))
    want_v, want_a = MODALITIES[modality]
    N, T, L = len(m), int(round(seconds * fps)), int(round(seconds * sample_rate))
    tmp = out_dir.parent / f"{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    video = np.lib.format.open_memmap(tmp / "video.npy", "w+", np.uint8, (N, T, size, size, 3)) if want_v else None
    audio = np.lib.format.open_memmap(tmp / "audio.npy", "w+", np.float16, (N, L)) if want_a else None

    skipped, kept, tasks, seen = [], [], [], set()
    for i in range(N):
        problem = m.row_problem(i)
        cid = str(m.df["clip_id"].iloc[i])
        if problem is None and cid in seen:
            problem = f"duplicate clip_id {cid!r}"
        seen.add(cid)
        if problem is not None:
            skipped.append(dict(i=i, reason="bad_manifest_row", detail=problem))
        else:
            tasks.append((i, str(m.resolve(i)), params))
    native_rates: dict[str, int] = {}
    for res in parallel_map(_decode_row, tasks, workers, f"cache {dataset_dir.name}", progress):
        if res["reason"] is not None:
            skipped.append(res)
            continue
        r = len(kept)
        if want_v:
            video[r] = res["video"]
        if want_a:
            audio[r] = res["audio"]
            key = str(res["native_sr"])
            native_rates[key] = native_rates.get(key, 0) + 1
        kept.append(res["i"])
    for arr in (video, audio):
        if arr is not None:
            arr.flush()
    del video, audio

    df = m.df
    skipped.sort(key=lambda s: s["i"])
    sk = pd.DataFrame({"path": [str(df["path"].iloc[s["i"]]) for s in skipped],
                       "reason": [s["reason"] for s in skipped], "detail": [s.get("detail", "") for s in skipped]})
    for s in skipped:
        log.warning("skipped %s: %s (%s)", df["path"].iloc[s["i"]], s["reason"], s.get("detail", ""))
    per_reason = {r: int((sk["reason"] == r).sum()) for r in SKIP_REASONS}
    frac = len(skipped) / N
    if frac > max_skip_fraction or not kept:
        report = out_dir.parent / f"{out_dir.name}.skipped.csv"
        sk.to_csv(report, index=False)
        shutil.rmtree(tmp, ignore_errors=True)
        why = f"> max_skip_fraction={max_skip_fraction:.1%}" if kept else "(no usable row left)"
        raise CacheError(f"cache {out_dir}: skipped {len(skipped)}/{N} rows ({frac:.1%}) {why}; per reason: "
                         f"{ {k: v for k, v in per_reason.items() if v} }; list: {report}")
    for name in ("video.npy", "audio.npy"):
        if (tmp / name).exists():
            _compact(tmp / name, len(kept))
    cols = [c for c in ("clip_id", "split", "label", "label_name", "path") if c in df.columns]
    index = df.iloc[kept][cols].reset_index(drop=True)
    index.insert(0, "row", np.arange(len(kept)))
    index.to_csv(tmp / "index.csv", index=False)
    sk.to_csv(tmp / "skipped.csv", index=False)
    ds_meta = json.loads((dataset_dir / "meta.json").read_text()) if (dataset_dir / "meta.json").is_file() else {}
    if (dataset_dir / "classes.csv").is_file():
        shutil.copy(dataset_dir / "classes.csv", tmp / "classes.csv")
    splits = sorted(set(df["split"].astype(str)))
    skipped_rows = [s["i"] for s in skipped]
    meta = dict(dataset_dir=str(dataset_dir), params=params, n_rows=N, n_kept=len(kept), n_skipped=len(skipped),
                skip_fraction=round(frac, 6), skipped=per_reason,
                resampled=sum(v for k, v in native_rates.items() if k != str(sample_rate)),
                native_sample_rates=native_rates,
                per_split={s: dict(rows=int((df["split"] == s).sum()), kept=int((index["split"] == s).sum()),
                                   skipped=int((df["split"].iloc[skipped_rows] == s).sum())) for s in splits},
                multilabel=bool(ds_meta["multilabel"] if "multilabel" in ds_meta
                                else index["label"].astype(str).str.contains(";").any()),
                video_shape=[len(kept), T, int(size), int(size), 3] if want_v else None,
                audio_shape=[len(kept), L] if want_a else None, dataset_meta=ds_meta)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))  # no timings: reproducible bytes
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    log.info("cache %s: kept %d/%d rows in %.1fs", out_dir, len(kept), N, time.time() - t0)
    return meta


@dataclass
class CachedDataset:
    """A built cache opened read-only: arrays are memory maps, rows aligned with ``index``."""

    root: Path
    video: np.ndarray | None
    audio: np.ndarray | None
    index: pd.DataFrame
    labels: np.ndarray
    meta: dict
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.index)

    def split_indices(self, split: str) -> np.ndarray:
        """Array rows belonging to ``split`` (raises naming the available splits if absent)."""
        mask = (self.index["split"] == split).to_numpy()
        if not mask.any():
            raise KeyError(f"cache {self.root} has no split {split!r}; has {sorted(set(self.index['split']))}")
        return np.flatnonzero(mask)


def load_cache(out_dir) -> CachedDataset:
    """Open a cache written by :func:`build_cache`."""
    out_dir = Path(out_dir)
    if not (out_dir / "meta.json").is_file() or not (out_dir / "index.csv").is_file():
        raise CacheError(f"{out_dir} is not a built cache (meta.json/index.csv missing); run build_cache first")
    meta = json.loads((out_dir / "meta.json").read_text())
    index = pd.read_csv(out_dir / "index.csv", dtype={"label": str, "clip_id": str, "label_name": str},
                        keep_default_na=False)
    open_ = lambda n: np.load(out_dir / n, mmap_mode="r") if (out_dir / n).is_file() else None  # noqa: E731
    video, audio = open_("video.npy"), open_("audio.npy")
    for name, arr in (("video.npy", video), ("audio.npy", audio)):
        if arr is not None and arr.shape[0] != len(index):
            raise CacheError(f"cache {out_dir}: {name} has {arr.shape[0]} rows but index.csv has {len(index)}")
    names = pd.read_csv(out_dir / "classes.csv")["name"].tolist() if (out_dir / "classes.csv").is_file() else []
    lists = [parse_label(v, where=f"{out_dir}/index.csv row {i}") for i, v in enumerate(index["label"])]
    if meta.get("multilabel"):
        C = len(names) or 1 + max((max(x) for x in lists), default=-1)
        labels = np.zeros((len(lists), C), np.float32)
        for i, x in enumerate(lists):
            labels[i, x] = 1.0
    else:
        labels = np.array([x[0] for x in lists], np.int64)
    return CachedDataset(out_dir, video, audio, index, labels, meta, names)
