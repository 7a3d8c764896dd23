"""Media encoding and decoding: MP4 (H.264 + AAC) through PyAV, WAV/FLAC/OGG through soundfile.

Decoding returns plain numpy arrays in the layout the rest of ``avlib`` uses:

* video: ``uint8 [T, size, size, 3]`` sampled at a target ``fps`` (nearest decoded frame to each time
  ``k / fps``), short side resized to ``size`` then centre-cropped to a square;
* audio: ``float32 [S]`` mono, resampled to a target ``sample_rate`` (polyphase, zero-phase, so no delay).

Sync: timestamps are absolute (time 0 = container origin). FFmpeg's MP4 demuxer already removes the AAC
encoder priming (edit list); for containers where the first audio frame has a negative timestamp the
leading samples are dropped, and for a late audio start zeros are prepended, so audio sample 0 is time 0.
Decoded audio is trimmed to the stream duration (AAC pads its last frame).

Every failure raises :class:`MediaError` with ``reason`` in :data:`REASONS`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = [
    "MediaError", "REASONS", "DecodedClip", "write_av_mp4", "write_audio", "decode_video",
    "decode_audio", "decode_clip", "resample", "SOUNDFILE_EXTS",
]

REASONS = ("missing_file", "decode_error", "no_video_stream", "no_audio_stream")
SOUNDFILE_EXTS = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif"}
_CONTAINER_FORMATS = {".mp4": "mp4", ".m4a": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}


class MediaError(Exception):
    """A media file could not be used. ``reason`` is one of :data:`REASONS`; ``detail`` explains."""

    def __init__(self, path, reason: str, detail: str = ""):
        if reason not in REASONS:
            raise ValueError(f"MediaError reason must be one of {REASONS}, got {reason!r}")
        self.path, self.reason, self.detail = str(path), reason, detail
        super().__init__(f"{reason}: {path}" + (f" ({detail})" if detail else ""))

    def __reduce__(self):  # picklable across multiprocessing workers
        return (MediaError, (self.path, self.reason, self.detail))


@dataclass
class DecodedClip:
    """Result of :func:`decode_clip`. Durations are in seconds, as found in the file."""

    video: np.ndarray | None
    audio: np.ndarray | None
    native_sample_rate: int | None
    video_seconds: float | None
    audio_seconds: float | None


# ----------------------------------------------------------------------------------------- writing
def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_av_mp4(path, frames: np.ndarray | None, fps: float, audio: np.ndarray | None = None,
                 sample_rate: int | None = None, *, crf: int = 18, preset: str = "veryfast",
                 audio_bitrate: int = 96_000) -> Path:
    """Write ``frames`` (uint8 [T,H,W,3], H and W even) as H.264 and ``audio`` (float [S] in [-1, 1]) as
    AAC into one MP4 file, atomically. Either stream may be ``None`` (not both), which is how the tests
    build files without an audio or a video stream. Same inputs give byte-identical files."""
    path = Path(path)
    if frames is None and audio is None:
        raise ValueError(f"write_av_mp4({path}): frames and audio are both None")
    fmt = _CONTAINER_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"write_av_mp4: unsupported extension {path.suffix!r} in {path}")
    if frames is not None:
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"write_av_mp4({path}): frames must be uint8 [T,H,W,3], got "
                             f"{frames.dtype} {frames.shape}")
        if frames.shape[1] % 2 or frames.shape[2] % 2:
            raise ValueError(f"write_av_mp4({path}): H.264 yuv420p needs even H, W, got {frames.shape[1:3]}")
    if audio is not None and not sample_rate:
        raise ValueError(f"write_av_mp4({path}): audio given without sample_rate")
    import av

    tmp = _atomic_target(path)
    try:
        with av.open(str(tmp), "w", format=fmt) as out:
            vs = aus = None
            if frames is not None:
                vs = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
                # single-threaded and without mb-tree rate control: x264's mb-tree lookahead made output
                # bytes differ between encoder instances in one process; this keeps files byte-identical
                vs.options = {"crf": str(crf), "preset": preset, "threads": "1", "x264-params": "no-mbtree=1"}
                vs.codec_context.thread_count = 1
                vs.codec_context.thread_type = "NONE"
            if audio is not None:
                aus = out.add_stream("aac", rate=int(sample_rate))
                aus.layout = "mono"
                aus.bit_rate = audio_bitrate
            if vs is not None:
                for f in frames:
                    out.mux(vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
                out.mux(vs.encode())
            if aus is not None:
                a = np.clip(np.asarray(audio, np.float32).reshape(-1), -1.0, 1.0)
                for i in range(0, len(a), 1024):  # AAC frame size
                    af = av.AudioFrame.from_ndarray(a[None, i:i + 1024].copy(), format="fltp", layout="mono")
                    af.sample_rate, af.pts = int(sample_rate), i
                    out.mux(aus.encode(af))
                out.mux(aus.encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_audio(path, audio: np.ndarray, sample_rate: int, *, subtype: str | None = None) -> Path:
    """Write mono float ``audio`` (clipped to [-1, 1]) with soundfile (format from the extension:
    .wav/.flac/.ogg), atomically. FLAC/WAV default to 16-bit PCM."""
    import soundfile as sf

    path = Path(path)
    if path.suffix.lower() not in SOUNDFILE_EXTS:
        raise ValueError(f"write_audio: unsupported extension {path.suffix!r} in {path}")
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG"}.get(path.suffix.lower(), "AIFF")
    if subtype is None:
        subtype = "VORBIS" if fmt == "OGG" else "PCM_16"
    a = np.clip(np.asarray(audio, np.float32).reshape(-1), -1.0, 1.0)
    tmp = _atomic_target(path)
    try:
        sf.write(str(tmp), a, int(sample_rate), format=fmt, subtype=subtype)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# ----------------------------------------------------------------------------------------- decoding
def resample(x: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Polyphase (zero-phase) resampling of a 1-D float signal from ``orig_sr`` to ``new_sr``."""
    x = np.asarray(x, np.float32)
    if int(orig_sr) == int(new_sr) or len(x) == 0:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_sr), int(new_sr))
    y = resample_poly(x, int(new_sr) // g, int(orig_sr) // g)
    return y.astype(np.float32, copy=False)


def _to_mono(frame) -> np.ndarray:
    """One PyAV AudioFrame -> float32 mono [samples], whatever its sample format and layout."""
    a = frame.to_ndarray()
    ch = len(frame.layout.channels)
    if not frame.format.is_planar:
        a = a.reshape(-1, ch).T
    if a.dtype.kind == "i":
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    elif a.dtype.kind == "u":  # u8 PCM
        a = (a.astype(np.float32) - 128.0) / 128.0
    return a.astype(np.float32, copy=False).mean(axis=0)


def _frame_to_rgb(frame, size: int) -> np.ndarray:
    """Resize short side to ``size`` (swscale, area filter), centre-crop to ``size x size``."""
    w, h = frame.width, frame.height
    s = size / min(w, h)
    nw, nh = max(size, int(round(w * s))), max(size, int(round(h * s)))
    img = frame.reformat(width=nw, height=nh, format="rgb24", interpolation="AREA").to_ndarray()
    y0, x0 = (nh - size) // 2, (nw - size) // 2
    return img[y0:y0 + size, x0:x0 + size]


class _FrameSampler:
    """Streams decoded frames and keeps, for each target time k/fps, the nearest frame (converted once)."""

    def __init__(self, fps: float, size: int):
        self.fps, self.size, self.k, self.out = float(fps), int(size), 0, []
        self.prev = None  # [frame, converted array or None]
        self.prev_t = 0.0
        self.last_dt = 0.0

    def _get(self, item) -> np.ndarray:
        if item[1] is None:
            item[1] = _frame_to_rgb(item[0], self.size)
        return item[1]

    def push(self, frame, t: float):
        cur = [frame, None]
        if self.prev is not None:
            self.last_dt = max(t - self.prev_t, 0.0)
        while self.k / self.fps <= t:
            target = self.k / self.fps
            use_prev = self.prev is not None and (target - self.prev_t) < (t - target)
            self.out.append(self._get(self.prev if use_prev else cur))
            self.k += 1
        self.prev, self.prev_t = cur, t

    def finish(self, frame_dt: float | None) -> tuple[np.ndarray, float]:
        """Fill the targets up to the end of the last decoded frame (its time + one frame interval;
        ``frame_dt`` from the stream rate when only one frame decoded). Header durations are not trusted,
        so a truncated file comes out short instead of padded."""
        if self.prev is None:
            return np.zeros((0, self.size, self.size, 3), np.uint8), 0.0
        end = self.prev_t + (self.last_dt or frame_dt or 1.0 / self.fps)
        while self.k / self.fps < end - 1e-6:
            self.out.append(self._get(self.prev))
            self.k += 1
        return np.stack(self.out) if self.out else np.zeros((0, self.size, self.size, 3), np.uint8), end


def _place_audio(chunks: list[tuple[float, np.ndarray]], sr: int, duration: float | None) -> np.ndarray:
    """Concatenate decoded chunks so that sample 0 is time 0; trim to ``duration`` if known."""
    if not chunks:
        return np.zeros(0, np.float32)
    x = np.concatenate([c for _, c in chunks])
    start = int(round(chunks[0][0] * sr))
    if start < 0:
        x = x[-start:]
    elif start > 0:
        x = np.concatenate([np.zeros(start, np.float32), x])
    if duration is not None and duration > 0:
        x = x[: int(round(duration * sr))]
    return x


def _stream_seconds(stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        start = stream.start_time or 0
        return float((stream.duration + max(start, 0)) * stream.time_base)
    return None


def _decode_soundfile(path: Path, sample_rate: int | None) -> DecodedClip:
    import soundfile as sf

    try:
        a, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile raises LibsndfileError / RuntimeError
        raise MediaError(path, "decode_error", f"{type(e).__name__}: {e}") from None
    a = a.mean(axis=1)
    secs = len(a) / sr
    if sample_rate:
        a = resample(a, sr, sample_rate)
    return DecodedClip(None, a, int(sr), None, secs)


def decode_clip(path, *, fps: float | None = None, size: int | None = None,
                sample_rate: int | None = None, want_video: bool = True, want_audio: bool = True,
                threads: int = 1) -> DecodedClip:
    """Decode video and/or audio of one file in a single demux pass.

    ``want_video`` needs ``fps`` and ``size``; audio is resampled to ``sample_rate`` (``None`` keeps the
    native rate). Raises :class:`MediaError` (missing file, undecodable, missing wanted stream)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "missing_file", "no such file")
    if want_video and (not fps or not size):
        raise ValueError(f"decode_clip({path}): want_video needs fps and size, got fps={fps}, size={size}")
    if path.suffix.lower() in SOUNDFILE_EXTS:
        if want_video:
            raise MediaError(path, "no_video_stream", "audio-only file type")
        return _decode_soundfile(path, sample_rate) if want_audio else DecodedClip(None, None, None, None, None)
    import av

    try:
        container = av.open(str(path))
    except Exception as e:
        raise MediaError(path, "decode_error", f"{type(e).__name__}: {e}") from None
    try:
        vstream = container.streams.video[0] if container.streams.video else None
        astream = container.streams.audio[0] if container.streams.audio else None
        if want_video and vstream is None:
            raise MediaError(path, "no_video_stream")
        if want_audio and astream is None:
            raise MediaError(path, "no_audio_stream")
        streams = [s for s, w in ((vstream, want_video), (astream, want_audio)) if w]
        if not streams:
            return DecodedClip(None, None, None, None, None)
        if vstream is not None and want_video:
            vstream.codec_context.thread_count = threads
        sampler = _FrameSampler(fps, size) if want_video else None
        chunks: list[tuple[float, np.ndarray]] = []
        native_sr = astream.codec_context.sample_rate if (want_audio and astream is not None) else None
        try:
            for packet in container.demux(streams):
                for frame in packet.decode():
                    if packet.stream is vstream:
                        t = float(frame.time) if frame.time is not None else sampler.k / sampler.fps
                        sampler.push(frame, t)
                    else:
                        t = float(frame.time) if frame.time is not None else (
                            sum(len(c) for _, c in chunks) / native_sr)
                        native_sr = frame.sample_rate or native_sr
                        chunks.append((t, _to_mono(frame)))
        except MediaError:
            raise
        except Exception as e:  # av.error.* on corrupt / truncated data
            raise MediaError(path, "decode_error", f"{type(e).__name__}: {e}") from None
        video = vsecs = audio = asecs = None
        if want_video:
            rate = vstream.average_rate or vstream.guessed_rate
            video, vsecs = sampler.finish(1.0 / float(rate) if rate else None)
            if len(video) == 0:
                raise MediaError(path, "decode_error", "video stream produced no frames")
        if want_audio:
            if not chunks:
                raise MediaError(path, "decode_error", "audio stream produced no samples")
            audio = _place_audio(chunks, native_sr, _stream_seconds(astream))
            asecs = len(audio) / native_sr
            if sample_rate:
                audio = resample(audio, native_sr, sample_rate)
        return DecodedClip(video, audio, native_sr, vsecs, asecs)
    finally:
        container.close()


def decode_video(path, fps: float, size: int, *, threads: int = 1) -> np.ndarray:
    """Decode the video stream of ``path`` as uint8 [T, size, size, 3] sampled at ``fps``."""
    return decode_clip(path, fps=fps, size=size, want_audio=False, threads=threads).video


def decode_audio(path, sample_rate: int | None) -> np.ndarray:
    """Decode the audio of ``path`` as float32 mono [S] at ``sample_rate`` (``None``: native rate).
    soundfile reads wav/flac/ogg; PyAV reads any other container (mp4, flv, mkv, ...)."""
    return decode_clip(path, sample_rate=sample_rate, want_video=False).audio
