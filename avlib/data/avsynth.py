"""avsynth: a procedural audio-visual event dataset (DESIGN section 3), written as real media files.

World model. ``K`` event classes come in pairs ``(2g, 2g+1)`` ("concepts"). A class fixes a visual
signature (object shape, texture, motion pattern) and an audio signature (timbre, pitch contour, register);
both share a rhythm: the same event times drive visual events (bounce impacts, wall hits, size/brightness
pulses) and audio note onsets, so the two modalities are synchronised. Pair types cycle over concepts:

* ``video_ambiguous``: same shape/texture/motion, different timbre + contour; in video only a subtle
  size cue remains (strength ``1 - pair_ambiguity``);
* ``audio_ambiguous``: same sound, different shape + texture; in audio only a subtle pitch offset remains;
* ``distinct``: differ in both modalities.

Nuisances (scaled by ``difficulty``): video: textured drifting background, distractor shapes drawn from the
same shape set, random object colour (pulled towards the signature's colour by ``colour_cue``) and size,
sensor noise, brightness/contrast; audio: coloured background
noise, a random exponentially decaying room impulse response, unsynchronised distractor notes, timbre blending,
transposition, level. The audio cue dominates its signal while the video object covers ~2-3 % of the pixels,
so cross-modal distillation from audio has something to add to video (the effect XKD measures).

Determinism: clip ``i`` of split ``s`` of dataset ``d`` uses ``np.random.default_rng([seed, d, s, i])``, so a
same-seed run gives byte-identical arrays and a smaller dataset is a prefix of a larger one (the pretraining
set at several sizes for the scalability study = prefixes of ``pretrain``). Datasets play fixed roles
(:data:`ROLES`): pretrain, k400, ucf, hmdb, ks, esc, fsd; :func:`generate_all` builds them from a plain dict.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
import zlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .media import write_audio, write_av_mp4

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star", "ring", "hexagon")
TEXTURES = ("solid", "stripes", "checker", "rings")
MOTIONS = ("bounce", "orbit", "slide", "pulse")
RHYTHMS = ("slow", "fast", "gallop", "accel")
TIMBRES = ("sine", "square", "saw", "bell", "reed", "noise", "pluck", "tom")
CONTOURS = ("flat", "rise", "fall", "vibrato")
REGISTERS = (196.0, 262.0, 349.0, 466.0)
PAIR_TYPES = ("video_ambiguous", "video_ambiguous", "audio_ambiguous", "distinct")
# timbre -> (partial ratios, partial amplitudes, decay time constant s, high partials decay faster)
_TIMBRE = {
    "sine": ([1, 2], [1, .08], .25, False), "square": ([1, 3, 5, 7, 9], [1, 1 / 3, .2, 1 / 7, 1 / 9], .2, False),
    "saw": (list(range(1, 9)), [1 / k for k in range(1, 9)], .2, False),
    "bell": ([1, 2.76, 5.40, 8.93], [1, .6, .35, .2], .45, True),
    "reed": (list(range(1, 7)), [.4, .7, 1, .6, .3, .15], .22, False),
    "pluck": (list(range(1, 11)), [1 / k for k in range(1, 11)], .3, True),
    "tom": ([1, 1.6], [1, .3], .18, False), "noise": ([], [], .12, False),
}


@dataclass(frozen=True)
class AVSynthSpec:
    """Generation parameters (all plain numbers, stored in each dataset's meta.json)."""

    num_classes: int = 16
    difficulty: float = 0.5
    pair_ambiguity: float = 0.75
    src_fps: int = 16
    src_size: int = 96
    duration: float = 3.0
    src_sample_rate: int = 22050
    object_scale: float = 0.09
    max_distractors: int = 6
    colour_cue: float = 0.0
    video_crf: int = 18

    def __post_init__(self):
        checks = {"num_classes": self.num_classes % 2 == 0 and 2 <= self.num_classes <= 32,
                  "difficulty": 0.0 <= self.difficulty <= 1.0, "pair_ambiguity": 0.0 <= self.pair_ambiguity <= 1.0,
                  "src_fps": self.src_fps > 0, "src_size": self.src_size >= 16 and self.src_size % 2 == 0,
                  "duration": self.duration >= 1.0, "src_sample_rate": self.src_sample_rate >= 8000,
                  "object_scale": 0.02 <= self.object_scale <= 0.3, "max_distractors": self.max_distractors >= 0,
                  "colour_cue": 0.0 <= self.colour_cue <= 1.0,
                  "video_crf": 0 <= self.video_crf <= 51}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"AVSynthSpec.{name}={getattr(self, name)!r} is out of range "
                                 "(num_classes even in [2,32], difficulty/pair_ambiguity in [0,1], src_size even "
                                 ">=16, duration>=1 s, src_sample_rate>=8000, object_scale in [0.02,0.3], colour_cue in [0,1])")

    @classmethod
    def from_dict(cls, d: dict | None) -> "AVSynthSpec":
        """Build from a plain dict, rejecting unknown keys (named in the error)."""
        d = dict(d or {})
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown AVSynthSpec keys {sorted(unknown)}; known: {[f.name for f in fields(cls)]}")
        return cls(**d)


