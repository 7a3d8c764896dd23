"""``avlib data check``: validate a user's copy of a dataset against its official lists.

For every split: clips listed, present, missing, unreadable (the file exists but lacks a stream the
dataset requires, :attr:`DatasetInfo.required_streams`, or that stream does not decode; ``decode=True``
decodes every file in full). The verdict fails
(non-zero exit in the CLI) when the missing + unreadable fraction of any split exceeds the dataset's
tolerance (:attr:`DatasetInfo.max_missing`: 0 for curated sets, 0.2 for YouTube-sourced ones whose
videos disappear over time) or when nothing at all is present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .base import Loaded

__all__ = ["CheckReport", "check", "probe"]


def probe(path: Path, required, decode: bool = False) -> str | None:
    """Why ``path`` cannot be used (a ``required`` stream, 'video' and/or 'audio', is missing or does not
    decode), or ``None`` if it reads. Optional streams are not required: half of UCF101's classes have no
    audio track."""
    from avlib.data.media import SOUNDFILE_EXTS, MediaError, decode_clip

    path, required = Path(path), tuple(required)
    try:
        if path.stat().st_size == 0:
            return "empty file"
        audio_file = path.suffix.lower() in SOUNDFILE_EXTS
        if audio_file:
            if "video" in required:
                return "no video stream (audio file)"
            if not decode:
                import soundfile as sf

                return None if sf.info(str(path)).frames > 0 else "no audio samples"
        if decode:
            want_video = "video" in required
            decode_clip(
                path,
                fps=4.0 if want_video else None,
                size=32 if want_video else None,
                sample_rate=None,
                want_video=want_video,
                want_audio="audio" in required,
            )
            return None
        import av

        with av.open(str(path)) as c:
            for m, streams in (("video", c.streams.video), ("audio", c.streams.audio)):
                if m in required and not streams:
                    return f"no {m} stream"
            # read one packet to catch truncated / garbage files that still have a header
            if next(c.demux(), None) is None:
                return "no packets"
        return None
    except MediaError as e:
        return e.reason + (f": {e.detail}" if getattr(e, "detail", "") else "")
    except Exception as e:  # av / soundfile errors on corrupt data
        return f"unreadable: {type(e).__name__}: {str(e)[:120]}"


@dataclass
class CheckReport:
    name: str
    root: str
    table: pd.DataFrame  # split, expected, present, missing, unreadable, bad_fraction
    missing: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    tolerance: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.table["present"].sum() > 0 and (self.table["bad_fraction"] <= self.tolerance).all())

    def render(self, max_list: int = 10) -> str:
        lines = [f"{self.name} at {self.root}", self.table.to_string(index=False)]
        for p in self.problems:
            lines.append(f"note: {p}")
        if self.missing:
            lines.append(
                f"missing ({len(self.missing)}): "
                + ", ".join(self.missing[:max_list])
                + (" ..." if len(self.missing) > max_list else "")
            )
        for path, why in self.unreadable[:max_list]:
            lines.append(f"unreadable: {path}: {why}")
        if len(self.unreadable) > max_list:
            lines.append(f"... {len(self.unreadable) - max_list} more unreadable")
        verdict = "OK" if self.ok else "FAILED"
        lines.append(
            f"{verdict}: tolerance {self.tolerance:.0%} missing+unreadable per split"
            + ("" if self.table["present"].sum() else "; no clip of the official lists was found")
        )
        return "\n".join(lines)


def check(
    name_or_loaded,
    root=None,
    *,
    decode: bool = False,
    tolerance: float | None = None,
    show_progress: bool = True,
    **options,
) -> CheckReport:
    """Check a dataset copy (``name`` + ``root`` + loader options, or an already :class:`Loaded`)."""
    if isinstance(name_or_loaded, Loaded):
        loaded = name_or_loaded
    else:
        if root is None:
            raise ValueError("data check needs the dataset root (--root DIR)")
        from . import load

        loaded = load(name_or_loaded, root, **options)
    df = loaded.df
    root = Path(loaded.manifest.root)
    bad = {}
    present = df.index[df["present"]].tolist()
    from avlib.log import progress

    for i in progress(present, desc=f"check {loaded.info.name}", disable=None if show_progress else True):
        why = probe(root / df.at[i, "path"], loaded.info.required_streams, decode)
        if why is not None:
            bad[i] = why
    t = loaded.counts()
    g = df.assign(unreadable=df.index.isin(list(bad))).groupby("split", sort=False)["unreadable"].sum()
    t["missing"] = t["expected"] - t["present"]
    t["unreadable"] = t["split"].map(g).fillna(0).astype(int)
    t["bad_fraction"] = ((t["missing"] + t["unreadable"]) / t["expected"]).round(4)
    tol = loaded.info.max_missing if tolerance is None else float(tolerance)
    return CheckReport(
        loaded.info.name,
        str(root),
        t,
        missing=df.loc[~df["present"], "path"].tolist(),
        unreadable=[(df.at[i, "path"], w) for i, w in bad.items()],
        tolerance=tol,
        problems=list(loaded.problems),
    )
