"""Preview picture of a dataset or cache: one row per class, a few frames plus the log-mel spectrogram.

Used for the README picture. Works from a dataset folder (``manifest.csv`` + media, decoded here), a
cache folder (``index.csv`` + arrays, from :mod:`avlib.data.cache`) or a loaded ``CachedDataset``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["preview_grid", "log_mel"]


def log_mel(audio: np.ndarray, sample_rate: int, n_mels: int = 64, hop_ms: float = 10.0) -> np.ndarray:
    """Log-mel spectrogram [n_mels, frames] (torchaudio MelSpectrogram, n_fft 1024, power 2, log(x+1e-6))."""
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=int(sample_rate), n_fft=1024, n_mels=n_mels,
                                               hop_length=max(1, int(sample_rate * hop_ms / 1000)))
    with torch.no_grad():
        spec = mel(torch.as_tensor(np.asarray(audio, np.float32)))
    return torch.log(spec + 1e-6).numpy()


def _pick_rows(labels: list[str], n_classes: int) -> list[tuple[int, list[int]]]:
    """(class, rows with exactly that single label) for the first ``n_classes`` classes (sorted)."""
    rows: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        s = str(lab).strip()
        if s.isdigit():
            rows.setdefault(int(s), []).append(i)
    return [(c, rows[c]) for c in sorted(rows)[:n_classes]]


def _examples(source, n_classes: int, n_frames: int) -> tuple[list[tuple[str, np.ndarray | None, np.ndarray]], int]:
    """Per class: (name, frames [n_frames,H,W,3] or None, mono audio), plus the audio sample rate."""
    from .cache import CachedDataset, load_cache

    if not isinstance(source, CachedDataset):
        root = Path(source)
        if (root / "index.csv").is_file():
            source = load_cache(root)
        elif not (root / "manifest.csv").is_file():
            raise FileNotFoundError(f"preview_grid: {root} holds neither manifest.csv (dataset) nor index.csv (cache)")
    out = []
    if isinstance(source, CachedDataset):
        sr = int(source.meta["params"]["sample_rate"])
        for c, (i, *_) in _pick_rows(source.index["label"].tolist(), n_classes):
            name = str(source.index["label_name"].iloc[i]) if "label_name" in source.index else str(c)
            v = None
            if source.video is not None:
                T = source.video.shape[1]
                v = np.asarray(source.video[i][np.linspace(0, T - 1, n_frames).round().astype(int)])
            a = np.asarray(source.audio[i], np.float32) if source.audio is not None else np.zeros(sr, np.float32)
            out.append((name, v, a))
        return out, sr
    from .manifest import Manifest
    from .media import MediaError, decode_clip

    m, sr = Manifest.read(root, strict=False), 16000
    for c, candidates in _pick_rows(m.df["label"].tolist(), n_classes):
        for i in candidates:  # first clip of the class that decodes
            path = m.resolve(i)
            is_video = path.suffix.lower() in (".mp4", ".mkv", ".webm", ".mov", ".avi")
            try:
                clip = decode_clip(path, fps=4, size=96, sample_rate=sr, want_video=is_video, want_audio=True)
            except MediaError:
                continue
            v = None
            if clip.video is not None:
                v = clip.video[np.linspace(0, len(clip.video) - 1, n_frames).round().astype(int)]
            name = str(m.df["label_name"].iloc[i]) if "label_name" in m.df else str(c)
            out.append((name, v, clip.audio))
            break
    return out, sr


def preview_grid(source, out_png, n_classes: int = 8, n_frames: int = 4, dpi: int = 100) -> Path:
    """Render the class grid of ``source`` (dataset folder, cache folder or CachedDataset) to ``out_png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, sr = _examples(source, n_classes, n_frames)
    if not rows:
        raise ValueError(f"preview_grid: no single-label clip found in {source}")
    has_video = any(v is not None for _, v, _ in rows)
    ncol = (n_frames if has_video else 0) + 1
    widths = ([1.0] * n_frames if has_video else []) + [2.6]
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.25 * sum(widths) + 1.8, 1.3 * len(rows)),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    for r, (name, frames, audio) in enumerate(rows):
        if has_video:
            for j in range(n_frames):
                ax = axes[r, j]
                if frames is not None:
                    ax.imshow(frames[j])
                ax.set_xticks([]), ax.set_yticks([])
            axes[r, 0].set_ylabel(name.replace("_", "\n", 1), fontsize=6, rotation=0, ha="right", va="center")
        ax = axes[r, -1]
        ax.imshow(log_mel(audio, sr), origin="lower", aspect="auto", cmap="magma",
                  extent=(0, len(audio) / sr, 0, 1))
        ax.set_yticks([])
        if not has_video:
            ax.set_ylabel(name.replace("_", "\n", 1), fontsize=6, rotation=0, ha="right", va="center")
        if r < len(rows) - 1:
            ax.set_xticks([])
        else:
            ax.set_xlabel("time (s)", fontsize=7)
            ax.tick_params(labelsize=6)
    axes[0, -1].set_title("log-mel", fontsize=8)
    if has_video:
        axes[0, 0].set_title("frames", fontsize=8, loc="left")
    fig.tight_layout(pad=0.3)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return out_png
