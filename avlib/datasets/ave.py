"""AVE (Tian et al. 2018): 4,143 ten-second videos, 28 audio-visual event classes, one event segment each.

Official files: ``Annotations.txt`` with ``&``-separated ``Category&VideoID&Quality&StartTime&EndTime``
(a header line in the original release; absent in some copies, both accepted), and optional
``trainSet.txt`` / ``valSet.txt`` / ``testSet.txt`` in the same format giving the split, looked for beside
``Annotations.txt`` and in the media root (without them ``split`` is ``all``; with them, a video that no
split file lists stays ``all`` and is counted in ``problems``). Media: ``<root>/<VideoID>.mp4`` (the official ``AVE/`` folder).
:func:`segment_targets` gives the per-second labels (28 = background) of the localisation task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import VIDEO_EXTS, AnnotationError, DatasetInfo, Loaded, default_annotations, finish, read_lines

INFO = DatasetInfo(
    name="ave",
    title="AVE (Audio-Visual Event)",
    modalities=("video", "audio"),
    multilabel=False,
    exts=VIDEO_EXTS,
    annotations="ave",
    layout="<root>/<VideoID>.mp4 and Annotations.txt",
    source="https://github.com/YapengTian/AVE-ECCV18 (AVE_Dataset.zip)",
    licence="academic use",
    max_missing=0.0,
    required=("video", "audio"),
)

SPLIT_FILES = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}
SECONDS = 10


def read_annotations(path: Path) -> list[tuple[str, str, str, int, int]]:
    out = []
    for i, ln in enumerate(read_lines(path), 1):
        parts = ln.split("&")
        if len(parts) != 5:
            raise AnnotationError(f"{path} line {i}: expected 'Category&VideoID&Quality&Start&End', got {ln!r}")
        if i == 1 and parts[1] == "VideoID":
            continue  # header of the original release
        try:
            start, end = int(parts[3]), int(parts[4])
        except ValueError:
            raise AnnotationError(f"{path} line {i}: start/end {parts[3]!r}, {parts[4]!r} are not integers") from None
        if not 0 <= start <= end <= SECONDS:
            raise AnnotationError(f"{path} line {i}: event [{start}, {end}) is not inside 0-{SECONDS} s")
        out.append((parts[0], parts[1], parts[2], start, end))
    return out


def load(root=None, *, annotations=None) -> Loaded:
    ann = Path(annotations) if annotations is not None else default_annotations(INFO)
    events = read_annotations(ann / "Annotations.txt")
    classes = sorted({e[0] for e in events})
    split_of = {}
    for split, fname in SPLIT_FILES.items():
        where = next(
            (
                d / fname
                for d in (ann, Path(root) if root is not None else None)
                if d is not None and (d / fname).is_file()
            ),
            None,
        )
        if where is not None:
            for e in read_annotations(where):
                split_of[e[1]] = split
    rows, seen, problems = [], {}, []
    for cat, vid, q, s, e in events:
        # the official list annotates some videos twice (different categories): one row per annotation
        k = seen[vid] = seen.get(vid, -1) + 1
        rows.append(
            {
                "clip_id": vid if k == 0 else f"{vid}#{k}",
                "path": f"{vid}.mp4",
                "split": split_of.get(vid, "all"),
                "label": classes.index(cat),
                "label_name": cat,
                "quality": q,
                "start": s,
                "end": e,
            }
        )
    if split_of:
        unlisted = sum(1 for r in rows if r["split"] == "all")
        if unlisted:
            problems.append(f"{unlisted} annotated videos are in no split file (split 'all')")
    twice = sum(1 for v in seen.values() if v > 0)
    if twice:
        problems.append(f"{twice} videos are annotated more than once (one row per annotation)")
    empty = [r["clip_id"] for r in rows if r["start"] == r["end"]]
    if empty:
        problems.append(f"{len(empty)} empty event segment(s) (start == end), e.g. {empty[0]!r}")
    return finish(rows, classes, INFO, root, str(ann), problems=problems)


def segment_targets(loaded: Loaded) -> np.ndarray:
    """int64 [N, 10] (one row per annotation): the event class in each second of its segment, ``len(classes)`` (background) elsewhere."""
    df = loaded.df
    out = np.full((len(df), SECONDS), len(loaded.classes), np.int64)
    t = np.arange(SECONDS)
    inside = (t[None] >= df["start"].to_numpy()[:, None]) & (t[None] < df["end"].to_numpy()[:, None])
    lab = df["label"].astype(int).to_numpy()
    out[inside] = np.broadcast_to(lab[:, None], out.shape)[inside]
    return out
