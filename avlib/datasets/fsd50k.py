"""FSD50K (Fonseca et al. 2022): 51,197 Freesound clips, 200 classes, multi-label (mAP).

Official ground truth (``FSD50K.ground_truth/``): ``vocabulary.csv`` without header
(``index,label,mid``), ``dev.csv`` (``fname,labels,mids,split`` with split ``train``/``val``) and
``eval.csv`` (``fname,labels,mids``); ``labels`` is a comma-separated list of vocabulary labels. Media:
``FSD50K.dev_audio/<fname>.wav`` and ``FSD50K.eval_audio/<fname>.wav``. The validation split is the one
the official recipe selects models on (XKD's fine-tuning early-stops on it).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .base import AUDIO_EXTS, AnnotationError, DatasetInfo, Loaded, finish, read_table

INFO = DatasetInfo(
    name="fsd50k",
    title="FSD50K",
    modalities=("audio",),
    multilabel=True,
    exts=AUDIO_EXTS,
    annotations="",
    layout="<root>/FSD50K.ground_truth/{vocabulary,dev,eval}.csv, "
    "<root>/FSD50K.dev_audio/<fname>.wav, <root>/FSD50K.eval_audio/<fname>.wav",
    source="https://zenodo.org/record/4060432",
    licence="CC BY 4.0 (clips under CC0/BY/BY-NC)",
)


def read_vocabulary(gt: Path) -> list[str]:
    path = Path(gt) / "vocabulary.csv"
    if not path.is_file():
        raise AnnotationError(f"FSD50K vocabulary not found: {path}")
    df = pd.read_csv(path, header=None, names=["index", "label", "mid"], dtype={"label": str, "mid": str})
    if df["index"].tolist() != list(range(len(df))):
        raise AnnotationError(f"{path}: first column is not 0..{len(df) - 1} (expected no header)")
    return df["label"].tolist()


def load(root=None, *, annotations=None) -> Loaded:
    """Rows of ``train``, ``val`` (from dev.csv) and ``eval``; ``label`` = ';'-joined vocabulary indices."""
    if annotations is None:
        if root is None:
            raise ValueError("FSD50K: pass root= (holding FSD50K.ground_truth/) or annotations=")
        annotations = Path(root) / "FSD50K.ground_truth"
    gt = Path(annotations)
    vocab = read_vocabulary(gt)
    index = {c: i for i, c in enumerate(vocab)}
    rows = []
    parts = [(gt / "dev.csv", "FSD50K.dev_audio", None), (gt / "eval.csv", "FSD50K.eval_audio", "eval")]
    for path, folder, split in parts:
        df = read_table(path, ("fname", "labels") + (("split",) if split is None else ()), "FSD50K ground truth")
        for i, rec in enumerate(df.to_dict("records")):
            names = [x for x in rec["labels"].split(",") if x]
            unknown = [x for x in names if x not in index]
            if unknown or not names:
                raise AnnotationError(f"{path} row {i + 2}: labels {unknown or names} not in vocabulary.csv")
            sp = split or rec["split"]
            if sp not in ("train", "val", "eval"):
                raise AnnotationError(f"{path} row {i + 2}: split {sp!r} is not train/val")
            idx = sorted(index[x] for x in names)
            rows.append(
                {
                    "clip_id": f"{folder.split('.')[1]}_{rec['fname']}",
                    "path": f"{folder}/{rec['fname']}.wav",
                    "split": sp,
                    "label": ";".join(map(str, idx)),
                    "label_name": rec["labels"],
                }
            )
    return finish(rows, vocab, INFO, root, str(gt))
