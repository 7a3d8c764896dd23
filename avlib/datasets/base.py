"""Shared machinery of the real-dataset loaders.

Every loader turns a dataset's *official* annotation files into an :class:`avlib.data.manifest.Manifest`
(the same table the synthetic data uses), one row per clip with the columns ``clip_id, path, split,
label, label_name`` plus dataset-specific extras (``fold``, ``start``, ``end``, ...). ``label`` is an int,
or ';'-joined ints for multi-label sets; labels index :attr:`Loaded.classes`.

Media resolution: the annotation files name clips, not files on disk. Given a media ``root`` the loader
maps each expected clip to a real file through a :class:`MediaIndex` (one walk of ``root``): any of the
dataset's extensions matches (ESC-50 as ``.wav``, ``.flac`` or ``.opus``), and folder/file names match
case-insensitively (UCF101's ``HandstandPushups`` list entries vs ``HandStandPushups`` files). Rows whose
media is absent keep their expected path and ``present = False``: nothing is dropped silently; the
caller (``data check``, the cache builder) counts and reports them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.data.manifest import Manifest

__all__ = [
    "DatasetInfo",
    "Loaded",
    "MediaIndex",
    "AnnotationError",
    "real_data_root",
    "read_lines",
    "class_index",
    "read_table",
    "finish",
    "VIDEO_EXTS",
    "AUDIO_EXTS",
]

SPLIT_ORDER = ("train", "val", "test", "eval", "unused")
VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".webm", ".flv", ".mov", ".m4v")
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".oga")


class AnnotationError(ValueError):
    """An official annotation file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is and how a user gets it (printed by ``avlib data prepare``)."""

    name: str
    title: str
    modalities: tuple[str, ...]
    multilabel: bool
    exts: tuple[str, ...]
    annotations: str  # folder under <real-data>/annotations (or the dataset's own meta folder)
    layout: str  # expected tree under --root
    source: str  # where the official data lives
    licence: str
    max_missing: float = 0.0  # fraction of missing/unreadable clips `data check` tolerates
    notes: str = ""
    required: tuple[str, ...] = ()  # streams every file must have (default: the first modality)

    @property
    def required_streams(self) -> tuple[str, ...]:
        return self.required or self.modalities[:1]


@dataclass
class Loaded:
    """A loader's result: the manifest, the class names (label i is ``classes[i]``) and the info."""

    manifest: Manifest
    classes: list[str]
    info: DatasetInfo
    problems: list[str] = field(default_factory=list)  # annotation-level oddities, e.g. unknown labels

    @property
    def df(self) -> pd.DataFrame:
        return self.manifest.df

    def counts(self) -> pd.DataFrame:
        """Clips per split: expected (in the official lists) and present (media found under root)."""
        df = self.df
        g = df.groupby("split", sort=False)
        out = pd.DataFrame({"expected": g.size(), "present": g["present"].sum().astype(int)})
        order = {s: i for i, s in enumerate(SPLIT_ORDER)}
        out = out.reset_index()
        return out.sort_values("split", key=lambda c: c.map(lambda s: order.get(s, len(order)))).reset_index(drop=True)

    def present(self) -> Manifest:
        """Only the rows whose media exists (for training); the rest are listed by ``data check``."""
        df = self.df[self.df["present"]]
        return Manifest(df, root=self.manifest.root, source=self.manifest.source)


def real_data_root() -> Path:
    """``$AVLIB_REAL_DATA`` or ``../shared/real-data`` beside the project (may not exist)."""
    env = os.environ.get("AVLIB_REAL_DATA")
    if env:
        return Path(env)
    from avlib.paths import repo_root

    try:
        return (repo_root() / ".." / "shared" / "real-data").resolve()
    except FileNotFoundError:
        return Path("../shared/real-data").resolve()


def default_annotations(info: DatasetInfo) -> Path:
    return real_data_root() / "annotations" / info.annotations


def read_lines(path: Path) -> list[str]:
    """Non-empty lines of a text file with any line ending (CRLF, LF) and an optional BOM."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"annotation file not found: {path}")
    text = path.read_text(encoding="utf-8-sig", errors="strict")
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def read_table(path: Path, required, what: str) -> pd.DataFrame:
    """A CSV with a header, every cell as text; a missing file or required column raises naming both."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{what} not found: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise AnnotationError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    return df


def class_index(names) -> dict[str, int]:
    """Class name -> index over the sorted unique names (the usual convention when no index file exists)."""
    return {c: i for i, c in enumerate(sorted(set(names)))}


