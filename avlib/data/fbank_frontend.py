"""The AudioMAE/MAViL audio front end as a method front end, and its dataset statistics.

:class:`FbankFrontend` is :class:`~avlib.data.audio.KaldiFbank` (128 Kaldi fbank bins, 25 ms Hanning windows
every 10 ms, padded or cut to ``target_frames``, ``(x - mean) / (2 std)``) with the interface the shared views
and evaluation expect of a front end: ``sample_rate``, ``hop_length`` and ``n_frames(n_samples)``, which is
the padded length the encoder sees. Output ``[B, 1, T, bins]``: time-major, as AudioMAE and MAViL tokenise.

:func:`fbank_stats` computes the normalisation statistics once over a cached training split (MAViL Table 10
uses the AudioSet training set's mean -4.268 / std 4.569), not per clip: the av-superb port's per-clip
fallback costs ~6 % mAP by its own comment (reference-notes §3.1).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from avlib.data.audio import KaldiFbank
from avlib.log import progress

__all__ = ["FbankFrontend", "fbank_stats", "read_fbank_stats", "write_fbank_stats"]


class FbankFrontend(KaldiFbank):
    """Kaldi fbank with a fixed output length: ``n_frames(n) == target_frames`` for any input length."""

    def __init__(self, *, target_frames: int, **kw):
        super().__init__(target_frames=target_frames, **kw)
        self.hop_length = self.shift

    def n_frames(self, n_samples: int) -> int:
        """The frames the encoder sees: ``target_frames`` (the fbank is padded or cut to it)."""
        return int(self.target_frames)

    def raw_frames(self, n_samples: int) -> int:
        """Frames before padding or cutting (``snip_edges``)."""
        return super().n_frames(n_samples)


@torch.no_grad()
def fbank_stats(
    audio: np.ndarray,
    frontend: KaldiFbank,
    *,
    window_samples: int | None = None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> dict:
    """Mean and standard deviation of the un-normalised log fbank over every frame and bin of ``audio``.

    Args:
        audio: ``[N, S]`` float waveforms (a cache's ``audio`` array).
        frontend: the fbank settings (its ``mean``/``std`` are not used).
        window_samples: the training window length (default: the whole clip); each clip contributes every
            non-overlapping window of that length from its start, framed as in training.
    Returns:
        ``{"mean", "std", "frames", "clips", "bins", "window_samples"}`` (float64 sums; padding excluded).
    """
    audio = np.asarray(audio)
    if audio.ndim != 2 or len(audio) == 0:
        raise ValueError(f"fbank_stats: audio must be a non-empty [N, S] array, got shape {audio.shape}")
    S = audio.shape[1]
    L = S if window_samples is None else int(window_samples)
    if not frontend.win <= L <= S:
        raise ValueError(f"fbank_stats: window of {L} samples must lie in [{frontend.win}, {S}]")
    starts = list(range(0, S - L + 1, L))
    total = total_sq = 0.0
    count = 0
    for i in progress(range(0, len(audio), batch_size), desc="fbank stats", leave=False, disable=None if show_progress else True):
        wave = torch.from_numpy(np.ascontiguousarray(audio[i : i + batch_size]).astype(np.float32))
        for s in starts:
            fb = frontend.log_fbank(wave[:, s : s + L]).double()
            total += float(fb.sum())
            total_sq += float(fb.square().sum())
            count += fb.numel()
    mean = total / count
    std = math.sqrt(max(total_sq / count - mean * mean, 0.0))
    return {
        "mean": mean,
        "std": std,
        "frames": count // frontend.num_mel_bins,
        "clips": int(len(audio)),
        "bins": int(frontend.num_mel_bins),
        "window_samples": int(L),
    }


def write_fbank_stats(stats: dict, path: str | Path) -> Path:
    """Write ``stats`` as JSON atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(stats, indent=2) + "\n")
    tmp.replace(path)
    return path


def read_fbank_stats(path: str | Path) -> tuple[float, float]:
    """``(mean, std)`` from a file of :func:`write_fbank_stats`; errors name the file and the command that makes it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"fbank statistics {path} not found: build them with `python -m avlib data fbank-stats` "
            f"(the `fbank_stats` stage of dvc.yaml)"
        )
    d = json.loads(path.read_text())
    for k in ("mean", "std"):
        if not isinstance(d.get(k), (int, float)):
            raise ValueError(f"{path}: key {k!r} must be a number, got {d.get(k)!r}")
    if not d["std"] > 0:
        raise ValueError(f"{path}: std must be > 0, got {d['std']}")
    return float(d["mean"]), float(d["std"])
