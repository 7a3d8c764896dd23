"""Scale profiles (DESIGN section 7): ``params/profile.yaml`` names one of ``params/profiles/*.yaml``."""
from __future__ import annotations

from pathlib import Path

from avlib.config import (ConfigError, PretrainConfig, apply_overrides, deep_merge, from_dict,
                          read_yaml)
from avlib.paths import resolve

PROFILE_SECTIONS = ("data", "cache", "pretrain", "eval", "benchmark")


def active_profile_name(root: str | Path | None = None) -> str:
    """The profile selected in ``params/profile.yaml`` (``AVLIB_PROFILE`` overrides it)."""
    import os

    env = os.environ.get("AVLIB_PROFILE")
    if env:
        return env
    data = read_yaml(resolve("params/profile.yaml", root))
    if "profile" not in data:
        raise ConfigError("params/profile.yaml: missing key 'profile'")
    return str(data["profile"])


def load_profile(name: str | None = None, root: str | Path | None = None) -> dict:
    """The profile's nested dict, validated for known top-level sections."""
    name = name or active_profile_name(root)
    path = resolve(Path("params/profiles") / f"{name}.yaml", root)
    if not path.is_file():
        avail = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"unknown profile {name!r}: {path} does not exist; available: {avail}")
    data = read_yaml(path)
    unknown = sorted(set(data) - set(PROFILE_SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; allowed: {list(PROFILE_SECTIONS)}")
    data["name"] = name
    return data


def load_pretrain_config(run_file: str | Path, *, profile: str | None = None, seed: int | None = None,
                         overrides: list[str] | None = None, root: str | Path | None = None) -> PretrainConfig:
    """Profile ``pretrain`` section <- run file <- ``--set`` overrides, built strictly."""
    prof = load_profile(profile, root)
    run = read_yaml(resolve(run_file, root))
    merged = deep_merge(prof.get("pretrain", {}), run)
    merged = apply_overrides(merged, overrides or [])
    if seed is not None:
        merged.setdefault("train", {})["seed"] = int(seed)
    return from_dict(PretrainConfig, merged, where=str(run_file))
