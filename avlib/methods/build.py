"""Method registry by convention: method ``<name>`` lives in ``avlib/methods/<name>.py``, which defines
``build(cfg, logmel) -> nn.Module`` and optionally ``CONFIG`` (a :class:`PretrainConfig` subclass with the
method's own config section). Adding a method therefore adds a file and edits none, so the DVC stages
of the existing methods (whose dependencies are exact file lists) stay valid."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path

from avlib.config import ConfigError, PretrainConfig
from avlib.data.views import ViewConfig

__all__ = [
    "build_method",
    "build_config",
    "config_class",
    "available_methods",
    "method_config_sections",
    "views_config",
    "logmel_from_config",
]

_NOT_METHODS = {"build", "base"}


def available_methods() -> list[str]:
    """Modules of ``avlib/methods`` that define ``build``."""
    names = [m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name not in _NOT_METHODS]
    return sorted(n for n in names if hasattr(importlib.import_module(f"avlib.methods.{n}"), "build"))


def _module(method: str):
    if not isinstance(method, str) or not method.isidentifier() or method in _NOT_METHODS:
        raise ConfigError(f"unknown method {method!r}; available: {available_methods()}")
    try:
        mod = importlib.import_module(f"avlib.methods.{method}")
    except ModuleNotFoundError as e:
        if e.name != f"avlib.methods.{method}":
            raise
        raise ConfigError(f"unknown method {method!r}; available: {available_methods()}") from None
    if not hasattr(mod, "build"):
        raise ConfigError(f"avlib.methods.{method} defines no build(cfg, logmel); available: {available_methods()}")
    return mod


def config_class(method: str) -> type:
    """The config dataclass of ``method`` (its module's ``CONFIG``, else :class:`PretrainConfig`)."""
    return getattr(_module(method), "CONFIG", PretrainConfig)


def method_config_sections() -> dict[str, set[str]]:
    """Per method, the config sections its ``CONFIG`` adds to :class:`PretrainConfig` (``xkd``, ``xdc``)."""
    shared = {f.name for f in dataclasses.fields(PretrainConfig)}
    return {m: {f.name for f in dataclasses.fields(config_class(m))} - shared for m in available_methods()}


def build_config(data: dict, where: str = "config", keep: set | frozenset = frozenset()) -> PretrainConfig:
    """The config of ``data['method']`` (default ``xkd``) from a nested dict, strictly: sections that belong to
    *other* methods (a profile's ``xkd:`` defaults seen by an XDC run, or the ``xkd:`` section older XDC
    checkpoints carry) are dropped unless listed in ``keep``; any other unknown key fails, naming it."""
    from avlib.config import from_dict

    method = data.get("method", "xkd")
    sections = method_config_sections()
    if method not in sections:
        raise ConfigError(f"{where}: unknown method {method!r}; available: {sorted(sections)}")
    foreign = {k for m, ks in sections.items() if m != method for k in ks} - sections[method] - set(keep)
    return from_dict(config_class(method), {k: v for k, v in data.items() if k not in foreign}, where=where)


def build_method(cfg: PretrainConfig, logmel):
    """The ``nn.Module`` of ``cfg.method``."""
    return _module(cfg.method).build(cfg, logmel)


def views_config(cfg: PretrainConfig) -> ViewConfig:
    """The data-side view recipe of a pretraining config: the method module's ``view_config(cfg)`` when it
    defines one (MAViL: no colour or volume jitter, no local views), else ``cfg.views`` with XKD's defaults."""
    mod = _module(cfg.method)
    if hasattr(mod, "view_config"):
        return mod.view_config(cfg)
    return ViewConfig(**dataclasses.asdict(cfg.views), audio_patch_frames=cfg.model.audio_patch[1])


def logmel_from_config(cfg: PretrainConfig):
    """The audio front end a pretraining config trains and evaluates with: the method module's ``frontend(cfg)``
    when it defines one (a module with ``sample_rate``, ``n_frames(n_samples)`` and ``forward(wave [B, S])``,
    e.g. a Kaldi fbank), else XKD's log-mel (:class:`avlib.data.audio.LogMel`) of ``cfg.audio``."""
    from avlib.data.audio import LogMel

    mod = _module(cfg.method)
    if hasattr(mod, "frontend"):
        return mod.frontend(cfg)
    a = cfg.audio
    return LogMel(
        sample_rate=a.sample_rate, n_fft=a.n_fft, hop_length=a.hop_length, n_mels=a.n_mels, mean=a.mean, std=a.std
    )
