"""ESC-50 (Piczak 2015): 2,000 five-second environmental recordings, 50 classes, 5 official folds.

Official files: ``meta/esc50.csv`` (``filename,fold,target,category,esc10,src_file,take``) and
``audio/<filename>``. The evaluation protocol is 5-fold cross-validation over the official folds (clips
cut from the same source recording share a fold). Any audio extension is accepted for the media
(``1-100032-A-0.wav`` may be stored as ``.flac`` or ``.opus``). ``split`` is ``fold<k>``; use
:func:`folds` for the train/test partition of each validation round.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import AUDIO_EXTS, AnnotationError, DatasetInfo, Loaded, finish, real_data_root

INFO = DatasetInfo(
    name="esc50",
    title="ESC-50",
    modalities=("audio",),
    multilabel=False,
    exts=AUDIO_EXTS,
    annotations="esc50/meta",
    layout="<root>/audio/<fold>-<src>-<take>-<target>.wav and <root>/meta/esc50.csv",
    source="https://github.com/karolpiczak/ESC-50 (master.zip)",
    licence="CC BY-NC 3.0",
)

COLUMNS = ("filename", "fold", "target", "category")


def default_root() -> Path:
    return real_data_root() / "esc50"


def load(root=None, *, annotations=None) -> Loaded:
    """All 2,000 rows; ``fold`` 1-5, ``label`` = the official ``target``. ``annotations`` defaults to
    ``<root>/meta`` (the official layout), else the bundled ``real-data/esc50/meta``."""
    if annotations is None:
        annotations = (
            Path(root) / "meta" if root is not None and (Path(root) / "meta").is_dir() else default_root() / "meta"
        )
    path = Path(annotations) / "esc50.csv"
    if not path.is_file():
        raise AnnotationError(f"ESC-50 metadata not found: {path}")
    df = pd.read_csv(path, dtype={"filename": str, "category": str}, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise AnnotationError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    bad = df.index[~df["fold"].isin([1, 2, 3, 4, 5])].tolist()
    if bad:
        raise AnnotationError(f"{path}: rows {bad[:5]} have a fold outside 1-5")
    if df.groupby("target")["category"].nunique().max() > 1:
        raise AnnotationError(f"{path}: a target has several category names")
    first = df.groupby("target")["category"].first()
    # class list 0..max target (a partial copy may lack some classes; they keep a placeholder name)
    names = [first.get(t, f"<target {t}>") for t in range(int(df["target"].max()) + 1)]
    rows = pd.DataFrame(
        {
            "clip_id": df["filename"].map(lambda f: Path(f).stem),
            "path": "audio/" + df["filename"],
            "split": "fold" + df["fold"].astype(str),
            "label": df["target"],
            "label_name": df["category"],
            "fold": df["fold"],
            "esc10": df.get("esc10", False),
        }
    )
    return finish(rows, names, INFO, root, str(path))


def folds(loaded: Loaded):
    """Yield ``(k, train_idx, test_idx)`` for the 5 official validation rounds (test = fold k)."""
    fold = loaded.df["fold"].to_numpy()
    for k in range(1, 6):
        yield k, np.flatnonzero(fold != k), np.flatnonzero(fold == k)
