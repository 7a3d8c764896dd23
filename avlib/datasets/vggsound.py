"""VGGSound (Chen et al. 2020): 10 s YouTube clips, 309 classes (310 in some releases), single label.

Official files: ``vggsound.csv`` (no header; ``YTID,start_seconds,label,split``) and the test-list
formats ``test.csv`` / ``AStest.csv`` (``YTID_start.mp4,label``; labels with commas are quoted);
``stat.csv`` (``label,count,category``) gives the class list. Clip files are ``<YTID>_<start:06d>.mp4``
(YouTube ids may themselves contain ``_``: the start is after the last one).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .base import AUDIO_EXTS, VIDEO_EXTS, AnnotationError, DatasetInfo, Loaded, default_annotations, finish

INFO = DatasetInfo(
    name="vggsound",
    title="VGGSound",
    modalities=("audio", "video"),
    multilabel=False,
    exts=VIDEO_EXTS + AUDIO_EXTS,
    annotations="vggsound",
    layout="<root>/<YTID>_<start:06d>.mp4 (flat, or any sub-folders)",
    source="https://www.robots.ox.ac.uk/~vgg/data/vggsound/ (vggsound.csv; media via YouTube)",
    licence="CC BY 4.0 (annotations); media: YouTube terms",
    max_missing=0.2,
)


def read_classes(annotations: Path) -> list[str]:
    """Class names from ``stat.csv`` (sorted)."""
    path = Path(annotations) / "stat.csv"
    if not path.is_file():
        raise AnnotationError(f"VGGSound class list not found: {path}")
    df = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    return sorted(df[0].str.strip())


def _rows_from_list(path: Path, split: str) -> list[dict]:
    """``YTID_start.mp4,label`` rows (test.csv / AStest.csv) or ``YTID,start,label,split`` (vggsound.csv)."""
    if not path.is_file():
        raise AnnotationError(f"VGGSound list not found: {path}")
    df = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    rows = []
    if df.shape[1] == 2:
        for i, (fname, label) in enumerate(zip(df[0], df[1])):
            stem = Path(fname.strip()).stem
            ytid, _, start = stem.rpartition("_")
            if not ytid or not start.isdigit():
                raise AnnotationError(f"{path} row {i + 1}: file name {fname!r} is not <YTID>_<start>.mp4")
            rows.append({"youtube_id": ytid, "start": int(start), "label_name": label.strip(), "split": split})
    elif df.shape[1] == 4:
        for i, (ytid, start, label, sp) in enumerate(zip(df[0], df[1], df[2], df[3])):
            if not start.strip().isdigit():
                raise AnnotationError(f"{path} row {i + 1}: start {start!r} is not an integer")
            rows.append(
                {"youtube_id": ytid.strip(), "start": int(start), "label_name": label.strip(), "split": sp.strip()}
            )
    else:
        raise AnnotationError(
            f"{path}: expected 2 columns (file,label) or 4 (YTID,start,label,split), got {df.shape[1]}"
        )
    return rows


def load(root=None, *, lists=None, annotations=None) -> Loaded:
    """Rows of ``lists`` ({file name: split}; default ``vggsound.csv`` if present, else ``test.csv`` as
    ``test``). Labels index the sorted ``stat.csv`` classes; an unknown label is an error."""
    ann = Path(annotations) if annotations is not None else default_annotations(INFO)
    classes = read_classes(ann)
    index = {c: i for i, c in enumerate(classes)}
    if lists is None:
        lists = {"vggsound.csv": None} if (ann / "vggsound.csv").is_file() else {"test.csv": "test"}
    rows = []
    for fname, split in lists.items():
        for r in _rows_from_list(ann / fname, split or "test"):
            if r["label_name"] not in index:
                raise AnnotationError(f"{ann / fname}: label {r['label_name']!r} is not in stat.csv")
            name = f"{r['youtube_id']}_{r['start']:06d}"
            rows.append(
                {
                    "clip_id": name,
                    "path": name + ".mp4",
                    "split": r["split"],
                    "label": index[r["label_name"]],
                    "label_name": r["label_name"],
                    "youtube_id": r["youtube_id"],
                    "start": float(r["start"]),
                }
            )
    return finish(rows, classes, INFO, root, str(ann))
