"""AudioSet (Gemmeke et al. 2017): 10 s YouTube segments, 527 classes, multi-label (mAP).

Official files: segment CSVs (``eval_segments.csv``, ``balanced_train_segments.csv``,
``unbalanced_train_segments.csv``) with ``#`` comment lines and rows ``YTID, start, end, "mid,mid,..."``
(quoted, comma-separated label ids after a comma + space), mapped through ``class_labels_indices.csv``
(``index,mid,display_name``). There is no official media naming (the clips come from YouTube); the
default ``name_format`` ``"{ytid}_{start:.0f}"`` gives ``--4gqARaEJE_0.wav``, and other downloaders'
names are one format away (``"Y{ytid}"``; DCASE-style ``"Y{ytid}_{start:.3f}_{end:.3f}"``). Unavailable segments are tolerated and counted.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from .base import AUDIO_EXTS, VIDEO_EXTS, AnnotationError, DatasetInfo, Loaded, default_annotations, finish

INFO = DatasetInfo(
    name="audioset",
    title="AudioSet",
    modalities=("audio", "video"),
    multilabel=True,
    exts=AUDIO_EXTS + VIDEO_EXTS,
    annotations="audioset",
    layout="<root>/<subset>/<YTID>_<start>.wav (subset: eval, balanced_train, unbalanced_train; or flat)",
    source="https://research.google.com/audioset/download.html (segment CSVs; media via YouTube)",
    licence="CC BY 4.0 (labels), CC BY-SA 4.0 (ontology); media: YouTube terms",
    max_missing=0.2,
)

SUBSETS = {
    "eval": "eval_segments.csv",
    "balanced_train": "balanced_train_segments.csv",
    "unbalanced_train": "unbalanced_train_segments.csv",
}


def read_classes(annotations: Path) -> tuple[list[str], dict[str, int]]:
    """``class_labels_indices.csv`` -> (display names by index, mid -> index)."""
    path = Path(annotations) / "class_labels_indices.csv"
    if not path.is_file():
        raise AnnotationError(f"AudioSet class index not found: {path}")
    df = pd.read_csv(path, dtype={"index": int, "mid": str, "display_name": str}, keep_default_na=False)
    if list(df.columns[:3]) != ["index", "mid", "display_name"]:
        raise AnnotationError(f"{path}: expected columns index,mid,display_name; got {list(df.columns)}")
    if df["index"].tolist() != list(range(len(df))):
        raise AnnotationError(f"{path}: indices are not 0..{len(df) - 1} in order")
    return df["display_name"].tolist(), dict(zip(df["mid"], df["index"]))


def read_segments(path: Path) -> list[tuple[str, float, float, list[str]]]:
    """Rows of a segment CSV (comment lines skipped; the quoted label list split on commas)."""
    if not Path(path).is_file():
        raise AnnotationError(f"AudioSet segment CSV not found: {path}")
    out = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for i, rec in enumerate(csv.reader(f, skipinitialspace=True), 1):
            if not rec or rec[0].startswith("#"):
                continue
            if len(rec) != 4:
                raise AnnotationError(f"{path} line {i}: expected 'YTID, start, end, \"mids\"', got {rec}")
            try:
                start, end = float(rec[1]), float(rec[2])
            except ValueError:
                raise AnnotationError(f"{path} line {i}: start/end {rec[1]!r}, {rec[2]!r} are not numbers") from None
            out.append((rec[0], start, end, [m.strip() for m in rec[3].split(",") if m.strip()]))
    return out


def clip_name(ytid: str, start: float, end: float, name_format: str = "{ytid}_{start:.0f}") -> str:
    return name_format.format(ytid=ytid, start=start, end=end)


def load(root=None, *, subsets=None, annotations=None, name_format: str = "{ytid}_{start:.0f}") -> Loaded:
    """Rows of ``subsets`` (default: those whose CSV is present); ``split`` is the subset name.

    ``label`` is the ';'-joined class indices (multi-label); unknown mids are an error naming the row."""
    ann = Path(annotations) if annotations is not None else default_annotations(INFO)
    classes, mid_index = read_classes(ann)
    if subsets is None:
        subsets = [s for s, f in SUBSETS.items() if (ann / f).is_file()]
    elif isinstance(subsets, str):
        subsets = [subsets]
    rows = []
    for subset in subsets:
        if subset not in SUBSETS:
            raise ValueError(f"AudioSet subset must be one of {list(SUBSETS)}, got {subset!r}")
        path = ann / SUBSETS[subset]
        for ytid, start, end, mids in read_segments(path):
            unknown = [m for m in mids if m not in mid_index]
            if unknown or not mids:
                raise AnnotationError(
                    f"{path} segment {ytid}: label ids {unknown or mids} not in class_labels_indices.csv"
                )
            idx = sorted(mid_index[m] for m in mids)
            name = clip_name(ytid, start, end, name_format)
            rows.append(
                {
                    "clip_id": name,
                    "path": f"{subset}/{name}.wav",
                    "split": subset,
                    "label": ";".join(map(str, idx)),
                    "label_name": ";".join(classes[j] for j in idx),
                    "youtube_id": ytid,
                    "start": start,
                    "end": end,
                }
            )
    return finish(rows, classes, INFO, root, str(ann))
