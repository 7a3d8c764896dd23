"""A multi-label audio-visual role (AudioSet's, for MAViL Tables 6 and 11) composed from a single-label cache.

AudioSet clips carry several events at once, heard and (not always) seen. avsynth's audio-visual roles have one
class per clip, so this builds, from a built single-label cache (e.g. ``cache/ks``), a new cache whose every clip
mixes ``k`` clips of distinct classes from the same split: the waveforms are summed and rescaled to the mean of
the sources' RMS, the frames alpha-blended with equal weights, and the label is the set of the source classes
(multi-hot in :func:`avlib.data.cache.load_cache`). Each mixture draws its sources from its own split only
(distinct classes within a mixture; a source clip may appear in several mixtures, as an AudioSet event recurs in
many clips). Deterministic with the seed; written atomically like a cache."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.data.cache import load_cache

__all__ = ["build_mixture_cache"]


def _draw(labels: np.ndarray, ids: np.ndarray, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, k]`` source rows of ``ids`` with pairwise distinct labels in every output row."""
    if len(np.unique(labels[ids])) < k:
        raise ValueError(f"a mixture of {k} distinct classes needs {k} classes in the split, it has fewer")
    out = np.empty((n, k), np.int64)
    for i in range(n):
        picked: list[int] = []
        while len(picked) < k:
            j = int(rng.choice(ids))
            if all(labels[j] != labels[p] for p in picked):
                picked.append(j)
        out[i] = picked
    return out


def build_mixture_cache(
    src: str | Path, out: str | Path, *, k: int = 2, per_split: dict | None = None, seed: int = 0
) -> dict:
    """Write the mixture cache of ``src`` to ``out`` and return its ``meta.json`` content.

    Args:
        src: a built audio-visual, single-label cache.
        k: sources (distinct classes) per clip, >= 2.
        per_split: clips per split (default: as many as the source split has).
    """
    if k < 2:
        raise ValueError(f"k must be >= 2 (a mixture), got {k}")
    data = load_cache(src)
    if data.video is None or data.audio is None:
        raise ValueError(f"{src}: a mixture cache needs an audio-visual source (video and audio arrays)")
    if data.meta.get("multilabel"):
        raise ValueError(f"{src}: the source must be single-label")
    rng = np.random.default_rng(seed)
    splits = list(dict.fromkeys(data.index["split"].astype(str)))
    per_split = {s: int((data.index["split"] == s).sum()) for s in splits} if per_split is None else per_split
    unknown = sorted(set(per_split) - set(splits))
    if unknown:
        raise ValueError(f"per_split names splits {unknown} that {src} does not have ({splits})")
    rows = {s: _draw(data.labels, data.split_indices(s), int(n), k, rng) for s, n in per_split.items()}
    N = sum(len(r) for r in rows.values())
    out = Path(out)
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    video = np.lib.format.open_memmap(tmp / "video.npy", "w+", np.uint8, (N, *data.video.shape[1:]))
    audio = np.lib.format.open_memmap(tmp / "audio.npy", "w+", np.float16, (N, data.audio.shape[1]))
    names = data.class_names
    index, r = [], 0
    for split, src_rows in rows.items():
        for srcs in src_rows:
            a = np.asarray(data.audio[srcs], np.float32)
            mix = a.sum(0)
            rms_src = np.sqrt(np.mean(a**2, axis=1)).mean()
            rms_mix = np.sqrt(np.mean(mix**2))
            audio[r] = np.clip(mix * (rms_src / max(rms_mix, 1e-8)), -65000, 65000).astype(np.float16)
            video[r] = np.round(np.asarray(data.video[srcs], np.float32).mean(0)).astype(np.uint8)
            labs = sorted(int(data.labels[j]) for j in srcs)
            index.append(
                {
                    "row": r,
                    "clip_id": "+".join(str(data.index["clip_id"].iloc[j]) for j in srcs),
                    "split": split,
                    "label": ";".join(map(str, labs)),
                    "label_name": ";".join(names[x] if x < len(names) else str(x) for x in labs),
                    "path": ";".join(str(data.index["path"].iloc[j]) for j in srcs) if "path" in data.index else "",
                }
            )
            r += 1
    video.flush()
    audio.flush()
    del video, audio
    pd.DataFrame(index).to_csv(tmp / "index.csv", index=False)
    if (Path(src) / "classes.csv").is_file():
        shutil.copy(Path(src) / "classes.csv", tmp / "classes.csv")
    pd.DataFrame(columns=["path", "reason", "detail"]).to_csv(tmp / "skipped.csv", index=False)
    meta = {
        "dataset_dir": str(src),
        "mixture_of": str(src),
        "k": k,
        "seed": seed,
        "params": data.meta.get("params", {}),
        "n_rows": N,
        "n_kept": N,
        "n_skipped": 0,
        "multilabel": True,
        "per_split": {s: {"rows": len(v), "kept": len(v), "skipped": 0} for s, v in rows.items()},
        "video_shape": [N, *map(int, data.meta["video_shape"][1:])],
        "audio_shape": [N, int(data.audio.shape[1])],
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return meta
