"""CREMA-D (Cao et al. 2014): 7,442 audio-visual clips of 91 actors speaking 12 sentences in 6 emotions.

Labels come from the file name ``<ActorID>_<Sentence>_<Emotion>_<Level>`` (emotion ANG, DIS, FEA, HAP,
NEU, SAD; level LO, MD, HI or XX = unspecified); ``SentenceFilenames.csv`` lists every clip of the
release. Media: ``VideoFlash/<name>.flv`` (VP6 video + embedded MP3 audio), and separately
``AudioWAV/<name>.wav`` or ``AudioMP3/<name>.mp3``. ``path`` is the video when present, else the audio;
``audio_path`` the separate audio file when present. There is no official split: ``split`` is ``all``;
:func:`actor_split` holds actors out.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import (
    AUDIO_EXTS,
    AnnotationError,
    DatasetInfo,
    Loaded,
    MediaIndex,
    finish,
    read_table,
    real_data_root,
)

INFO = DatasetInfo(
    name="crema_d",
    title="CREMA-D",
    modalities=("video", "audio"),
    multilabel=False,
    exts=(".flv",) + AUDIO_EXTS,
    annotations="",
    layout="<root>/VideoFlash/<name>.flv, <root>/AudioWAV/<name>.wav (or AudioMP3/), <root>/SentenceFilenames.csv "
    "(the official repository's layout; <root>/meta/ also accepted)",
    source="https://github.com/CheyneyComputerScience/CREMA-D (git lfs)",
    licence="ODbL 1.0 / DbCL 1.0",
    required=("audio",),
)  # every clip has audio (embedded in the FLV or a separate file); video is optional

EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
EMOTION_NAMES = ("anger", "disgust", "fear", "happy", "neutral", "sad")
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def default_root() -> Path:
    return real_data_root() / "crema_d"


def parse_name(name: str) -> dict:
    """``1001_DFA_ANG_XX`` -> actor, sentence, emotion index/code, level; bad names raise naming them."""
    m = _NAME.match(name)
    if m is None or m.group(3) not in EMOTIONS:
        raise AnnotationError(f"CREMA-D name {name!r} is not <ActorID>_<Sentence>_<ANG|DIS|FEA|HAP|NEU|SAD>_<Level>")
    return {
        "actor": int(m.group(1)),
        "sentence": m.group(2),
        "emotion": m.group(3),
        "level": m.group(4),
        "label": EMOTIONS.index(m.group(3)),
    }


def load(root=None, *, annotations=None) -> Loaded:
    """Every clip of ``SentenceFilenames.csv`` (7,442 rows; ``present`` where the media is under root)."""
    root = Path(root) if root is not None else default_root()
    if annotations is not None:
        candidates = [Path(annotations) / "SentenceFilenames.csv"]
    else:  # the official repository keeps it at the top; the real-data bundle under meta/
        candidates = [root / "SentenceFilenames.csv", root / "meta" / "SentenceFilenames.csv"]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise AnnotationError(f"CREMA-D clip list not found: {' or '.join(map(str, candidates))}")
    names = read_table(path, ("Filename",), "CREMA-D clip list")
    index = MediaIndex(root, INFO.exts)
    rows = []
    for name in names["Filename"].str.strip():
        info = parse_name(name)
        video = index.find(f"VideoFlash/{name}", exact=True)
        audio = index.find_name([f"AudioWAV/{name}", f"AudioMP3/{name}"], exact=True)
        rows.append(
            {
                "clip_id": name,
                "path": video or audio or f"VideoFlash/{name}.flv",
                "split": "all",
                "label": info["label"],
                "label_name": EMOTION_NAMES[info["label"]],
                "audio_path": audio or "",
                "actor": info["actor"],
                "sentence": info["sentence"],
                "level": info["level"],
                "has_video": video is not None,
            }
        )
    loaded = finish(rows, list(EMOTION_NAMES), INFO, None, str(path))
    loaded.df["present"] = [bool(r["has_video"] or r["audio_path"]) for r in rows]
    loaded.manifest.root = root
    return loaded


def actor_split(loaded: Loaded, test_actors) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) with ``test_actors`` held out."""
    is_test = loaded.df["actor"].isin(set(int(a) for a in test_actors)).to_numpy()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
