"""HMDB51 (Kuehne et al. 2011): 6,766 clips, 51 actions, 3 official splits (``testTrainMulti_7030_splits``).

Official files: ``<class>_test_split{1,2,3}.txt`` with lines ``<name>.avi <id>`` where id 1 = train,
2 = test, 0 = unused in that split (70 train / 30 test clips per class). Classes are indexed in the
order of ``class_list.txt`` (the split files' sorted names). Rows with id 0 are kept with split ``unused`` so that
every listed clip is accounted for.
"""

from __future__ import annotations

from pathlib import Path

from .base import AnnotationError, DatasetInfo, Loaded, default_annotations, finish, read_lines

INFO = DatasetInfo(
    name="hmdb51",
    title="HMDB51",
    modalities=("video",),
    multilabel=False,
    exts=(".avi", ".mp4", ".mkv", ".webm"),
    annotations="hmdb51",
    layout="<root>/<class>/<name>.avi (hmdb51_org.rar unpacked per class)",
    source="https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/",
    licence="academic use (CC BY 4.0 for the annotations)",
)

SPLITS = (1, 2, 3)
_IDS = {"1": "train", "2": "test", "0": "unused"}


def read_classes(annotations: Path) -> list[str]:
    """Class names in ``class_list.txt`` order when present, else in the sorted order of the split file
    names (``brush_hair_test_split1.txt`` -> ``brush_hair``; the same order: ``kick_ball`` < ``kick``
    as file names). Every listed class must have its split files."""
    ann = Path(annotations)
    from_files = sorted(p.name[: -len("_test_split1.txt")] for p in ann.glob("*_test_split1.txt"))
    if not from_files:
        raise AnnotationError(f"no HMDB51 split files (*_test_split1.txt) in {ann}")
    if (ann / "class_list.txt").is_file():
        names = (ann / "class_list.txt").read_text().split()
        if sorted(names) != sorted(from_files):
            raise AnnotationError(
                f"{ann / 'class_list.txt'} and the split files name different classes: "
                f"{sorted(set(names) ^ set(from_files))[:5]}"
            )
        return names
    return sorted(from_files, key=lambda c: c + "_test_split1.txt")


def load(root=None, *, split: int = 1, annotations=None) -> Loaded:
    """Official split ``split`` (1-3): rows of ``train``, ``test`` and ``unused``; media under ``root``."""
    if split not in SPLITS:
        raise ValueError(f"HMDB51 split must be one of {SPLITS}, got {split!r}")
    ann = Path(annotations) if annotations is not None else default_annotations(INFO)
    classes = read_classes(ann)
    rows = []
    for label, cls in enumerate(classes):
        path = ann / f"{cls}_test_split{split}.txt"
        for i, ln in enumerate(read_lines(path), 1):
            parts = ln.split()
            if len(parts) != 2 or parts[1] not in _IDS:
                raise AnnotationError(f"{path} line {i}: expected '<name>.avi <0|1|2>', got {ln!r}")
            rows.append(
                {
                    "clip_id": Path(parts[0]).stem,
                    "path": f"{cls}/{parts[0]}",
                    "split": _IDS[parts[1]],
                    "label": label,
                    "label_name": cls,
                }
            )
    return finish(rows, classes, INFO, root, str(ann))
