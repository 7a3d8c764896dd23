"""Scale profiles (DESIGN section 7): ``params/profile.yaml`` names one of ``params/profiles/*.yaml``."""

from __future__ import annotations

from pathlib import Path

from avlib.config import ConfigError, PretrainConfig, apply_overrides, deep_merge, read_yaml
from avlib.paths import resolve

# besides these, a profile may have one section per method (``xdc:``, named after the method's module) with
# the same two keys as ``ablation``: ``pretrain`` (that method's base, merged under its run files) and ``tasks``
PROFILE_SECTIONS = ("data", "cache", "pretrain", "ablation", "eval", "finetune", "benchmark")
SECTION_KEYS = {"pretrain", "tasks"}


def _methods() -> list[str]:
    from avlib.methods.build import available_methods

    return available_methods()


def schedules() -> tuple[str, ...]:
    """``main`` (the profile's ``pretrain``), ``ablation`` (its ``ablation.pretrain`` on top of the run file) or
    a method's name (its profile section's ``pretrain`` under the run file, e.g. ``xdc``)."""
    return ("main", "ablation", *_methods())


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
    allowed = [*PROFILE_SECTIONS, *_methods()]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; allowed: {allowed}")
    data["name"] = name
    return data


def _section(prof: dict, name: str, keys: set) -> dict:
    """A ``{pretrain, tasks}`` section of the profile, validated: known keys only, tasks of ``eval.tasks``."""
    where = f"params/profiles/{prof.get('name', '?')}.yaml: {name}"
    sec = prof.get(name)
    if sec is None:
        raise ConfigError(f"{where}: missing (needed for --schedule {name} / --task-set {name})")
    unknown = sorted(set(sec) - keys)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(keys)}")
    missing = sorted(set(sec.get("tasks", [])) - set(prof.get("eval", {}).get("tasks", {})))
    if missing:
        raise ConfigError(f"{where}.tasks: {missing} are not tasks of eval.tasks")
    return sec


def profile_section(prof: dict, name: str) -> dict:
    """A ``{pretrain, tasks}`` section of the profile: ``ablation`` (overrides for the analysis runs, e.g. a
    shorter schedule, as the XKD supplement trains its analyses for 400 of the main 800 epochs, and the tasks
    of the analysis tables) or a method's own section (``xdc``: its runs' base and its tables' tasks)."""
    if name != "ablation" and name not in _methods():
        raise ConfigError(f"unknown profile section {name!r}: 'ablation' or a method ({_methods()})")
    return _section(prof, name, SECTION_KEYS)


def ablation_section(prof: dict) -> dict:
    """:func:`profile_section` ``(prof, "ablation")``."""
    return profile_section(prof, "ablation")


def apply_scale(merged: dict, scale: dict, where: str = "scale") -> dict:
    """Multiply profile values by factors: ``{"views.local_video_frames": 2}`` doubles whatever the
    profile sets. Run files use it for ablations defined *relative* to the profile's default (Supp.
    Table S9's 2 s local views are twice the 1 s default at every scale). Integer fields stay integers."""
    import copy

    out = copy.deepcopy(merged)
    if not isinstance(scale, dict):
        raise ConfigError(f"{where}: expected a mapping of dotted keys to factors, got {scale!r}")
    for key, factor in scale.items():
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 0:
            raise ConfigError(f"{where}.{key}: factor must be a positive number, got {factor!r}")
        node = out
        parts = str(key).split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"{where}.{key}: the profile has no section {part!r} to scale")
            node = node[part]
        value = node.get(parts[-1])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}.{key}: the profile sets no number here (got {value!r})")
        scaled = value * factor
        if isinstance(value, int):
            if abs(scaled - round(scaled)) > 1e-9:
                raise ConfigError(f"{where}.{key}: {value} x {factor} = {scaled} is not an integer")
            scaled = int(round(scaled))
        node[parts[-1]] = scaled
    return out


def load_pretrain_config(
    run_file: str | Path,
    *,
    profile: str | None = None,
    seed: int | None = None,
    overrides: list[str] | None = None,
    root: str | Path | None = None,
    schedule: str = "main",
) -> PretrainConfig:
    """Profile ``pretrain`` section <- (``schedule=<method>``: the profile's ``<method>.pretrain``) <- run file <-
    (``schedule="ablation"``: the profile's ``ablation.pretrain``) <- ``--set`` overrides, built strictly.
    A method's section comes *before* the run file, so a run file can sweep what it sets (``xdc.k``). Config
    sections of *other* methods in the profile (e.g. ``xkd:`` under ``pretrain`` for an XDC run) are dropped;
    every other unknown key fails."""
    if schedule not in schedules():
        raise ConfigError(f"unknown schedule {schedule!r}; available: {list(schedules())}")
    prof = load_profile(profile, root)
    run = read_yaml(resolve(run_file, root))
    scale = run.pop("scale", None) or {}
    base = prof.get("pretrain", {})
    if schedule not in ("main", "ablation"):
        base = deep_merge(base, profile_section(prof, schedule).get("pretrain", {}))
    merged = deep_merge(base, run)
    merged = apply_scale(merged, scale, where=f"{run_file}: scale")
    if schedule == "ablation":
        merged = deep_merge(merged, ablation_section(prof).get("pretrain", {}))
    merged = apply_overrides(merged, overrides or [])
    if seed is not None:
        merged.setdefault("train", {})["seed"] = int(seed)
    from avlib.methods.build import build_config

    return build_config(merged, where=str(run_file), keep=set(run))  # a run file's own keys stay (and fail)


def finetune_task(prof: dict, task: str) -> tuple[dict, dict]:
    """``(eval task, recipe dict)`` for fine-tuning ``task``: the task (dataset, modality, multilabel) from
    ``eval.tasks``, the recipe from ``finetune.recipes[<finetune.tasks.<task>.recipe>]`` updated with the
    task's own overrides (Tables S6/S7 differ per dataset)."""
    where = f"params/profiles/{prof.get('name', '?')}.yaml: finetune"
    ft = prof.get("finetune")
    if not ft:
        raise ConfigError(f"{where}: missing")
    tasks, recipes = ft.get("tasks", {}), ft.get("recipes", {})
    if task not in tasks:
        raise ConfigError(f"{where}.tasks: no task {task!r}; available: {sorted(tasks)}")
    if task not in prof.get("eval", {}).get("tasks", {}):
        raise ConfigError(f"{where}.tasks.{task}: not a task of eval.tasks")
    spec = dict(tasks[task] or {})
    name = spec.pop("recipe", None)
    if name not in recipes:
        raise ConfigError(f"{where}.tasks.{task}.recipe: {name!r} is not one of {sorted(recipes)}")
    return prof["eval"]["tasks"][task], {**recipes[name], **spec}
