"""Strict dataclass configs loaded from YAML.

Every number lives in ``params/``: a *profile* (``params/profiles/<name>.yaml``, selected by
``params/profile.yaml``) gives the scale (data sizes, model sizes, steps), and a *run* file
(``params/pretrain/<run>.yaml``) gives what distinguishes one pretraining configuration from another
(which losses, ablation switches). ``load_pretrain_config`` deep-merges the profile's ``pretrain``
section with the run file and builds :class:`PretrainConfig`; unknown keys fail at load time, naming
the key and the file (DESIGN section 9).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A params file has an unknown key, a wrong type or a missing value."""


# --------------------------------------------------------------------------------------------
# dataclasses
# --------------------------------------------------------------------------------------------
@dataclass
class ProjectorConfig:
    out_dim: int = 8192
    hidden_dim: int = 2048
    bottleneck_dim: int = 256
    nlayers: int = 3
    norm: Literal["ln", "bn", "none"] = "ln"
    last_norm: Literal["ln_noaffine", "none"] = "ln_noaffine"
    # released XKD code: one LayerNorm module after both hidden Linears (reference-notes 1.6); false: one each
    shared_hidden_norm: bool = True


@dataclass
class ModelConfig:
    """Encoders, decoders and heads (Supp. Table S3; sizes from ``avlib.models.vit.VIT_PRESETS``)."""

    # a preset of avlib.models.vit.VIT_PRESETS, or a mapping {embed_dim, depth, num_heads[, preset, ...]}
    video_vit: str | dict = "base"
    audio_vit: str | dict = "base"
    video_patch: tuple[int, int, int] = (4, 16, 16)
    audio_patch: tuple[int, int] = (4, 16)
    qkv_bias: bool = False
    norm_eps: float = 1e-5
    decoder_dim: int = 384
    decoder_depth: int = 4
    decoder_heads: int = 12
    decoder_norm: bool = False
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    # XKD Fig. 4 (a larger video backbone): width/depth multipliers of the video preset; the width is
    # rounded to a multiple of the head count, which cross-modal attention (Eq. 4) keeps equal to audio's
    video_width_mult: float = 1.0
    video_depth_mult: float = 1.0


@dataclass
class ViewsConfig:
    """Global/local views (Supp. Tables S1/S2); passed to ``avlib.data.views.ViewConfig``."""

    fps: int = 8
    video_frames: int = 32
    video_size: int = 112
    local_video_frames: int = 8
    local_video_size: int = 96
    n_local_video: int = 1
    audio_seconds: float = 4.0
    local_audio_seconds: float = 1.0
    n_local_audio: int = 1
    global_crop_scale: tuple[float, float] = (0.2, 1.0)
    local_crop_scale: tuple[float, float] = (0.08, 0.4)
    local_spec_crop: bool = True


@dataclass
class AudioFrontendConfig:
    """XKD log-mel front end (reference-notes section 1.2)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 143
    n_mels: int = 80
    mean: float = -5.3688107
    std: float = 4.410007


@dataclass
class OptimConfig:
    """AdamW with warm-up cosine LR and a weight-decay schedule (Supp. Table S4)."""

    lr: float = 1e-4
    min_lr: float = 0.0
    warmup_epochs: float = 30
    weight_decay: float = 0.3
    weight_decay_end: float = 0.3
    betas: tuple[float, float] = (0.9, 0.95)
    clip_grad: float = 0.3
    clip_mode: Literal["per_param_students", "global", "none"] = "per_param_students"


@dataclass
class TrainConfig:
    epochs: int = 800
    batch_size: int = 256
    seed: int = 0
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    device: str = "auto"
    num_threads: int = 0  # 0: $OMP_NUM_THREADS if set, else every core (avlib.train.process.resolve_num_threads)
    ckpt_every_steps: int = 200
    log_every_steps: int = 10
    max_steps: int = 0
    stop_on_collapse: bool = True
    collapse_kl_min: float = 1e-4
    collapse_patience: int = 10  # consecutive logging steps


@dataclass
class DataConfig:
    cache: str = "cache/pretrain"
    split: str | list[str] = "train"  # one split or several (e.g. ESC-50's four training folds)
    max_clips: int = 0
    fraction: float = 1.0  # XKD Fig. 4: a seeded random subset of this fraction of the split (after max_clips)


@dataclass
class PretrainConfig:
    name: str = "xkd"
    method: str = "xkd"  # a module of avlib/methods (avlib.methods.build); checked when the config is built
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    audio: AudioFrontendConfig = field(default_factory=AudioFrontendConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# --------------------------------------------------------------------------------------------
# strict construction
# --------------------------------------------------------------------------------------------
def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(
            f"{where}: {value!r} is none of {' | '.join(getattr(a, '__name__', str(a)) for a in typing.get_args(tp))}"
        )
    if origin is list:
        (arg,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{where}: expected a non-empty list, got {value!r}")
        return [_coerce(arg, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {typing.get_args(tp)}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    return value


def from_dict(cls: type, data: dict | None, where: str = "config") -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys (error names the full key)."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict:
    """Plain nested dict (tuples become lists) suitable for YAML/JSON and checkpoints."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base`` (mappings merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` strings (value parsed as YAML) to a nested dict."""
    out = copy.deepcopy(data)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return out


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


# fields that do not change what a run computes (a resume across them is safe)
NON_RESULT_KEYS = {
    "name": None,
    "train": (
        "device",
        "num_threads",
        "ckpt_every_steps",
        "log_every_steps",
        "max_steps",
        "stop_on_collapse",
        "collapse_kl_min",
        "collapse_patience",
    ),
}


def config_hash(cfg: Any, result_only: bool = True) -> str:
    """Stable short hash of a config. With ``result_only`` it ignores bookkeeping fields (device,
    threads, logging/checkpoint cadence, ``max_steps``, collapse-detector settings, run name), so a run
    can be resumed across them; every other change makes a different run."""
    d = to_dict(cfg) if dataclasses.is_dataclass(cfg) else copy.deepcopy(cfg)
    if result_only:
        for key, sub in NON_RESULT_KEYS.items():
            if sub is None:
                d.pop(key, None)
            else:
                for k in sub:
                    d.get(key, {}).pop(k, None)
    blob = json.dumps(d, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