@dataclass(frozen=True)
class EventClass:
    """One latent event class: visual + audio signature and its pair relation."""

    index: int
    name: str
    shape: str
    texture: str
    motion: str
    rhythm: str
    timbre: str
    contour: str
    pitch: float
    pair_type: str
    member: int


@functools.lru_cache(maxsize=None)
def class_table(num_classes: int = 16) -> tuple[EventClass, ...]:
    """The fixed class world for ``num_classes`` classes (independent of the seed)."""
    if num_classes % 2 or not 2 <= num_classes <= 32:
        raise ValueError(f"num_classes must be even in [2, 32], got {num_classes}")
    out = []
    for g in range(num_classes // 2):
        ptype = PAIR_TYPES[g % 4]
        a = dict(shape=SHAPES[g % 8], texture=TEXTURES[(g + g // 8) % 4], motion=MOTIONS[(g + g // 2) % 4],
                 rhythm=RHYTHMS[(3 * g + g // 4) % 4], timbre=TIMBRES[(g + g // 8) % 8],
                 contour=CONTOURS[(g + g // 4) % 4], pitch=REGISTERS[(3 * g + g // 8) % 4])
        b = dict(a)
        if ptype in ("video_ambiguous", "distinct"):
            b.update(timbre=TIMBRES[(TIMBRES.index(a["timbre"]) + 3) % 8],
                     contour=CONTOURS[(CONTOURS.index(a["contour"]) + 2) % 4])
        if ptype in ("audio_ambiguous", "distinct"):
            b.update(shape=SHAPES[(g + 3) % 8], texture=TEXTURES[(TEXTURES.index(a["texture"]) + 2) % 4])
        for m, attrs in enumerate((a, b)):
            i = 2 * g + m
            name = f"c{i:02d}_" + "_".join(attrs[k] for k in ("shape", "texture", "motion", "timbre", "contour"))
            out.append(EventClass(i, name, pair_type=ptype, member=m, **attrs))
    return tuple(out)


CLASS_NAMES = tuple(c.name for c in class_table(16))


# ------------------------------------------------------------------------------------------ events
def _event_times(rhythm: str, rng: np.random.Generator, spec: AVSynthSpec) -> np.ndarray:
    """Onset times (s) of the class rhythm with per-clip tempo, phase and jitter nuisance."""
    tempo = 2.0 ** (rng.uniform(-1, 1) * 0.25)
    k = np.arange(40)
    iv = {"slow": np.full(40, .72), "fast": np.full(40, .33), "gallop": np.where(k % 2 == 0, .16, .62),
          "accel": np.maximum(.8 * .8 ** k, .12)}[rhythm] * tempo
    t = rng.uniform(0.1, 0.45) + np.concatenate([[0.0], np.cumsum(iv)])
    t = t + rng.normal(0, 0.006 + 0.01 * spec.difficulty, t.shape)
    t = np.sort(t[(t >= 0.05) & (t < spec.duration - 0.1)])
    return t if len(t) else np.array([0.2])


def _decay(t: np.ndarray, ev: np.ndarray, tau: float) -> np.ndarray:
    """Sum over events of a one-sided exponential ``exp(-(t-e)/tau)`` for ``t >= e``; [T]."""
    dt = t[:, None] - ev[None, :]
    return np.where(dt >= 0, np.exp(-np.maximum(dt, 0) / tau), 0.0).sum(1).astype(np.float32)


def _fold(p0, v, t, lo, hi):
    """Linear motion ``p0 + v t`` reflected inside ``[lo, hi]``."""
    u = (p0 - lo + v * t) / (hi - lo)
    return lo + (hi - lo) * (1 - np.abs(np.mod(u, 2.0) - 1))


# ------------------------------------------------------------------------------------------- video
def _shape_dist(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Normalised distance-like function, <= 1 inside the unit-size shape (object frame coords)."""
    if shape == "circle":
        return np.sqrt(u * u + v * v)
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) * 1.15
    if shape == "diamond":
        return (np.abs(u) + np.abs(v)) * 0.85
    if shape in ("triangle", "hexagon"):
        n, inr = (3, .62) if shape == "triangle" else (6, .9)
        th = np.pi / 2 + 2 * np.pi * np.arange(n) / n
        return np.max([u * np.cos(a) + v * np.sin(a) for a in th], axis=0) / inr
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return np.minimum(np.maximum(au / .38, av), np.maximum(au, av / .38))
    if shape == "star":
        return np.sqrt(u * u + v * v) / (0.68 + 0.32 * np.cos(5 * np.arctan2(v, u)))
    if shape == "ring":
        return np.abs(np.sqrt(u * u + v * v) - 0.7) / 0.3
    raise ValueError(f"unknown shape {shape!r}")


def _texture(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Brightness pattern in [0.35, 1] that moves and rotates with the object."""
    if texture == "solid":
        return np.ones_like(u)
    p = {"stripes": np.sin(3.2 * np.pi * u), "checker": np.sin(3 * np.pi * u) * np.sin(3 * np.pi * v),
         "rings": np.sin(4 * np.pi * np.sqrt(u * u + v * v))}[texture]
    return 0.675 + 0.325 * np.tanh(4 * p)


def signature_colour(shape: str, texture: str) -> np.ndarray:
    """The fixed RGB colour of a visual signature (shape, texture): hues spread by the golden ratio.

    Classes that look alike (``video_ambiguous`` pairs) share shape and texture, hence this colour."""
    h = ((SHAPES.index(shape) * len(TEXTURES) + TEXTURES.index(texture)) * 0.618034) % 1.0
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6  # HSV -> RGB with S = 0.8, V = 0.95
    return (0.95 - 0.95 * 0.8 * np.clip(np.minimum(k, 4 - k), 0, 1)).astype(np.float32)


def _draw(frame, shape, texture, colour, cx, cy, r, angle, gain):
    """Alpha-composite one anti-aliased, textured, rotating shape into ``frame`` [T,H,W,3] in place.

    Only a per-frame square window around the shape is touched (gather, blend, scatter)."""
    T, H = frame.shape[:2]
    ex = lambda a: np.asarray(a, np.float32).reshape(-1, 1, 1)  # noqa: E731
    R = int(np.ceil(1.25 * float(np.max(r)) + 1.5))
    w = min(2 * R, H)
    x0 = np.clip(np.round(np.asarray(cx)).astype(int) - R, 0, H - w)
    y0 = np.clip(np.round(np.asarray(cy)).astype(int) - R, 0, H - w)
    xs, ys = x0[:, None] + np.arange(w), y0[:, None] + np.arange(w)
    dx = xs[:, None, :].astype(np.float32) + .5 - ex(cx)
    dy = ys[:, :, None].astype(np.float32) + .5 - ex(cy)
    r, c, s = ex(r), ex(np.cos(angle)), ex(np.sin(angle))
    u, v = (dx * c + dy * s) / r, (dy * c - dx * s) / r
    alpha = np.clip((1 - _shape_dist(shape, u, v)) * r + 0.5, 0, 1)[..., None]
    shade = (_texture(texture, u, v) * ex(gain))[..., None] * np.asarray(colour, np.float32)
    idx = (np.arange(T)[:, None, None], ys[:, :, None], xs[:, None, :])
    sub = frame[idx]
    frame[idx] = sub + alpha * (shade - sub)


def _trajectory(motion, ev, t, rng, H, r0):
    """Centre x/y, radius, angle and brightness gain per frame for the class motion pattern."""
    m = 1.5 * r0
    pulse = _decay(t, ev, 0.1)
    gain = 1.0 + 0.3 * _decay(t, ev, 0.08)
    angle = rng.uniform(0, 2 * np.pi) + rng.uniform(-1.5, 1.5) * t
    scale = np.ones_like(t)
    if motion == "bounce":
        floor, height = H - m - rng.uniform(0, .1 * H), rng.uniform(.3, .45) * H
        gap = ev[1] - ev[0] if len(ev) > 1 else .6
        e = np.concatenate([[ev[0] - gap], ev, [ev[-1] + gap, ev[-1] + 99]])
        i = np.clip(np.searchsorted(e, t, side="right") - 1, 0, len(e) - 2)
        sfrac = np.clip((t - e[i]) / (e[i + 1] - e[i]), 0, 1)
        cy = floor - height * 4 * sfrac * (1 - sfrac)
        cx = _fold(rng.uniform(m, H - m), rng.uniform(-12, 12), t, m, H - m)
        scale = 1 - 0.2 * _decay(t, ev, 0.06)
    elif motion == "orbit":
        R, w, ph = rng.uniform(.18, .26) * H, rng.choice([-1, 1]) * rng.uniform(2, 4), rng.uniform(0, 2 * np.pi)
        c0 = rng.uniform(m + R, H - m - R, 2) if H - 2 * (m + R) > 0 else np.full(2, H / 2)
        cx, cy = c0[0] + R * np.cos(w * t + ph), c0[1] + R * np.sin(w * t + ph)
        scale = 1 + 0.35 * pulse
    elif motion == "slide":
        lo, hi = m, H - m
        side = rng.integers(2)
        xs = np.where((np.arange(len(ev) + 2) + side) % 2 == 0, lo, hi)
        tt = np.concatenate([[ev[0] - (ev[1] - ev[0] if len(ev) > 1 else .6)], ev, [ev[-1] + .6]])
        cx = np.interp(t, tt, xs)
        cy = rng.uniform(m, H - m) + 3 * np.sin(2 * t + rng.uniform(0, 6))
    else:  # pulse: wanders slowly, swells and turns on each event
        c0 = rng.uniform(.3 * H, .7 * H, 2)
        cx, cy = c0[0] + 5 * np.sin(1.3 * t + rng.uniform(0, 6)), c0[1] + 5 * np.sin(1.7 * t + rng.uniform(0, 6))
        scale = 1 + 0.55 * pulse
        angle = angle + (np.pi / 6) * (t[:, None] >= ev[None, :]).sum(1)
    return cx, cy, r0 * scale, angle, gain


def _render_video(cls: EventClass, ev, rng, spec: AVSynthSpec) -> np.ndarray:
    """Render uint8 [T,H,W,3] frames for one clip (vectorised over frames and pixels)."""
    H, d = spec.src_size, spec.difficulty
    t = np.arange(int(round(spec.duration * spec.src_fps)), dtype=np.float32) / spec.src_fps
    yy, xx = (np.arange(H, dtype=np.float32)[:, None] + .5), (np.arange(H, dtype=np.float32)[None, :] + .5)
    base = rng.uniform(.25, .75, 3).astype(np.float32)
    grat = np.empty((len(t), H, H, 4), np.float32)
    mix = np.empty((4, 3), np.float32)
    for k in range(4):  # drifting gratings = textured background, contrast grows with difficulty
        f = 2 * np.pi * rng.uniform(1, 7, 2) / H * rng.choice([-1, 1], 2)
        a = f[0] * xx + (rng.uniform(0, 6) + rng.uniform(-2, 2) * t)[:, None, None]  # [T,1,W]
        grat[..., k] = np.sin(a) * np.cos(f[1] * yy) + np.cos(a) * np.sin(f[1] * yy)
        mix[k] = rng.uniform(.03, .06 + .14 * d) * rng.uniform(-1, 1, 3)
    frame = grat @ mix
    frame += base
    size_cue = 1 + 0.6 * (1 - spec.pair_ambiguity) if (cls.pair_type == "video_ambiguous" and cls.member) else 1
    r0 = spec.object_scale * H * rng.uniform(0.9, 1.1) * size_cue
    colour = rng.uniform(.15, 1, 3)
    colour = (1 - spec.colour_cue) * colour + spec.colour_cue * signature_colour(cls.shape, cls.texture)
    obj = (cls.shape, cls.texture, colour, *_trajectory(cls.motion, ev, t, rng, H, r0))
    n_dis = int(rng.integers(int(round(.5 * d * spec.max_distractors)), int(round(d * spec.max_distractors)) + 1))
    layers = []
    for _ in range(n_dis):
        m = spec.object_scale * H * 1.5
        dis = (SHAPES[rng.integers(8)], TEXTURES[rng.integers(4)], rng.uniform(.15, 1, 3),
               _fold(rng.uniform(m, H - m), rng.uniform(-25, 25), t, m, H - m),
               _fold(rng.uniform(m, H - m), rng.uniform(-25, 25), t, m, H - m),
               np.full_like(t, spec.object_scale * H * rng.uniform(.6, 1.15)),
               rng.uniform(0, 6) + rng.uniform(-2, 2) * t, np.ones_like(t))
        layers.append((rng.uniform() < .5, dis))  # (in front of the object?, params)
    for front, dis in layers:
        if not front:
            _draw(frame, *dis)
    _draw(frame, *obj)
    for front, dis in layers:
        if front:
            _draw(frame, *dis)
    gain = rng.uniform(1 - .3 * d, 1 + .1 * d) * 255
    frame *= np.float32(gain)
    frame += np.float32((.5 + rng.uniform(-.1, .1) * d) * 255 - .5 * gain + .5)
    frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32((.008 + .03 * d) * 255)
    return np.clip(frame, 0, 255.99, out=frame).astype(np.uint8)  # +.5 above: rounds


# ------------------------------------------------------------------------------------------- audio
def _note(timbre: str, contour: str, f0: float, n: int, sr: int, rng) -> np.ndarray:
    """One enveloped note of ``n`` samples."""
    tt = np.arange(n, dtype=np.float64) / sr
    glide = 5 / 12 * np.minimum(tt / .25, 1)
    f = f0 * {"flat": 1.0, "rise": 2 ** glide, "fall": 2 ** -glide,
              "vibrato": 1 + .035 * np.sin(2 * np.pi * 7 * tt)}[contour] * np.ones_like(tt)
    ratios, amps, tau, bright = _TIMBRE[timbre]
    if timbre == "tom":
        f = f * (1 + 1.5 * np.exp(-tt / .025))
    if timbre == "noise":
        spec = np.fft.rfft(rng.standard_normal(n))
        fr = np.fft.rfftfreq(n, 1 / sr)
        x = np.fft.irfft(spec * np.exp(-.5 * ((fr - 3 * f0) / f0) ** 2), n)
        x /= np.abs(x).max() + 1e-9
    else:
        phase = 2 * np.pi * np.cumsum(f) / sr
        r, a = np.asarray(ratios, float)[:, None], np.asarray(amps, float)[:, None]
        keep = (r[:, 0] * f.max() < .45 * sr)
        dec = np.exp(-tt[None] * (r - 1) / (2 * tau)) if bright else 1.0
        x = (a * dec * np.sin(r * phase[None] + rng.uniform(0, 6, r.shape)))[keep].sum(0) / a.sum()
    env = np.minimum(tt / .004, 1) * np.exp(-tt / tau) * np.minimum((n - np.arange(n)) / (.005 * sr), 1)
    return x * env


def _dry_audio(cls: EventClass, ev, rng, spec: AVSynthSpec) -> np.ndarray:
    """Notes of the class at the event times (plus timbre blending and transposition nuisance)."""
    sr, d = spec.src_sample_rate, spec.difficulty
    n = int(round(spec.duration * sr))
    out = np.zeros(n)
    f0 = cls.pitch * 2 ** (rng.uniform(-1, 1) * 1.5 * d / 12)
    if cls.pair_type == "audio_ambiguous" and cls.member:
        f0 *= 2 ** (4 * (1 - spec.pair_ambiguity) / 12)
    other, w = TIMBRES[rng.integers(8)], d * .35 * rng.uniform()
    for e in ev:
        i0 = int(round(e * sr))
        m = min(int(.6 * sr), n - i0)
        note = (1 - w) * _note(cls.timbre, cls.contour, f0, m, sr, rng) + w * _note(other, cls.contour, f0, m, sr, rng)
        out[i0:i0 + m] += rng.uniform(.7, 1) * note
    return out


def _audio_nuisance(x: np.ndarray, rng, spec: AVSynthSpec) -> np.ndarray:
    """Distractor notes, room reverb, coloured background noise and level; returns float32."""
    sr, d, n = spec.src_sample_rate, spec.difficulty, len(x)
    for _ in range(int(rng.poisson(1.5 * d))):  # unsynchronised distractor notes
        i0, m = int(rng.integers(0, n - sr // 10)), int(.4 * sr)
        timbre, contour = TIMBRES[rng.integers(8)], CONTOURS[rng.integers(4)]
        note = _note(timbre, contour, rng.uniform(150, 900), min(m, n - i0), sr, rng)
        x[i0:i0 + len(note)] += rng.uniform(.1, .3) * note
    rt60 = rng.uniform(.05, .15 + .7 * d)
    L = int(rt60 * sr)
    ir = rng.standard_normal(L) * np.exp(-6.9 * np.arange(L) / L)
    ir = ir / (np.linalg.norm(ir) + 1e-9) * rng.uniform(.1, .2 + .5 * d)
    ir[0] += 1.0
    nfft = 1 << int(np.ceil(np.log2(n + L)))
    x = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(ir, nfft), nfft)[:n]
    fr = np.fft.rfftfreq(n, 1 / sr)
    noise = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * np.maximum(fr, 20) ** (-rng.uniform(0, 2) / 2), n)
    snr_db = rng.uniform(22, 35) - 18 * d
    x = x + noise * (np.sqrt(np.mean(x ** 2)) / (np.sqrt(np.mean(noise ** 2)) + 1e-12) / 10 ** (snr_db / 20))
    return (x * (rng.uniform(.15, .9) / (np.abs(x).max() + 1e-9))).astype(np.float32)


def render_clip(class_id: int, rng: np.random.Generator, spec: AVSynthSpec = AVSynthSpec(), *,
                video: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """Render one clip of class ``class_id``: (frames uint8 [T,H,W,3] or None, audio float32 [S]).

    The audio does not depend on ``video`` (separate child generators), so an audio-only dataset holds
    the same sounds an AV one would."""
    table = class_table(spec.num_classes)
    if not 0 <= int(class_id) < len(table):
        raise ValueError(f"class_id {class_id} out of range for num_classes={spec.num_classes}")
    cls = table[int(class_id)]
    ev = _event_times(cls.rhythm, rng, spec)
    rv, ra = rng.spawn(2)
    frames = _render_video(cls, ev, rv, spec) if video else None
    return frames, _audio_nuisance(_dry_audio(cls, ev, ra, spec), ra, spec)


def render_mixture(class_ids, rng: np.random.Generator, spec: AVSynthSpec = AVSynthSpec()) -> np.ndarray:
    """Audio-only mixture of several events (each with its own rhythm and gain), shared nuisances."""
    table = class_table(spec.num_classes)
    kids = rng.spawn(len(class_ids) + 1)
    mix = 0.0
    for c, r in zip(class_ids, kids):
        if not 0 <= int(c) < len(table):
            raise ValueError(f"class_id {c} out of range for num_classes={spec.num_classes}")
        dry = _dry_audio(table[int(c)], _event_times(table[int(c)].rhythm, r, spec), r, spec)
        mix = mix + r.uniform(.5, 1) * dry / (np.abs(dry).max() + 1e-9)
    return _audio_nuisance(np.asarray(mix, float), kids[-1], spec)


# ------------------------------------------------------------------------------- dataset generation
ROLES = {  # role -> defaults; "classes" is a fraction range of the K classes
    "pretrain": dict(modality="av", multilabel=False, classes=(0, 1), difficulty_delta=0.0, labelled=False),
    "k400": dict(modality="av", multilabel=False, classes=(0, 1), difficulty_delta=0.0, labelled=True),
    "ucf": dict(modality="av", multilabel=False, classes=(0, .75), difficulty_delta=0.0, labelled=True),
    "hmdb": dict(modality="av", multilabel=False, classes=(.375, 1), difficulty_delta=0.15, labelled=True),
    "ks": dict(modality="av", multilabel=False, classes=(0, 1), difficulty_delta=0.0, labelled=True),
    "esc": dict(modality="audio", multilabel=False, classes=(0, 1), difficulty_delta=0.0, labelled=True),
    "fsd": dict(modality="audio", multilabel=True, classes=(0, 1), difficulty_delta=0.0, labelled=True),
}
_DATASET_IDS = {name: i for i, name in enumerate(ROLES)}
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
_DATASET_KEYS = {"splits", "classes", "difficulty", "difficulty_delta", "modality", "multilabel"}


def _sz(train: int, val: int = 0, test: int = 0) -> dict:
    return {"splits": {k: v for k, v in (("train", train), ("val", val), ("test", test)) if v}}


PROFILES = {  # ready-made generate_all configs (the lead copies them into params YAML)
    "smoke": {"spec": {}, "workers": 2, "datasets": {
        "pretrain": _sz(48), "k400": _sz(32, 16, 16), "ucf": _sz(24, 12, 12), "hmdb": _sz(20, 10, 10),
        "ks": _sz(32, 16, 16), "esc": _sz(32, 16, 16), "fsd": _sz(32, 16, 16)}},
    "tiny": {"spec": {}, "workers": 2, "datasets": {
        "pretrain": _sz(2400), "k400": _sz(384, 96, 192), "ucf": _sz(240, 60, 120), "hmdb": _sz(120, 40, 80),
        "ks": _sz(320, 80, 160), "esc": _sz(320, 80, 160), "fsd": _sz(400, 100, 200)}},
}


def default_config(profile: str = "tiny") -> dict:
    """A deep copy of the built-in :func:`generate_all` config for ``profile`` ('smoke' or 'tiny')."""
    if profile not in PROFILES:
        raise ValueError(f"unknown avsynth profile {profile!r}; known: {sorted(PROFILES)}")
    return json.loads(json.dumps(PROFILES[profile]))


def _dataset_id(name: str) -> int:
    return _DATASET_IDS.get(name, 1000 + zlib.crc32(name.encode()) % 100000)


def _make_clip(task: tuple) -> dict:
    """Worker: render, encode and write one clip; returns its manifest record (+ array digest)."""
    tmp_dir, name, split, index, seed, spec, classes, multilabel, modality = task
    rng = np.random.default_rng([seed, _dataset_id(name), _SPLIT_IDS.get(split, 9), index])
    table, C = class_table(spec.num_classes), len(classes)
    labels = [index % C]
    if multilabel:
        k = int(rng.integers(1, 4))
        rest = [c for c in range(C) if c != labels[0]]
        labels = sorted(labels + [int(c) for c in rng.choice(rest, size=min(k - 1, len(rest)), replace=False)])
        frames, audio = None, render_mixture([classes[c] for c in labels], rng, spec)
    else:
        frames, audio = render_clip(classes[labels[0]], rng, spec, video=modality == "av")
    clip_id = f"{name}_{split}_{index:06d}"
    rel = f"media/{clip_id}." + ("mp4" if modality == "av" else "flac")
    if modality == "av":
        write_av_mp4(Path(tmp_dir) / rel, frames, spec.src_fps, audio, spec.src_sample_rate, crf=spec.video_crf)
    else:
        write_audio(Path(tmp_dir) / rel, audio, spec.src_sample_rate)
    h = hashlib.sha1(audio.tobytes())
    if frames is not None:
        h.update(frames.tobytes())
    return dict(clip_id=clip_id, path=rel, split=split, label=";".join(map(str, labels)),
                label_name=";".join(table[classes[c]].name for c in labels), duration=spec.duration,
                _digest=h.hexdigest())


def generate_dataset(out_dir, name: str, spec: AVSynthSpec, *, seed: int, n_clips_per_split: dict,
                     classes: list[int] | None = None, multilabel: bool = False, modality: str = "av",
                     progress: bool = True, workers: int = 2) -> Path:
    """Generate ``<out_dir>/<name>/{media/, manifest.csv, classes.csv, meta.json}`` (built in a temporary
    folder and renamed, so an interrupted run leaves no half dataset). Same arguments give byte-identical
    files (meta.json holds no timings). Labels in the manifest are local
    indices into ``classes.csv``; ``classes`` are global class ids (default: all)."""
    from .cache import parallel_map
    from .manifest import Manifest

    classes = list(range(spec.num_classes)) if classes is None else [int(c) for c in classes]
    if not classes or len(set(classes)) != len(classes) or not all(0 <= c < spec.num_classes for c in classes):
        raise ValueError(f"dataset {name!r}: classes must be distinct ids in [0, {spec.num_classes}), got {classes}")
    if modality not in ("av", "audio"):
        raise ValueError(f"dataset {name!r}: modality must be 'av' or 'audio', got {modality!r}")
    if multilabel and modality != "audio":
        raise ValueError(f"dataset {name!r}: multilabel mixtures are audio-only (modality='audio')")
    bad = {s: n for s, n in dict(n_clips_per_split).items() if s not in _SPLIT_IDS or int(n) < 1}
    if bad or not n_clips_per_split:
        raise ValueError(f"dataset {name!r}: n_clips_per_split needs splits in {list(_SPLIT_IDS)} with >=1 clip, "
                         f"got {n_clips_per_split}")
    out_dir = Path(out_dir)
    final, tmp = out_dir / name, out_dir / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "media").mkdir(parents=True)
    tasks = [(str(tmp), name, s, i, int(seed), spec, classes, multilabel, modality)
             for s, n in n_clips_per_split.items() for i in range(int(n))]
    recs = list(parallel_map(_make_clip, tasks, workers, f"avsynth {name}", progress))
    digest = hashlib.sha1("".join(r.pop("_digest") for r in recs).encode()).hexdigest()
    Manifest(pd.DataFrame(recs), root=tmp).write(tmp / "manifest.csv")
    table = class_table(spec.num_classes)
    pd.DataFrame({"index": range(len(classes)), "name": [table[c].name for c in classes], "global_id": classes,
                  "pair_type": [table[c].pair_type for c in classes]}).to_csv(tmp / "classes.csv", index=False)
    meta = dict(name=name, generator="avlib.data.avsynth", spec=asdict(spec), seed=int(seed), modality=modality,
                multilabel=multilabel, labelled=ROLES.get(name, {}).get("labelled", True), classes=classes,
                counts={s: int(n) for s, n in n_clips_per_split.items()}, array_digest=digest)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def generate_all(root, cfg: dict, seed: int) -> dict:
    """Generate every dataset listed in ``cfg`` under ``root``; returns ``{name: {path, clips, seconds}}``.

    ``cfg`` keys: ``spec`` (AVSynthSpec fields), ``workers`` (int, default 2), ``progress`` (bool),
    ``datasets``: ``{role: {splits: {split: n}, classes?: [global ids], difficulty?: abs value,
    difficulty_delta?: added to spec.difficulty (role default), modality?: 'av'|'audio', multilabel?: bool}}``
    with role in :data:`ROLES`. See :data:`PROFILES` / :func:`default_config` for ready-made configs."""
    unknown = set(cfg) - {"spec", "workers", "progress", "datasets"}
    if unknown:
        raise ValueError(f"avsynth config: unknown keys {sorted(unknown)} (known: spec, workers, progress, datasets)")
    base = AVSynthSpec.from_dict(cfg.get("spec"))
    out = {}
    for name, dcfg in (cfg.get("datasets") or {}).items():
        if name not in ROLES:
            raise ValueError(f"avsynth config: unknown dataset role {name!r}; known: {list(ROLES)}")
        bad = set(dcfg) - _DATASET_KEYS
        if bad or "splits" not in dcfg:
            raise ValueError(f"avsynth config datasets.{name}: unknown keys {sorted(bad)} or missing 'splits' "
                             f"(known: {sorted(_DATASET_KEYS)})")
        role, K = ROLES[name], base.num_classes
        lo, hi = role["classes"]
        classes = dcfg.get("classes", list(range(int(round(lo * K / 2)) * 2, int(round(hi * K / 2)) * 2)))
        diff = dcfg.get("difficulty", base.difficulty + dcfg.get("difficulty_delta", role["difficulty_delta"]))
        spec = replace(base, difficulty=float(min(max(diff, 0.0), 1.0)))
        t0 = time.time()
        path = generate_dataset(root, name, spec, seed=seed, n_clips_per_split=dcfg["splits"], classes=classes,
                                multilabel=dcfg.get("multilabel", role["multilabel"]),
                                modality=dcfg.get("modality", role["modality"]),
                                progress=cfg.get("progress", True), workers=int(cfg.get("workers", 2)))
        out[name] = dict(path=str(path), clips=int(sum(dcfg["splits"].values())), seconds=round(time.time() - t0, 2))
    return out
