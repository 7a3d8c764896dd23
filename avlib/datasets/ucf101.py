"""UCF101 (Soomro et al. 2012): 13,320 clips, 101 actions, 3 official train/test splits.

Official files (``ucfTrainTestlist/``): ``classInd.txt`` (``1 ApplyEyeMakeup``, 1-based, CRLF line
ends), ``trainlist0{1,2,3}.txt`` (``Class/v_Class_gXX_cYY.avi 1``) and ``testlist0{1,2,3}.txt`` (path
only; the label comes from the class folder). Quirk: the lists and ``classInd`` spell the class
``HandstandPushups`` while the clip files are ``v_HandStandPushups_*`` (and some copies name the folder
that way too); media lookup is case-insensitive, so both spellings resolve.
"""

from __future__ import annotations

from pathlib import Path

from .base import AnnotationError, DatasetInfo, Loaded, default_annotations, finish, read_lines

INFO = DatasetInfo(
    name="ucf101",
    title="UCF101",
    modalities=("video", "audio"),
    multilabel=False,
    exts=(".avi", ".mp4", ".mkv", ".webm"),
    annotations="ucf101",
    layout="<root>/<Class>/v_<Class>_gXX_cYY.avi (the official UCF-101/ folder)",
    source="https://www.crcv.ucf.edu/data/UCF101.php (UCF101.rar + UCF101TrainTestSplits-RecognitionTask.zip)",
    licence="academic use",
    notes="only 51 of the 101 classes have an audio track",
)

SPLITS = (1, 2, 3)


def read_classes(annotations: Path) -> list[str]:
    """``classInd.txt`` -> class names ordered by their (1-based) index."""
    path = Path(annotations) / "classInd.txt"
    pairs = []
    for i, ln in enumerate(read_lines(path), 1):
        parts = ln.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(f"{path} line {i}: expected '<index> <ClassName>', got {ln!r}")
        pairs.append((int(parts[0]), parts[1]))
    idx = sorted(p[0] for p in pairs)
    if idx != list(range(1, len(pairs) + 1)):
        raise AnnotationError(f"{path}: class indices are not 1..{len(pairs)}")
    return [name for _, name in sorted(pairs)]


def load(root=None, *, split: int = 1, annotations=None) -> Loaded:
    """Official split ``split`` (1, 2 or 3): rows of ``train`` and ``test``; media under ``root``."""
    if split not in SPLITS:
        raise ValueError(f"UCF101 split must be one of {SPLITS}, got {split!r}")
    ann = Path(annotations) if annotations is not None else default_annotations(INFO)
    classes = read_classes(ann)
    lower = {c.lower(): i for i, c in enumerate(classes)}
    rows = []
    for part in ("train", "test"):
        path = ann / f"{part}list0{split}.txt"
        for i, ln in enumerate(read_lines(path), 1):
            parts = ln.split()
            rel = parts[0].replace("\\", "/")
            cls = rel.split("/")[0]
            if cls.lower() not in lower:
                raise AnnotationError(f"{path} line {i}: class folder {cls!r} is not in classInd.txt")
            label = lower[cls.lower()]
            if len(parts) > 1 and (not parts[1].isdigit() or int(parts[1]) - 1 != label):
                raise AnnotationError(f"{path} line {i}: label {parts[1]} disagrees with folder {cls!r}")
            rows.append(
                {"clip_id": Path(rel).stem, "path": rel, "split": part, "label": label, "label_name": classes[label]}
            )
    return finish(rows, classes, INFO, root, str(ann))
