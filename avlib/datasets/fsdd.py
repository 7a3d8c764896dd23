"""Free Spoken Digit Dataset (Jackson et al.): 3,000 recordings of the digits 0-9, 6 speakers, 50 each.

File names ``{digit}_{speaker}_{index}``. The dataset's own README defines the test set as indices 0-4
of every (digit, speaker) and the train set as 5-49 (``split``); ``speaker`` supports held-out-speaker
protocols (:func:`speaker_split`). There are no annotation files: the file names are the annotation.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import AUDIO_EXTS, AnnotationError, DatasetInfo, Loaded, MediaIndex, finish, real_data_root

INFO = DatasetInfo(
    name="fsdd",
    title="Free Spoken Digit Dataset",
    modalities=("audio",),
    multilabel=False,
    exts=AUDIO_EXTS,
    annotations="",
    layout="<root>/recordings/{digit}_{speaker}_{index}.wav",
    source="https://github.com/Jakobovski/free-spoken-digit-dataset",
    licence="CC BY-SA 4.0",
)

_NAME = re.compile(r"^([0-9])_([A-Za-z]+)_([0-9]+)$")


def default_root() -> Path:
    return real_data_root() / "fsdd"


def load(root=None) -> Loaded:
    """Every recording under ``root`` (default: the bundled copy); a file whose name does not follow
    ``{digit}_{speaker}_{index}`` is an error naming it."""
    root = Path(root) if root is not None else default_root()
    index = MediaIndex(root, INFO.exts)
    rows = []
    for rel in index.files():
        stem = Path(rel).stem
        m = _NAME.match(stem)
        if m is None:
            raise AnnotationError(f"FSDD file {root / rel}: name is not '<digit>_<speaker>_<index>'")
        digit, speaker, idx = int(m.group(1)), m.group(2), int(m.group(3))
        rows.append(
            {
                "clip_id": stem,
                "path": rel,
                "split": "test" if idx < 5 else "train",
                "label": digit,
                "label_name": str(digit),
                "speaker": speaker,
                "take": idx,
            }
        )
    if not rows:
        raise AnnotationError(f"no FSDD recordings under {root}")
    return finish(rows, [str(d) for d in range(10)], INFO, root, str(root))


def speaker_split(loaded: Loaded, test_speakers) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) with the given speakers held out entirely for test."""
    test_speakers = set(test_speakers)
    unknown = test_speakers - set(loaded.df["speaker"])
    if unknown:
        raise ValueError(f"FSDD speakers {sorted(unknown)} not in {sorted(set(loaded.df['speaker']))}")
    is_test = loaded.df["speaker"].isin(test_speakers).to_numpy()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