class MediaIndex:
    """One walk of a media root: relative path stems (lower case, '/' separated) -> real relative paths.

    ``find("HandstandPushups/v_HandStandPushups_g01_c01")`` returns the file with any accepted
    extension, matching folder and file names case-insensitively, or ``None``. Hidden files and
    folders (``.DS_Store``, ``._clip.wav``) are ignored."""

    def __init__(self, root, exts):
        self.root = Path(root)
        self.exts = tuple(e.lower() for e in exts)
        self._by_stem: dict[str, str] = {}
        self._by_name: dict[str, str | None] = {}  # file stem alone; None when two folders share it
        if not self.root.is_dir():
            raise FileNotFoundError(f"media root {self.root} does not exist or is not a folder")
        for dirpath, dirs, files in os.walk(self.root, followlinks=True):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files = [f for f in files if not f.startswith(".")]
            rel_dir = os.path.relpath(dirpath, self.root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            for f in files:
                stem, ext = os.path.splitext(f)
                if ext.lower() in self.exts:
                    key = (rel_dir + stem).lower()
                    # prefer the first extension in `exts` order when a clip exists in several formats
                    old = self._by_stem.get(key)
                    if old is None or self.exts.index(ext.lower()) < self.exts.index(os.path.splitext(old)[1].lower()):
                        self._by_stem[key] = rel_dir + f
        for key, rel in self._by_stem.items():
            name = key.rsplit("/", 1)[-1]
            self._by_name[name] = rel if name not in self._by_name else None

    def __len__(self) -> int:
        return len(self._by_stem)

    def files(self) -> list[str]:
        """Every indexed media file (relative paths, sorted)."""
        return sorted(self._by_stem.values())

    def find(self, rel: str, exact: bool = False) -> str | None:
        """The file for ``rel`` (a relative path in the official layout, extension optional): exact
        folder match first, then the file name alone anywhere under root if it is unambiguous (users
        lay out Kinetics or AudioSet flat, per split or per class). ``exact``: the folder must match."""
        stem = os.path.splitext(rel)[0] if os.path.splitext(rel)[1].lower() in self.exts else rel
        key = stem.replace("\\", "/").lower()
        hit = self._by_stem.get(key)
        if hit is not None or exact:
            return hit
        return self._by_name.get(key.rsplit("/", 1)[-1])

    def find_name(self, rel_candidates, exact: bool = False) -> str | None:
        """First of several candidate relative names that exists (e.g. with and without a class folder)."""
        for rel in rel_candidates:
            hit = self.find(rel, exact)
            if hit is not None:
                return hit
        return None


def finish(
    rows: list[dict] | pd.DataFrame,
    classes: list[str],
    info: DatasetInfo,
    root,
    source: str,
    *,
    candidates=None,
    problems=None,
) -> Loaded:
    """Build the :class:`Loaded` result: resolve media under ``root`` (if given) and set ``present``.

    ``rows`` carry ``path`` = the expected relative path in the official layout; ``candidates`` (a
    function row -> list of relative names) adds alternatives tried in order (flat vs class folders)."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if len(df) == 0:
        raise AnnotationError(f"{info.name}: the annotation files {source} list no clips")
    for col in ("clip_id", "path", "split", "label", "label_name"):
        if col not in df.columns:
            raise AssertionError(f"{info.name} loader produced no {col!r} column")
    df["label"] = df["label"].astype(str)
    if root is None:
        df["present"] = False
        mroot = Path(".")
    else:
        index = MediaIndex(root, info.exts)
        found = []
        for rec in df.to_dict("records"):
            names = candidates(rec) if candidates is not None else [rec["path"]]
            found.append(index.find_name(names))
        df["present"] = [f is not None for f in found]
        df["path"] = [f if f is not None else p for f, p in zip(found, df["path"])]
        mroot = Path(root)
    dup = df["clip_id"].duplicated()
    if dup.any():
        # official lists occasionally repeat a clip (e.g. Kinetics test); keep the first, say so
        problems = list(problems or []) + [
            f"{int(dup.sum())} duplicate clip id(s) dropped, e.g. {df.loc[dup, 'clip_id'].iloc[0]!r}"
        ]
        df = df[~dup]
    m = Manifest(df.reset_index(drop=True), root=mroot, source=source)
    return Loaded(m, list(classes), info, list(problems or []))


def multi_hot(labels: pd.Series, num_classes: int) -> np.ndarray:
    """';'-joined label strings -> float32 [N, C] multi-hot."""
    out = np.zeros((len(labels), num_classes), np.float32)
    for i, s in enumerate(labels):
        out[i, [int(v) for v in str(s).split(";")]] = 1.0
    return out
