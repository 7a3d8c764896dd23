"""Kinetics-400/600 (Kay et al. 2017) and Kinetics-Sound (Arandjelovic & Zisserman 2017, the 32-class
lists used by XKD).

Kinetics CSVs: ``label,youtube_id,time_start,time_end,split[,is_cc]`` (the test CSVs have no label
column). A clip's file is named from its id and times, ``<youtube_id>_<start:06d>_<end:06d>.<ext>``
(the official downloader's convention), under ``<root>/<split>/<label>/`` or anywhere below root (the
file name alone is unique). Many YouTube videos have disappeared since release: missing or unreadable
clips are tolerated, counted and reported (``present`` column; ``data check`` tolerates up to
:attr:`INFO.max_missing`). Class folders may use spaces or underscores.

Kinetics-Sound lists (``annotations/xkd/kinetics_sound_{train,val}.json``) are JSON lists of
``class/YTID_start_end.avi``; 32 classes in sorted order.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from .base import VIDEO_EXTS, AnnotationError, DatasetInfo, Loaded, default_annotations, finish, read_table

INFO = DatasetInfo(
    name="kinetics400",
    title="Kinetics-400",
    modalities=("video", "audio"),
    multilabel=False,
    exts=VIDEO_EXTS,
    annotations="kinetics",
    layout="<root>/<split>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4 (or flat; names are unique)",
    source="https://github.com/cvdfoundation/kinetics-dataset (CSV lists + CVDF mirror of the clips)",
    licence="CC BY 4.0 (annotations); videos: YouTube terms",
    max_missing=0.2,
    notes="train CSV is not part of ../shared/real-data (too large); val/test are",
)
INFO_600 = DatasetInfo(**{**INFO.__dict__, "name": "kinetics600", "title": "Kinetics-600"})
INFO_SOUND = DatasetInfo(
    name="kinetics_sound",
    title="Kinetics-Sound (32 classes, XKD lists)",
    modalities=("video", "audio"),
    multilabel=False,
    exts=VIDEO_EXTS,
    annotations="xkd",
    layout="<root>/<class>/<YTID>_<start:06d>_<end:06d>.avi (or .mp4; the Kinetics clips of these classes)",
    source="Kinetics-400 clips listed in annotations/xkd/kinetics_sound_{train,val}.json",
    licence="CC BY-NC 4.0 (lists)",
    max_missing=0.2,
    required=("video", "audio"),
)

log = logging.getLogger(__name__)
REQUIRED = ("youtube_id", "time_start", "time_end", "split")


def clip_name(youtube_id: str, start, end) -> str:
    """Official clip file stem: ``<id>_<start:06d>_<end:06d>``."""
    return f"{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}"


def read_csv(path: Path) -> pd.DataFrame:
    return read_table(path, REQUIRED, "Kinetics CSV")


def load(root=None, *, version: int = 400, splits=None, annotations=None, classes: list[str] | None = None) -> Loaded:
    """Rows of ``splits`` (default: the labelled splits, train and val, whose ``kinetics-<version>_<split>.csv``
    is in ``annotations``; a split asked for by name, e.g. the unlabelled ``test``, must have its CSV).

    Labels index the sorted class names of the labelled CSVs (or ``classes``); the unlabelled test split
    gets an empty label. A requested split without its CSV is an error naming the file."""
    info = INFO if version == 400 else INFO_600 if version == 600 else None
    if info is None:
        raise ValueError(f"Kinetics version must be 400 or 600, got {version!r}")
    ann = Path(annotations) if annotations is not None else default_annotations(info)
    if isinstance(splits, str):
        splits = [splits]
    if splits is None:  # the labelled splits present (the test CSVs carry no labels: ask for them by name)
        splits = [s for s in ("train", "val") if (ann / f"kinetics-{version}_{s}.csv").is_file()]
        if not splits:
            raise AnnotationError(f"no kinetics-{version}_{{train,val}}.csv in {ann}")
        if "train" not in splits:
            log.info("kinetics-%d: no train CSV in %s; using %s", version, ann, splits)
    frames = {s: read_csv(ann / f"kinetics-{version}_{s}.csv") for s in splits}
    labelled = [f["label"] for f in frames.values() if "label" in f.columns]
    if classes is None:
        if not labelled:
            raise AnnotationError(f"no labelled Kinetics CSV among {list(frames)} in {ann}; pass classes=")
        classes = sorted(set(pd.concat(labelled)))
    index = {c: i for i, c in enumerate(classes)}
    rows, problems = [], []
    for split, df in frames.items():
        has_label = "label" in df.columns
        for rec in df.to_dict("records"):
            name = clip_name(rec["youtube_id"], rec["time_start"], rec["time_end"])
            lab = rec["label"] if has_label else ""
            if has_label and lab not in index:
                raise AnnotationError(f"{ann}/kinetics-{version}_{split}.csv: label {lab!r} not in the classes")
            folder = f"{split}/{lab.replace(' ', '_')}/" if has_label else f"{split}/"
            rows.append(
                {
                    "clip_id": name,
                    "path": folder + name + ".mp4",
                    "split": split,
                    "label": index[lab] if has_label else "",
                    "label_name": lab,
                    "youtube_id": rec["youtube_id"],
                    "start": float(rec["time_start"]),
                    "end": float(rec["time_end"]),
                }
            )
    return finish(rows, classes, info, root, str(ann), problems=problems)


def load_sound(root=None, *, annotations=None) -> Loaded:
    """Kinetics-Sound train/val from the XKD JSON lists (32 classes)."""
    ann = Path(annotations) if annotations is not None else default_annotations(INFO_SOUND)
    lists = {}
    for split in ("train", "val"):
        path = ann / f"kinetics_sound_{split}.json"
        if not path.is_file():
            raise AnnotationError(f"Kinetics-Sound list not found: {path}")
        items = json.loads(path.read_text())
        if not isinstance(items, list) or not all(isinstance(x, str) and "/" in x for x in items):
            raise AnnotationError(f"{path}: expected a JSON list of 'class/clip.avi' strings")
        lists[split] = items
    classes = sorted({x.split("/")[0] for items in lists.values() for x in items})
    index = {c: i for i, c in enumerate(classes)}
    rows = []
    for split, items in lists.items():
        for rel in items:
            cls, fname = rel.split("/", 1)
            stem = Path(fname).stem
            ytid, start, end = stem[:-14], stem[-13:-7], stem[-6:]
            rows.append(
                {
                    "clip_id": stem,
                    "path": rel,
                    "split": split,
                    "label": index[cls],
                    "label_name": cls,
                    "youtube_id": ytid,
                    "start": float(start),
                    "end": float(end),
                }
            )
    return finish(rows, classes, INFO_SOUND, root, str(ann))
