"""Manifest CSV: one row per clip, shared by the synthetic (avsynth) and the real-dataset loaders.

Columns: ``clip_id, path, split, label, label_name, duration`` (``path`` relative to the dataset folder,
the folder holding ``manifest.csv``, or absolute; ``label`` an int, or ';'-separated ints for multi-label).
Reading validates the columns and names the file and the bad column/row in every error.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Manifest", "ManifestError", "COLUMNS", "parse_label"]

COLUMNS = ("clip_id", "path", "split", "label", "label_name", "duration")


class ManifestError(ValueError):
    """A manifest file is unreadable or invalid; the message names the file and the problem."""


def parse_label(value, *, where: str = "") -> list[int]:
    """``"3"`` -> [3]; ``"1;4;7"`` -> [1, 4, 7]. Empty, negative or non-integer labels raise ManifestError."""
    s = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()
    out = []
    for part in s.split(";") if s else []:
        try:
            f = float(part)
        except ValueError:
            f = float("nan")
        if not f == f or f != int(f):
            raise ManifestError(f"{where}: label {value!r} is not an int or ';'-separated ints")
        out.append(int(f))
    if not s or any(v < 0 for v in out):
        raise ManifestError(f"{where}: label {value!r} is empty or negative (not allowed for labelled sets)")
    return out


class Manifest:
    """A pandas-backed manifest. ``df`` holds the rows (``label`` kept as text), ``root`` the dataset folder."""

    def __init__(self, df: pd.DataFrame, root=None, source: str | None = None):
        self.df = df.reset_index(drop=True)
        self.root = Path(root) if root is not None else Path(".")
        self.source = source or str(self.root / "manifest.csv")

    # -------------------------------------------------------------------------------------- I/O
    @classmethod
    def read(cls, path, require=("clip_id", "path", "split", "label"), *, strict: bool = True) -> "Manifest":
        """Read and validate ``path`` (a manifest CSV, or a dataset folder holding ``manifest.csv``).

        Missing columns always raise. With ``strict=False`` bad rows (empty path, bad label, duplicate id)
        are left for the caller to skip and count (what the cache builder does)."""
        path = Path(path)
        if path.is_dir():
            path = path / "manifest.csv"
        if not path.is_file():
            raise ManifestError(f"manifest not found: {path}")
        try:
            df = pd.read_csv(path, dtype={"clip_id": str, "path": str, "split": str, "label": str,
                                          "label_name": str}, keep_default_na=False, na_values=[])
        except Exception as e:
            raise ManifestError(f"cannot parse manifest {path}: {type(e).__name__}: {e}") from None
        missing = [c for c in require if c not in df.columns]
        if missing:
            raise ManifestError(f"manifest {path} lacks required column(s) {missing}; has {list(df.columns)}")
        m = cls(df, root=path.parent, source=str(path))
        return m.validate(require) if strict else m

    def validate(self, require=("clip_id", "path", "split", "label")) -> "Manifest":
        """Check required columns, non-empty ids/paths, unique clip ids and parseable labels."""
        df, src = self.df, self.source
        for col in require:
            if col not in df.columns:
                raise ManifestError(f"manifest {src} lacks required column {col!r}")
        for col in ("clip_id", "path"):
            if col in df.columns:
                empty = df.index[df[col].astype(str).str.strip() == ""].tolist()
                if empty:
                    raise ManifestError(f"manifest {src}: empty {col!r} in row(s) {empty[:5]}")
        if "clip_id" in df.columns and df["clip_id"].duplicated().any():
            dup = df.loc[df["clip_id"].duplicated(), "clip_id"].tolist()[:5]
            raise ManifestError(f"manifest {src}: duplicate clip_id(s) {dup}")
        if "label" in require:
            for i, v in enumerate(df["label"].tolist()):
                parse_label(v, where=f"manifest {src} row {i}")
        return self

    def row_problem(self, i: int, require_label: bool = True) -> str | None:
        """Why row ``i`` is unusable (empty path/clip_id, bad label), or ``None`` if it is fine."""
        row = self.df.iloc[int(i)]
        for col in ("clip_id", "path"):
            if str(row.get(col, "")).strip() in ("", "nan"):
                return f"empty {col}"
        if require_label and "label" in self.df.columns:
            try:
                parse_label(row["label"], where=f"row {i}")
            except ManifestError as e:
                return str(e)
        return None

    def write(self, path=None) -> Path:
        """Write the manifest atomically (temporary file + ``os.replace``); returns the path."""
        path = Path(path) if path is not None else self.root / "manifest.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        cols = [c for c in COLUMNS if c in self.df.columns] + [c for c in self.df.columns if c not in COLUMNS]
        try:
            self.df[cols].to_csv(tmp, index=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    # ----------------------------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.df)

    def rows(self):
        """Iterate rows as dicts."""
        return iter(self.df.to_dict("records"))

    def resolve(self, row) -> Path:
        """Absolute media path of ``row`` (a row dict/Series or an integer position)."""
        if isinstance(row, (int, np.integer)):
            row = self.df.iloc[int(row)]
        p = Path(str(row["path"]))
        return p if p.is_absolute() else self.root / p

    def split(self, name: str) -> "Manifest":
        """Rows of one split (a new Manifest with the same root)."""
        return Manifest(self.df[self.df["split"] == name], root=self.root, source=self.source)

    def label_lists(self) -> list[list[int]]:
        """Parsed labels of every row (lists of ints)."""
        return [parse_label(v, where=f"manifest {self.source} row {i}") for i, v in enumerate(self.df["label"])]

    def labels(self, multilabel: bool = False, num_classes: int | None = None) -> np.ndarray:
        """Single-label: int64 [N] (a row with several labels raises). Multi-label: float32 multi-hot
        [N, C] with C = ``num_classes`` or max label + 1."""
        lists = self.label_lists()
        if not multilabel:
            bad = [i for i, lab in enumerate(lists) if len(lab) != 1]
            if bad:
                raise ManifestError(f"manifest {self.source}: rows {bad[:5]} have several labels; "
                                    "use labels(multilabel=True)")
            return np.array([lab[0] for lab in lists], dtype=np.int64)
        C = num_classes if num_classes is not None else 1 + max((max(lab) for lab in lists), default=-1)
        out = np.zeros((len(lists), C), np.float32)
        for i, lab in enumerate(lists):
            if max(lab) >= C:
                raise ManifestError(f"manifest {self.source} row {i}: label {max(lab)} >= num_classes {C}")
            out[i, lab] = 1.0
        return out
