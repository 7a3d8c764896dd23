"""Import checkpoints of the official XKD code (github ``pritamqu/XKD``, ``codes/train/models/xkd.py``) into
:class:`avlib.methods.xkd.XKD`, so that the released weights are evaluated with avlib's protocols.

Three file shapes are accepted (reference-notes §1.0):

* the full training checkpoint ``checkpoint.pth.tar``: ``{'model': state_dict, 'optimizer': ..., 'epoch': ...}``,
  its keys possibly prefixed by DDP's ``module.``;
* the backbone-only files of ``save_state_dicts``, ``{vid,aud}_{student,teacher}.pth.tar`` (one encoder
  each; the role is read from the file name or given explicitly);
* a bare ``state_dict`` with the official names.

The official names map one to one onto avlib's (:func:`avlib_key`), with two kinds of keys that are one
tensor in the official model and are therefore checked, not loaded twice: ``{vid,aud}_ae.encoder.*`` (the
MAE wrapper holds the student backbone object itself) and ``mlp.4`` of every projector head (the same
LayerNorm module as ``mlp.1``). Every key is accounted for in an :class:`ImportReport`; an unmatched or
missing key, a shape mismatch or two copies of one tensor that disagree raise :class:`OfficialImportError`
naming each of them. Nothing is loaded partially without saying so.

:func:`config_from_official` turns the official factory's keyword arguments (``model_kwargs`` with the
resolved ``encoder``/``decoder``/``projector`` settings and the forward's ``fwd_kwargs``) into the avlib
config that computes the same function: teacher on the first local view, the teacher MMD term added,
the code's loss normalisation, one shared hidden LayerNorm per projector.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from avlib.config import ConfigError, PretrainConfig, from_dict

log = logging.getLogger(__name__)

__all__ = [
    "OfficialImportError",
    "ImportReport",
    "read_official",
    "avlib_key",
    "config_from_official",
    "load_official",
    "import_official",
]

_MOD = {"vid": "video", "aud": "audio"}
_ROLES = ("student", "teacher")
_CENTRES = {
    "vt2as_ce_loss.center": "kd_video_teacher.center",  # video teacher -> audio student
    "at2vs_ce_loss.center": "kd_audio_teacher.center",  # audio teacher -> video student
}
_BACKBONE_FILE = re.compile(r"(vid|aud)_(student|teacher)")


class OfficialImportError(ValueError):
    """An official checkpoint does not fit the avlib model: the message lists every offending key."""


# --------------------------------------------------------------------------------------------- reading
def _strip_module(sd: Mapping[str, Any]) -> dict[str, Any]:
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module.") :]: v for k, v in sd.items()}
    return dict(sd)


def _is_backbone(sd: Mapping[str, Any]) -> bool:
    return any(k in sd for k in ("enc_pos_embed", "cls_token")) and not any(
        k.split(".", 1)[0] in ("vid_student", "aud_student", "vid_teacher", "aud_teacher", "vid_ae", "aud_ae")
        for k in sd
    )


def read_official(source: str | Path | Mapping, role: str | None = None) -> tuple[dict[str, Tensor], str]:
    """Official state_dict (full names, ``module.`` stripped) and the file kind from a path or a loaded object.

    Args:
        source: a path (``torch.load(..., weights_only=True)``) or an already loaded object.
        role: for a backbone-only file, ``'vid_teacher'``, ``'aud_student'`` ...; default: from the file name.

    Returns:
        ``(state_dict, kind)``, kind ``'checkpoint'`` (a dict with ``model``), ``'backbone'`` or ``'state_dict'``.
        Backbone keys come back prefixed with ``<role>.backbone.``, as in the full model.
    """
    name = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"official checkpoint not found: {path}")
        name = path.name
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises several types for a damaged or foreign file
            raise OfficialImportError(f"{path}: not a readable torch checkpoint ({type(e).__name__}: {e})") from None
    else:
        obj = source
    if not isinstance(obj, Mapping):
        raise OfficialImportError(f"{name or 'object'}: expected a dict, got {type(obj).__name__}")
    kind = "state_dict"
    if "model" in obj and isinstance(obj["model"], Mapping):
        obj, kind = obj["model"], "checkpoint"
    elif "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    sd = _strip_module(obj)
    bad = sorted(k for k, v in sd.items() if not isinstance(v, Tensor))
    if bad:
        raise OfficialImportError(f"{name or 'state_dict'}: non-tensor entries {bad[:8]}")
    if _is_backbone(sd):
        if role is None:
            m = _BACKBONE_FILE.search(name or "")
            if m is None:
                raise OfficialImportError(
                    f"{name or 'state_dict'} is a backbone-only file: give its role (vid_teacher, aud_teacher, "
                    "vid_student or aud_student), e.g. --role vid_teacher"
                )
            role = m.group(0)
        if not _BACKBONE_FILE.fullmatch(role):
            raise OfficialImportError(
                f"role must be one of vid_student, vid_teacher, aud_student, aud_teacher; got {role!r}"
            )
        return {f"{role}.backbone.{k}": v for k, v in sd.items()}, "backbone"
    return sd, kind


# --------------------------------------------------------------------------------------------- names
def _backbone_key(rest: str) -> str | None:
    """Official ``VideoViT``/``AudioViT`` key (after ``backbone.``) -> avlib ``ViTEncoder`` key."""
    if rest == "cls_token":
        return rest
    if rest == "enc_pos_embed":
        return "pos_embed.weight"
    for tok in ("cuboid_embed.proj.", "patch_embed.proj."):
        if rest.startswith(tok):
            return "tokenizer.proj." + rest[len(tok) :]
    if rest.startswith("encoder.blocks."):
        return rest[len("encoder.") :]
    if rest.startswith("encoder_norm."):
        return "norm." + rest[len("encoder_norm.") :]
    return None


def _decoder_key(rest: str) -> str | None:
    """Official MAE wrapper key (after ``{vid,aud}_ae.``, backbone excluded) -> avlib ``MAEDecoder`` key."""
    if rest == "dec_pos_embed":
        return "pos_embed.weight"
    if rest == "mask_token" or rest.startswith(("mid_proj.", "out_proj.")):
        return rest
    if rest.startswith("decoder.blocks."):
        return rest[len("decoder.") :]
    if rest.startswith("decoder_norm."):
        return "norm." + rest[len("decoder_norm.") :]
    return None


def avlib_key(official: str) -> str | None:
    """avlib name of an official key, or ``None`` when it has no counterpart.

    ``{vid,aud}_ae.encoder.*`` maps to the student encoder (the same tensor in the official model) and a
    head's ``mlp.4`` to ``mlp.4`` (avlib keeps the official indices; with a shared norm it is ``mlp.1``'s
    tensor)."""
    if official in _CENTRES:
        return _CENTRES[official]
    head, _, rest = official.partition(".")
    mod_role = head.split("_")
    if len(mod_role) != 2 or mod_role[0] not in _MOD:
        return None
    modality, what = _MOD[mod_role[0]], mod_role[1]
    if what == "ae":
        if rest.startswith("encoder."):
            sub = _backbone_key(rest[len("encoder.") :])
            return None if sub is None else f"student.{modality}_encoder.{sub}"
        sub = _decoder_key(rest)
        return None if sub is None else f"decoders.{modality}.{sub}"
    if what not in _ROLES:
        return None
    if rest.startswith("backbone."):
        sub = _backbone_key(rest[len("backbone.") :])
        return None if sub is None else f"{what}.{modality}_encoder.{sub}"
    if rest.startswith("head."):
        sub = rest[len("head.") :]
        if sub.startswith(("mlp.", "last_layer.")):
            return f"{what}.{modality}_head.{sub}"
    return None


# --------------------------------------------------------------------------------------------- config
def _audio_seconds(frames: int, hop: int, sr: int) -> float:
    """Seconds whose ``1 + samples // hop`` log-mel frames equal ``frames`` (a round value when one exists)."""
    for sec in (round(frames * hop / sr, 2), round(frames * hop / sr, 3), ((frames - 1) * hop + hop / 2) / sr):
        if 1 + int(round(sec * sr)) // hop == frames:
            return float(sec)
    raise ConfigError(f"no audio length gives {frames} frames at hop {hop}, {sr} Hz")  # pragma: no cover


