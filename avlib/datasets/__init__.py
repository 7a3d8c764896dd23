"""Loaders for the papers' datasets in their official formats (one module each) and ``data check``.

>>> from avlib import datasets
>>> ucf = datasets.load("ucf101", root="/data/UCF-101", split=1)   # Loaded: manifest + classes + info
>>> ucf.counts()                      # expected vs present clips per split
>>> report = datasets.check("ucf101", root="/data/UCF-101")        # missing / unreadable files

Every loader returns an :class:`avlib.datasets.base.Loaded` whose ``manifest`` is the same
:class:`avlib.data.manifest.Manifest` the synthetic data uses, so ``avlib data cache`` and the training
code read real datasets unchanged (``datasets.write_manifest``).
"""

from __future__ import annotations

from . import audioset, ave, crema_d, esc50, fsd50k, fsdd, hmdb51, kinetics, ucf101, vggsound
from .base import AnnotationError, DatasetInfo, Loaded, MediaIndex, real_data_root
from .check import CheckReport, check

__all__ = [
    "REGISTRY",
    "load",
    "info",
    "check",
    "CheckReport",
    "write_manifest",
    "Loaded",
    "DatasetInfo",
    "MediaIndex",
    "AnnotationError",
    "real_data_root",
]

# name -> (loader, info). Keyword options of each loader (split=, version=, subsets=...) pass through load().
REGISTRY = {
    "ucf101": (ucf101.load, ucf101.INFO),
    "hmdb51": (hmdb51.load, hmdb51.INFO),
    "kinetics400": (kinetics.load, kinetics.INFO),
    "kinetics600": (lambda root=None, **kw: kinetics.load(root, version=600, **kw), kinetics.INFO_600),
    "kinetics_sound": (kinetics.load_sound, kinetics.INFO_SOUND),
    "audioset": (audioset.load, audioset.INFO),
    "vggsound": (vggsound.load, vggsound.INFO),
    "esc50": (esc50.load, esc50.INFO),
    "fsd50k": (fsd50k.load, fsd50k.INFO),
    "fsdd": (fsdd.load, fsdd.INFO),
    "crema_d": (crema_d.load, crema_d.INFO),
    "ave": (ave.load, ave.INFO),
}


def _entry(name: str):
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def info(name: str) -> DatasetInfo:
    return _entry(name)[1]


def load(name: str, root=None, **options) -> Loaded:
    """Read ``name``'s official annotation files (default: ``<real-data>/annotations``) and resolve its
    media under ``root`` (``None``: annotations only, every row ``present = False``)."""
    return _entry(name)[0](root, **options)


def write_manifest(loaded: Loaded, out, *, present_only: bool = True):
    """Write ``manifest.csv`` (absolute media paths; also ``audio_path`` where a dataset has separate audio)
    and ``classes.csv`` (``index,name``) into folder ``out``: the input of
    :func:`avlib.data.cache.build_cache`. Absent clips are left out when ``present_only``, and so are
    unlabelled rows (e.g. the Kinetics test split); both are counted in the returned dict."""
    import os
    from pathlib import Path

    import pandas as pd

    from avlib.data.manifest import Manifest

    m = loaded.present() if present_only else loaded.manifest
    df = m.df.copy()
    unlabelled = df["label"].astype(str).str.strip() == ""
    df = df[~unlabelled]
    for col in ("path", "audio_path"):
        if col in df.columns:
            df[col] = [str((Path(m.root) / p).resolve()) if str(p) else "" for p in df[col]]
    out = Path(out)
    path = Manifest(df, root=out).write(out / "manifest.csv")
    tmp = out / f".classes.csv.tmp-{os.getpid()}"
    pd.DataFrame({"index": range(len(loaded.classes)), "name": loaded.classes}).to_csv(tmp, index=False)
    os.replace(tmp, out / "classes.csv")
    return {
        "manifest": str(path),
        "rows": int(len(df)),
        "absent": int(len(loaded.df) - len(m.df)),
        "unlabelled": int(unlabelled.sum()),
    }
