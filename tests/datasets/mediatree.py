"""Small real media files for the loader tests (official-layout trees are built from these)."""

from pathlib import Path


def write_avi(
    path: Path, seconds: float = 1.0, fps: int = 10, size: int = 32, sample_rate: int = 8000, audio: bool = True
) -> Path:
    """A small real AVI (MPEG-4 part 2 video + PCM audio), the container UCF101/HMDB51 ship in."""
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    with av.open(str(path), "w", format="avi") as out:
        vs = out.add_stream("mpeg4", rate=fps)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("pcm_s16le", rate=sample_rate, layout="mono") if audio else None
        for _ in range(int(seconds * fps)):
            img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode())
        if aus is not None:
            n = int(seconds * sample_rate)
            wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / sample_rate) * 32767).astype(np.int16)
            for i in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(wave[None, i : i + 1024].copy(), format="s16", layout="mono")
                af.sample_rate, af.pts = sample_rate, i
                out.mux(aus.encode(af))
            out.mux(aus.encode())
    return path


def write_wav(path: Path, seconds: float = 0.5, sample_rate: int = 16000) -> Path:
    import numpy as np

    from avlib.data.media import write_audio

    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return write_audio(path, 0.2 * np.sin(2 * np.pi * 330 * t), sample_rate)


def write_mp4(path: Path, seconds: float = 1.0, fps: int = 10, size: int = 32, sample_rate: int = 16000) -> Path:
    import numpy as np

    from avlib.data.media import write_av_mp4

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (int(seconds * fps), size, size, 3), dtype=np.uint8)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return write_av_mp4(path, frames, fps, 0.2 * np.sin(2 * np.pi * 220 * t), sample_rate)