def config_from_official(
    model_kwargs: Mapping,
    encoder: Mapping,
    decoder: Mapping,
    projector: Mapping,
    fwd_kwargs: Mapping | None = None,
    *,
    hop_length: int = 143,
    sample_rate: int = 16000,
    n_fft: int = 1024,
    local_views: Mapping | None = None,
    base: Mapping | None = None,
) -> PretrainConfig:
    """The avlib :class:`PretrainConfig` that computes the official ``XKD(**model_kwargs)`` forward.

    Args:
        model_kwargs: the official factory's keyword arguments (``frame_size``, ``num_frames``,
            ``vid_patch_spatial``, ``vid_patch_temporal``, ``spec_size``, ``spec_patch_spatial``,
            ``apply_cls_token``, ``center_momentum``, ``norm_pix_loss``, ``masking_fn``, ``align_loss``, ...).
        encoder, decoder: the resolved ``*_cfg`` settings (``embed_dim``, ``depth``, ``num_heads``); teacher and
            student encoders share one setting in the official configs.
        projector: the resolved ``projector_cfg`` (``out_dim``, ``hidden_dim``, ``bottleneck_dim``, ``nlayers``,
            ``norm``, ``last_norm``, ``act``, ``norm_last_layer``).
        fwd_kwargs: the forward's arguments (temperatures, mask ratios, loss coefficients, ``cm_attn_mode``,
            ``global_views_number``); default: the released ``xkd.yaml`` values.
        hop_length, sample_rate, n_fft: the log-mel front end (not part of the model; released values).
        local_views: optional ``{'video_frames', 'video_size', 'audio_frames'}`` of the local views.
        base: further config entries merged under the derived ones (e.g. ``train``, ``optim``, ``data``).

    Raises:
        ConfigError: an official setting avlib does not implement (named).
    """
    mk, fk = dict(model_kwargs), dict(fwd_kwargs or {})
    problems = []
    if mk.get("masking_fn", "random_masking") != "random_masking":
        problems.append(f"masking_fn={mk['masking_fn']!r} (only 'random_masking')")
    if mk.get("align_loss", "mmd") != "mmd":
        problems.append(f"align_loss={mk['align_loss']!r} (only 'mmd')")
    if fk.get("align_mode", 1) != 1:
        problems.append(f"align_mode={fk['align_mode']!r} (only 1: students with students, teachers with teachers)")
    if fk.get("global_views_number", 1) != 1:
        problems.append(f"global_views_number={fk['global_views_number']!r} (only 1)")
    cm = mk.get("center_momentum", [0.9, 0.9])
    cm = list(cm) if isinstance(cm, (list, tuple)) else [cm, cm]
    if cm[0] != cm[1]:
        problems.append(f"center_momentum={cm} (avlib uses one momentum for both centres)")
    p = dict(projector)
    if p.get("act", "gelu") != "gelu" or not p.get("norm_last_layer", True):
        problems.append(
            f"projector act={p.get('act')!r}, norm_last_layer={p.get('norm_last_layer')!r} "
            "(only gelu with a fixed-norm last layer)"
        )
    st = dict(fk.get("student_temp", {"video": 0.1, "audio": 0.1}))
    if problems:
        raise ConfigError("official XKD settings avlib does not implement: " + "; ".join(problems))
    if st.get("video") != st.get("audio"):
        log.warning(
            "official student_temp %s: the released code scales both students with the audio value "
            "(reference-notes 1.5); using %s",
            st,
            st["audio"],
        )
    tt = dict(fk.get("teacher_temp", {"video": 0.1, "audio": 0.07}))
    _, frame_h, frame_w = mk["frame_size"]
    if frame_h != frame_w:
        raise ConfigError(f"frame_size {mk['frame_size']}: avlib views are square")
    n_mels, spec_t = mk["spec_size"]
    vit = lambda e: {"embed_dim": int(e["embed_dim"]), "depth": int(e["depth"]), "num_heads": int(e["num_heads"])}  # noqa: E731
    norm = p.get("norm", "ln")
    loc = dict(local_views or {})
    pt = int(mk["vid_patch_temporal"])
    cfg: dict = {
        "name": "xkd_official",
        "method": "xkd",
        "model": {
            "video_vit": vit(encoder),
            "audio_vit": vit(encoder),
            "video_patch": [pt, *map(int, mk["vid_patch_spatial"])],
            "audio_patch": list(map(int, mk["spec_patch_spatial"])),
            "qkv_bias": False,
            "norm_eps": 1e-5,
            "decoder_dim": int(decoder["embed_dim"]),
            "decoder_depth": int(decoder["depth"]),
            "decoder_heads": int(decoder["num_heads"]),
            "decoder_norm": False,
            "projector": {
                "out_dim": int(p["out_dim"]),
                "hidden_dim": int(p["hidden_dim"]),
                "bottleneck_dim": int(p["bottleneck_dim"]),
                "nlayers": int(p["nlayers"]),
                "norm": "none" if norm in (None, "none") else norm,
                "last_norm": "ln_noaffine" if p.get("last_norm") == "ln" else "none",
                "shared_hidden_norm": True,
            },
        },
        "views": {
            "video_frames": int(mk["num_frames"]),
            "video_size": int(frame_h),
            "local_video_frames": int(loc.get("video_frames", max(pt, int(mk["num_frames"]) // 4))),
            "local_video_size": int(loc.get("video_size", frame_h)),
            "audio_seconds": _audio_seconds(int(spec_t), hop_length, sample_rate),
            "local_audio_seconds": _audio_seconds(
                int(loc.get("audio_frames", max(16, spec_t // 4))), hop_length, sample_rate
            ),
        },
        "audio": {"sample_rate": sample_rate, "n_fft": n_fft, "hop_length": hop_length, "n_mels": int(n_mels)},
        "xkd": {
            "recon_video": True,
            "recon_audio": True,
            "kd": True,
            "da": True,
            "lambda_ae": float(fk.get("recon_coeff", 5)),
            "lambda_da": float(fk.get("align_coeff", 1)),
            "lambda_kd": float(fk.get("cmkd_coeff", 1)),
            "loss_reduction": "code",
            "mask_ratio_video": float(fk.get("vid_mask_ratio", 0.85)),
            "mask_ratio_audio": float(fk.get("aud_mask_ratio", 0.80)),
            "norm_pix_loss": bool(mk.get("norm_pix_loss", True)),
            "teacher_input": "local",
            "da_teacher_term": "add",
            "refine": True,
            "refine_omega": "code",
            "cross_attention": fk.get("cm_attn_mode", "mean"),
            "use_cls_attention": bool(mk.get("apply_cls_token", True)),
            "da_pairs": "within",
            "mmd_kernel": "multi_gaussian",
            "student_temp": float(st["audio"]),
            "teacher_temp_video": {"kind": "constant", "value": float(tt["video"])},
            "teacher_temp_audio": {"kind": "constant", "value": float(tt["audio"])},
            "center_momentum": float(cm[0]),
        },
    }
    from avlib.config import deep_merge
    from avlib.methods.xkd import XKDPretrainConfig

    return from_dict(XKDPretrainConfig, deep_merge(dict(base or {}), cfg), where="official XKD settings")


# --------------------------------------------------------------------------------------------- loading
@dataclass
class ImportReport:
    """What an import did with every key (``str(report)`` is the coverage report)."""

    kind: str
    loaded: dict[str, str] = field(default_factory=dict)  # avlib key -> official key
    aliases: list[tuple[str, str]] = field(default_factory=list)  # (official key, the key it is one tensor with)
    tied: list[str] = field(default_factory=list)  # avlib keys of one tensor (shared norms), checked
    n_official: int = 0
    unmatched: list[str] = field(default_factory=list)  # official keys with no avlib counterpart
    missing: list[str] = field(default_factory=list)  # avlib keys the file does not provide
    left_at_init: list[str] = field(default_factory=list)  # missing, but expected for this file kind
    shape_mismatch: list[str] = field(default_factory=list)
    alias_conflicts: list[str] = field(default_factory=list)  # two copies of one tensor that differ
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unmatched or self.missing or self.shape_mismatch or self.alias_conflicts)

    def __str__(self) -> str:
        lines = [
            f"official XKD import ({self.kind}): {self.n_official} official keys -> {len(set(self.loaded.values()))} "
            f"loaded into {len(self.loaded)} avlib keys, {len(self.aliases)} aliases of a loaded tensor (checked "
            f"equal), {len(self.tied)} shared-norm groups (checked equal); {len(self.unmatched)} unmatched, "
            f"{len(self.missing)} missing, {len(self.shape_mismatch)} shape mismatches, "
            f"{len(self.alias_conflicts)} alias conflicts"
        ]
        if self.left_at_init:
            lines.append(
                f"  left at initialisation ({len(self.left_at_init)}, not in a {self.kind} file): "
                + ", ".join(sorted({k.split(".")[0] + "." + k.split(".")[1] for k in self.left_at_init}))
            )
        for title, items in (
            ("unmatched official keys", self.unmatched),
            ("missing avlib keys", self.missing),
            ("shape mismatches", self.shape_mismatch),
            ("alias conflicts", self.alias_conflicts),
            ("notes", self.notes),
        ):
            for it in items:
                lines.append(f"  {title}: {it}")
        return "\n".join(lines)


def _optional_for(kind: str, key: str) -> bool:
    """Keys a backbone-only import legitimately leaves at initialisation (decoders)."""
    return kind == "backbone" and not key.startswith(("student.video_encoder.", "student.audio_encoder."))


def _tied_groups(state: Mapping[str, Tensor]) -> list[list[str]]:
    """Keys of ``state`` that are one tensor (a shared projector norm: ``mlp.1`` and ``mlp.4``)."""
    groups: dict[tuple[int, tuple], list[str]] = {}
    for k, t in state.items():
        if t.numel():
            groups.setdefault((t.data_ptr(), tuple(t.shape)), []).append(k)
    return [g for g in groups.values() if len(g) > 1]


def load_official(
    model: torch.nn.Module, official: Mapping[str, Tensor], kind: str = "state_dict", *, strict: bool = True
) -> ImportReport:
    """Copy an official state_dict into an avlib XKD ``model`` (in place) and report every key.

    Backbone-only imports (``kind='backbone'``) fill the model's *student* encoders (an avlib model built
    without teachers evaluates them), and leave the decoders at initialisation, which the report says.
    With ``strict`` (default) any unmatched, missing, mis-shaped or conflicting key raises
    :class:`OfficialImportError` listing all of them, and the model is left untouched.
    """
    target = model.state_dict()
    rep = ImportReport(kind=kind, n_official=len(official))
    values: dict[str, Tensor] = {}
    sources: dict[str, str] = {}
    for ok in sorted(official, key=lambda k: ("_ae.encoder." in k, k)):  # the student backbone's own names first
        v = official[ok]
        ak = avlib_key(ok)
        if kind == "backbone" and ak is not None and ak.startswith("teacher."):
            ak = "student." + ak[len("teacher.") :]  # a teacher backbone file fills the (only) encoder
        if ak is None or ak not in target:
            rep.unmatched.append(ok if ak is None else f"{ok} (-> {ak}, not in this avlib model)")
        elif tuple(target[ak].shape) != tuple(v.shape):
            rep.shape_mismatch.append(f"{ok} {tuple(v.shape)} -> {ak} {tuple(target[ak].shape)}")
        elif ak in values:  # {vid,aud}_ae.encoder.* and the student backbone: one official tensor
            if not torch.equal(values[ak], v):
                rep.alias_conflicts.append(f"{ok} differs from {sources[ak]} (one tensor in the official model)")
            rep.aliases.append((ok, sources[ak]))
        else:
            values[ak], sources[ak] = v, ok
    for group in _tied_groups(target):  # one avlib tensor under several names: the copies must agree
        given = [k for k in group if k in values]
        for k in given[1:]:
            if not torch.equal(values[k], values[given[0]]):
                rep.alias_conflicts.append(
                    f"{sources[k]} differs from {sources[given[0]]}, but {k} and {given[0]} "
                    "are one tensor here (model.projector.shared_hidden_norm: true)"
                )
        rep.tied.append(" = ".join(group))
        for k in group:
            if k not in values and given:
                values[k], sources[k] = values[given[0]], sources[given[0]]
    for head in ("student.video_head", "student.audio_head", "teacher.video_head", "teacher.audio_head"):
        try:
            proj = model.get_submodule(head)
        except AttributeError:
            continue
        if not getattr(proj, "shared_hidden_norm", True) and f"{head}.mlp.4.weight" in values:
            rep.notes.append(
                f"{head}: the official head has one hidden LayerNorm (mlp.1 = mlp.4); this avlib head "
                "has two (model.projector.shared_hidden_norm: false): the same values are copied to "
                "both, which then train apart"
            )
    for k in target:
        if k not in values:
            (rep.left_at_init if _optional_for(kind, k) else rep.missing).append(k)
    rep.loaded = {k: sources[k] for k in values}
    if strict and not rep.ok:
        raise OfficialImportError(str(rep))
    with torch.no_grad():
        own = model.state_dict(keep_vars=True)
        for k, v in values.items():
            own[k].copy_(v.to(own[k].dtype))
    for note in rep.notes:
        log.info("%s", note)
    return rep


def import_official(
    sources: list, out_dir: str | Path, cfg: PretrainConfig, *, roles: list | None = None, overwrite: bool = False
) -> ImportReport:
    """Read official file(s), load them into an avlib XKD built from ``cfg`` and write an avlib run folder
    (``final.pt``, ``config.yaml``, ``summary.json``, ``import_report.txt``) that ``avlib evaluate`` /
    ``finetune`` take.

    Several backbone-only files (e.g. ``vid_teacher.pth.tar`` and ``aud_teacher.pth.tar``) combine into one
    run. With backbone files only, ``cfg`` is reduced to the encoders present (no teachers, so the imported
    backbones are the run's evaluated encoders).
    """
    from avlib import __version__, checkpoint
    from avlib.config import config_hash, to_dict
    from avlib.methods import build_method, logmel_from_config
    from avlib.paths import atomic_write_text
    from avlib.train.resume import write_config

    roles = list(roles or [None] * len(sources))
    if len(roles) != len(sources):
        raise ValueError(f"{len(roles)} roles for {len(sources)} files")
    merged: dict[str, Tensor] = {}
    kinds = set()
    for src, role in zip(sources, roles):
        sd, kind = read_official(src, role)
        dup = sorted(set(sd) & set(merged))
        if dup:
            raise OfficialImportError(f"{src}: keys already given by an earlier file: {dup[:5]}")
        merged.update(sd)
        kinds.add(kind)
    if len(kinds) > 1:
        raise OfficialImportError(f"mixed file kinds {sorted(kinds)}: give one full checkpoint, or backbone files only")
    kind = kinds.pop()
    if kind == "backbone":
        mods = {_MOD[k.split("_", 1)[0]] for k in merged}
        cfg = dataclasses.replace(
            cfg,
            xkd=dataclasses.replace(
                cfg.xkd, recon_video="video" in mods, recon_audio="audio" in mods, kd=False, da=False
            ),
        )
    out = Path(out_dir)
    if (out / "final.pt").exists() and not overwrite:
        raise FileExistsError(f"{out}/final.pt exists; pass overwrite=True (--force) to replace it")
    model = build_method(cfg, logmel_from_config(cfg))
    rep = load_official(model, merged, kind)
    chash = config_hash(cfg)
    checkpoint.atomic_save(
        {
            "model": model.state_dict(),
            "config": to_dict(cfg),
            "config_hash": chash,
            "step": 0,
            "epoch": 0,
            "avlib_version": __version__,
            "imported_from": [str(s) for s in sources],
        },
        out / "final.pt",
    )
    write_config(out, cfg)
    atomic_write_text(out / "import_report.txt", str(rep) + "\n")
    atomic_write_text(
        out / "summary.json",
        json.dumps(
            {
                "run": out.name,
                "imported_from": [str(s) for s in sources],
                "kind": kind,
                "loaded": len(rep.loaded),
                "aliases": len(rep.aliases),
                "left_at_init": len(rep.left_at_init),
                "config_hash": chash,
            },
            indent=2,
        )
        + "\n",
    )
    return rep
