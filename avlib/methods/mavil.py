"""MAViL: masked audio-video learners (Huang et al., ICML'23), stage 1 and stage 2 (Sec. 3, Eq. 1-6).

One module covers both stages and the paper's ablations by configuration (``MAViLConfig``):

* **stage 1** (Eq. 4): ``L = L_r^raw + alpha L_c^inter + beta L_c^intra``. Audio (Kaldi fbank, time-major
  16x16 patches) and video (2x16x16 tubelets) are masked at 80 %; per-modality ViT encoders see the 20 %
  visible tokens (CLS first, fixed sin-cos positions); a fusion encoder (vanilla joint Transformer or MBT,
  ``models/fusion.py``) mixes them; per-modality decoders reconstruct the masked patches (Eq. 1). The
  inter-modal InfoNCE contrasts the mean-pooled **pre-fusion** embeddings ``Avg(a_um)``, ``Avg(v_um)``; the
  intra-modal InfoNCE contrasts each with a second masked view whose visible tokens are disjoint from the
  first's (a second encoder forward per modality).
* **stage 2** (Eq. 6): ``L = L_r^context + alpha L_c^inter + beta L_c^intra``: a frozen stage-1 model (the
  ``teacher`` run) sees the full, unmasked clip; a re-initialised student reconstructs the teacher's
  fusion-encoder outputs (``target: fusion``, MAViL-Fusion) or its pre-fusion outputs (``target: uni``:
  MAViL-Uni, or A-MAE/V-MAE with a ``fusion: none`` teacher trained without contrast) on the masked tokens
  (Eq. 5, MSE); the raw loss is dropped (footnote 1: "no further gains").
* the **one-stage EMA** variant (App. B): the raw loss kept, plus a second decoder per modality that
  reconstructs the fusion outputs of an EMA copy of the model itself (``ema_teacher: true``).

The paper's unknowns (reference-notes §3.1) are options with documented defaults (docs/fidelity-notes.md):
``target_norm`` (none: plain MSE, as the text), ``symmetric_nce`` (false: one-directional Eq. 2 as written;
negatives gathered across DDP ranks either way), CLS tokens (encoded and fused, never reconstructed nor
contrasted), and the second view (encoders only: the decoders consume the first view's fusion output).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from avlib.config import PretrainConfig
from avlib.data.fbank_frontend import FbankFrontend, read_fbank_stats
from avlib.data.views import ViewConfig
from avlib.losses.mavil_nce import inter_modal_nce, intra_modal_nce
from avlib.losses.reconstruction import masked_mse
from avlib.methods.base import Method
from avlib.models.decoder import MAEDecoder
from avlib.models.exclusive_masks import exclusive_keep_ids
from avlib.models.fixed_pos import with_fixed_pos
from avlib.models.fusion import FUSIONS, build_fusion
from avlib.models.patch import AudioTokenizer, VideoTokenizer
from avlib.models.vit import ViTEncoder, vit_config
from avlib.paths import resolve
from avlib.train.ema import ema_update

__all__ = [
    "FbankConfig",
    "MAViLConfig",
    "MAViLPretrainConfig",
    "MAViLBackbone",
    "MAViL",
    "build",
    "frontend",
    "view_config",
]


@dataclass
class FbankConfig:
    """Kaldi fbank (AudioMAE/MAViL, reference-notes §3.1): 128 bins, 25 ms Hanning windows every 10 ms,
    padded/cut to ``target_frames``, ``(x - mean) / (std_scale * std)`` with dataset statistics: from
    ``stats`` (a JSON file of ``avlib data fbank-stats``) when given, else ``mean``/``std`` (AudioSet's)."""

    num_mel_bins: int = 128
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    target_frames: int = 1024
    mean: float = -4.268
    std: float = 4.569
    std_scale: float = 2.0
    stats: str = ""


@dataclass
class MAViLConfig:
    """MAViL's losses, fusion, targets and the paper's unknowns (see docs/fidelity-notes.md)."""

    mask_ratio_audio: float = 0.8
    mask_ratio_video: float = 0.8
    fusion: Literal["none", "vanilla", "mbt"] = "vanilla"
    fusion_depth: int = 2
    n_bottleneck: int = 4
    recon_raw: bool = True  # Eq. 1 (stage 1); stage 2 drops it
    norm_pix_loss: bool = False  # Eq. 1 reconstructs raw patches; MAE's per-patch standardisation as an option
    inter: bool = True
    intra: bool = True
    alpha: float = 0.1
    beta: float = 0.01
    tau_inter: float = 0.1
    tau_intra: float = 1.0
    symmetric_nce: bool = False
    target: Literal["raw", "uni", "fusion"] = "raw"
    # stage 2: the stage-1 run directory (its final.pt); "{seed}" becomes train.seed
    teacher: str = ""
    ema_teacher: bool = False  # the one-stage EMA-teacher variant (App. B)
    ema_momentum: float = 0.999
    target_norm: Literal["none", "layernorm"] = "none"
    # Table 5e (ViT-S / B / L): both encoders (and the fusion encoder, which has their width) scaled from the
    # profile's preset at a fixed head dimension (ViT-B -> S is width x0.5; -> L is width x4/3, depth x2)
    encoder_width_mult: float = 1.0
    encoder_depth_mult: float = 1.0
    fbank: FbankConfig = field(default_factory=FbankConfig)


@dataclass
class MAViLPretrainConfig(PretrainConfig):
    """A pretraining config of MAViL: the shared sections plus ``mavil:``."""

    method: str = "mavil"
    mavil: MAViLConfig = field(default_factory=MAViLConfig)


CONFIG = MAViLPretrainConfig


def _check_config(cfg: MAViLPretrainConfig) -> None:
    x, where = cfg.mavil, f"{cfg.name}: mavil"
    for k in ("mask_ratio_audio", "mask_ratio_video"):
        r = getattr(x, k)
        if not 0.0 <= r < 1.0:
            raise ValueError(f"{where}.{k}={r} must lie in [0, 1)")
        if x.intra and r < 0.5:
            raise ValueError(
                f"{where}.{k}={r}: the intra-modal contrast needs two disjoint visible sets (ratio >= 0.5)"
            )
    for k in ("alpha", "beta", "ema_momentum"):
        if not getattr(x, k) >= 0:
            raise ValueError(f"{where}.{k}={getattr(x, k)} must be >= 0")
    for k in ("tau_inter", "tau_intra", "encoder_width_mult", "encoder_depth_mult"):
        if not getattr(x, k) > 0:
            raise ValueError(f"{where}.{k}={getattr(x, k)} must be > 0")
    if x.fusion not in FUSIONS:
        raise ValueError(f"{where}.fusion={x.fusion!r} must be one of {list(FUSIONS)}")
    if x.fusion != "none" and x.fusion_depth < 1:
        raise ValueError(f"{where}.fusion_depth={x.fusion_depth} must be >= 1")
    if x.target == "raw":
        if x.teacher or x.ema_teacher:
            raise ValueError(f"{where}.target=raw has no teacher: drop mavil.teacher / mavil.ema_teacher")
        if not x.recon_raw:
            raise ValueError(f"{where}: recon_raw is off and target is raw: nothing to reconstruct")
    else:
        if bool(x.teacher) == bool(x.ema_teacher):
            raise ValueError(
                f"{where}.target={x.target}: give exactly one of mavil.teacher (a stage-1 run) or ema_teacher"
            )
        if x.ema_teacher and x.target != "fusion":
            raise ValueError(f"{where}: the one-stage EMA variant reconstructs the fusion outputs (target: fusion)")
    f = x.fbank
    if f.num_mel_bins < 1 or f.target_frames < 1 or not f.frame_shift_ms > 0 or not f.frame_length_ms > 0:
        raise ValueError(f"{where}.fbank: bins, target_frames, frame_length_ms and frame_shift_ms must be positive")


def frontend(cfg: MAViLPretrainConfig) -> FbankFrontend:
    """The audio front end of a MAViL config (the registry hook of :mod:`avlib.methods.build`)."""
    f = cfg.mavil.fbank
    mean, std = read_fbank_stats(resolve(f.stats)) if f.stats else (f.mean, f.std)
    return FbankFrontend(
        sample_rate=cfg.audio.sample_rate,
        num_mel_bins=f.num_mel_bins,
        frame_length=f.frame_length_ms,
        frame_shift=f.frame_shift_ms,
        target_frames=f.target_frames,
        mean=mean,
        std=std,
        std_scale=f.std_scale,
    )


def view_config(cfg: MAViLPretrainConfig) -> ViewConfig:
    """MAViL's views (App. B): a random window of ``views.video_frames`` frames at ``views.fps`` with random
    horizontal flip (p 0.5) and multi-scale random crop (``views.global_crop_scale``, (0.2, 1) in the paper),
    no colour jitter, and the aligned audio window from a random start (Table 10's "R") without volume jitter;
    no local views. Evaluation: the centre crop of the whole frame (no augmentation at inference)."""
    v = cfg.views
    return ViewConfig(
        fps=v.fps,
        video_frames=v.video_frames,
        video_size=v.video_size,
        audio_seconds=v.audio_seconds,
        global_crop_scale=v.global_crop_scale,
        flip_p=0.5,
        color_jitter=(0.0, 0.0, 0.0, 0.0),
        color_jitter_p=0.0,
        global_volume_jitter=0.0,
        n_local_video=0,
        n_local_audio=0,
        local_video_frames=min(v.local_video_frames, v.video_frames),
        local_video_size=v.local_video_size,
        local_audio_seconds=min(v.local_audio_seconds, v.audio_seconds),
        audio_patch_frames=cfg.model.audio_patch[0],
        eval_crop_fraction=1.0,
    )


def _encoder_config(cfg: MAViLPretrainConfig, which: str):
    """The ``which`` encoder's ViT: the profile's preset, scaled by ``mavil.encoder_{width,depth}_mult`` at the
    preset's head dimension (heads = width / head dim), with MAViL's qkv bias and LayerNorm eps."""
    m, x = cfg.model, cfg.mavil
    base = vit_config(getattr(m, f"{which}_vit"))
    head_dim = base.embed_dim // base.num_heads
    heads = max(1, int(round(base.num_heads * x.encoder_width_mult)))
    depth = max(1, int(round(base.depth * x.encoder_depth_mult)))
    return dataclasses.replace(
        base, embed_dim=heads * head_dim, num_heads=heads, depth=depth, qkv_bias=m.qkv_bias, norm_eps=m.norm_eps
    )


class MAViLBackbone(nn.Module):
    """Audio and video ViT encoders (fixed sin-cos positions, CLS first) and the fusion encoder.

    ``forward(audio, video, keep_a, keep_v)`` encodes the kept tokens (``None``: every token) and fuses them:
    ``a_um, v_um`` (pre-fusion, ``[B, 1+K, D]``), ``a_mm, v_mm`` (fusion outputs, same shapes), and per
    modality ``mask``/``ids_restore``/``grid`` of the encoders."""

    def __init__(self, cfg: MAViLPretrainConfig):
        super().__init__()
        m, v, x = cfg.model, cfg.views, cfg.mavil
        acfg, vcfg = _encoder_config(cfg, "audio"), _encoder_config(cfg, "video")
        if acfg.embed_dim != vcfg.embed_dim:
            raise ValueError(f"{cfg.name}: MAViL fuses audio and video tokens: audio_vit and video_vit need one width")
        if len(m.audio_patch) != 2 or len(m.video_patch) != 3:
            raise ValueError(f"{cfg.name}: model.audio_patch must be (time, freq) and model.video_patch (t, h, w)")
        self.audio_grid = (x.fbank.target_frames // m.audio_patch[0], x.fbank.num_mel_bins // m.audio_patch[1])
        self.video_grid = (
            v.video_frames // m.video_patch[0],
            v.video_size // m.video_patch[1],
            v.video_size // m.video_patch[2],
        )
        if min(self.audio_grid + self.video_grid) < 1:
            raise ValueError(
                f"{cfg.name}: the inputs are smaller than one patch (grids {self.audio_grid}, {self.video_grid})"
            )
        self.encoders = nn.ModuleDict(
            {
                "audio": with_fixed_pos(
                    ViTEncoder(AudioTokenizer(m.audio_patch, 1, acfg.embed_dim), self.audio_grid, acfg), self.audio_grid
                ),
                "video": with_fixed_pos(
                    ViTEncoder(VideoTokenizer(m.video_patch, 3, vcfg.embed_dim), self.video_grid, vcfg), self.video_grid
                ),
            }
        )
        fcfg = dataclasses.replace(vcfg, depth=max(x.fusion_depth, 1))
        self.fusion = build_fusion(x.fusion, fcfg, x.n_bottleneck)
        self.embed_dim = vcfg.embed_dim

    def encode(self, modality: str, x: torch.Tensor, keep: torch.Tensor | None = None) -> dict:
        return self.encoders[modality](x, ids_keep=keep)

    def forward(self, audio: torch.Tensor, video: torch.Tensor, keep_a=None, keep_v=None) -> dict:
        ea, ev = self.encode("audio", audio, keep_a), self.encode("video", video, keep_v)
        a_mm, v_mm = self.fusion(ea["tokens"], ev["tokens"])
        return {"a_um": ea["tokens"], "v_um": ev["tokens"], "a_mm": a_mm, "v_mm": v_mm, "audio": ea, "video": ev}


def _pool(tokens: torch.Tensor) -> torch.Tensor:
    """``Avg`` over the (visible) patch tokens, CLS excluded (Sec. 3.2; CLS pooling was -0.3 mAP)."""
    return tokens[:, 1:].mean(1)


class MAViL(Method):
    """The student (encoders, fusion, decoders) and, in stage 2, a frozen teacher or, one-stage, an EMA one.

    ``forward(views, sched, generator)`` reads ``views["audio_global"]`` (``[B, 1, T, bins]``) and
    ``views["video_global"]`` (``[B, 3, T, S, S]``) and returns ``{"loss", "logs"}``. A stage-2 teacher is
    loaded from its run in :meth:`setup` (training only; evaluation never needs it) and is not a registered
    submodule: it stays out of the student's checkpoints, optimiser and DDP, and its weights never change."""

    def __init__(self, cfg: MAViLPretrainConfig):
        super().__init__()
        _check_config(cfg)
        self.cfg = cfg
        x, m = cfg.mavil, cfg.model
        self.backbone = MAViLBackbone(cfg)
        D = self.backbone.embed_dim
        self.audio_patch, self.video_patch = tuple(m.audio_patch), tuple(m.video_patch)
        dec_kw = dict(
            dec_dim=m.decoder_dim,
            depth=m.decoder_depth,
            num_heads=m.decoder_heads,
            decoder_norm=m.decoder_norm,
            qkv_bias=m.qkv_bias,
            norm_eps=m.norm_eps,
        )
        grids = {"audio": self.backbone.audio_grid, "video": self.backbone.video_grid}
        patch_dims = {"audio": math.prod(self.audio_patch), "video": 3 * math.prod(self.video_patch)}
        self.decoders = nn.ModuleDict()
        if x.recon_raw:
            for k in ("audio", "video"):
                self.decoders[k] = with_fixed_pos(
                    MAEDecoder(D, patch_dim=patch_dims[k], max_grid=grids[k], **dec_kw), grids[k]
                )
        self.feature_decoders = nn.ModuleDict()
        self._teacher: list[MAViLBackbone] = []  # the frozen stage-2 teacher: unregistered (class docstring)
        if x.ema_teacher:  # one-stage variant: a registered, frozen EMA copy, saved and resumed with the student
            self.ema_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        if x.target != "raw":  # the teacher is "an identical model" (Sec. 3.3): its width is D (checked at load)
            for k in ("audio", "video"):
                self.feature_decoders[k] = with_fixed_pos(
                    MAEDecoder(D, patch_dim=D, max_grid=grids[k], **dec_kw), grids[k]
                )

    # ------------------------------------------------------------------ teacher
    def teacher_dir(self) -> str:
        return self.cfg.mavil.teacher.replace("{seed}", str(self.cfg.train.seed))

    @property
    def teacher(self) -> MAViLBackbone | None:
        """The module the context targets come from: the EMA copy (one-stage) or the loaded stage-1 backbone."""
        if self.cfg.mavil.ema_teacher:
            return self.ema_backbone
        return self._teacher[0] if self._teacher else None

    def _load_teacher(self) -> MAViLBackbone:
        from avlib.eval.protocol import load_pretrained

        path = resolve(self.teacher_dir())
        tcfg, tmodel, _ = load_pretrained(path)
        if tcfg.method != "mavil":
            raise ValueError(f"mavil.teacher {path}: a {tcfg.method!r} run, not a MAViL stage-1 run")
        mine, theirs = self.cfg, tcfg
        for what, a, b in (
            ("mavil.fbank", dataclasses.asdict(mine.mavil.fbank), dataclasses.asdict(theirs.mavil.fbank)),
            (
                "views.video_frames/video_size/fps",
                (mine.views.video_frames, mine.views.video_size, mine.views.fps),
                (theirs.views.video_frames, theirs.views.video_size, theirs.views.fps),
            ),
            (
                "model.audio_patch/video_patch",
                (mine.model.audio_patch, mine.model.video_patch),
                (theirs.model.audio_patch, theirs.model.video_patch),
            ),
        ):
            if a != b:
                raise ValueError(f"mavil.teacher {path}: its {what} ({b}) differ from this run's ({a})")
        teacher = tmodel.backbone
        if teacher.embed_dim != self.backbone.embed_dim:
            raise ValueError(
                f"mavil.teacher {path}: width {teacher.embed_dim}, this student's is {self.backbone.embed_dim}"
            )
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher.eval()

    def setup(self, total_steps: int, iters_per_epoch: int) -> None:
        """Stage 2: load the frozen teacher (the one-stage EMA copy is built with the model and checkpointed)."""
        if self._teacher or not self.cfg.mavil.teacher:
            return
        self._teacher.append(self._load_teacher().to(next(self.parameters()).device))

    def after_step(self, step: int) -> None:
        if self.cfg.mavil.ema_teacher:  # Eq. 13-style EMA of the backbone (App. B's one-stage variant)
            ema_update(self.backbone, self.ema_backbone, self.cfg.mavil.ema_momentum)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # frozen: never in training mode
        return self

    def encoder_for_eval(self, modality: str, which: str = "teacher") -> nn.Module:
        """The student's uni-modal encoder (the paper fine-tunes and probes the final student)."""
        if modality not in ("audio", "video"):
            raise KeyError(f"MAViL has audio and video encoders, not {modality!r}")
        return self.backbone.encoders[modality]

    # ------------------------------------------------------------------ forward
    def masks(self, B: int, generator, device) -> dict:
        """Kept token indices: ``audio``/``video`` (view 1) and, with the intra contrast, ``audio2``/``video2``
        (view 2, disjoint from view 1), all ``[B, K]``."""
        x = self.cfg.mavil
        n = 2 if x.intra else 1
        out = {}
        for k, grid, ratio in (
            ("audio", self.backbone.audio_grid, x.mask_ratio_audio),
            ("video", self.backbone.video_grid, x.mask_ratio_video),
        ):
            ids = exclusive_keep_ids(B, math.prod(grid), ratio, n, generator, device)
            out[k] = ids[0]
            if n == 2:
                out[f"{k}2"] = ids[1]
        return out

    @torch.no_grad()
    def targets(self, audio: torch.Tensor, video: torch.Tensor) -> dict:
        """Stage-2 / EMA reconstruction targets: the teacher's outputs on the full clip, CLS dropped, ``[B, N, Dt]``."""
        t = self.teacher(audio, video)
        ka, kv = ("a_mm", "v_mm") if self.cfg.mavil.target == "fusion" else ("a_um", "v_um")
        out = {"audio": t[ka][:, 1:], "video": t[kv][:, 1:]}
        if self.cfg.mavil.target_norm == "layernorm":
            out = {k: F.layer_norm(v.float(), v.shape[-1:], eps=1e-6) for k, v in out.items()}
        return out

    def forward(
        self, views: dict, sched: dict | None = None, generator: torch.Generator | None = None, keep: dict | None = None
    ) -> dict:
        """One MAViL step's losses (Eq. 4 in stage 1, Eq. 6 in stage 2).

        Args:
            views: ``audio_global`` and ``video_global``.
            keep: explicit kept indices (the output of :meth:`masks`) instead of drawing them from ``generator``.
        """
        x = self.cfg.mavil
        audio, video = views["audio_global"], views["video_global"]
        if audio is None or video is None:
            raise ValueError("MAViL trains on audio-visual clips: the batch has no video (an audio-only cache?)")
        B = audio.shape[0]
        keep = self.masks(B, generator, audio.device) if keep is None else keep
        out = self.backbone(audio, video, keep["audio"], keep["video"])
        logs: dict[str, torch.Tensor] = {}
        loss = audio.new_zeros((), dtype=torch.float32)
        ea, ev = out["audio"], out["video"]
        if x.recon_raw:  # Eq. 1
            ta = self.backbone.encoders["audio"].tokenizer.patchify(audio)
            tv = self.backbone.encoders["video"].tokenizer.patchify(video)
            pa = self.decoders["audio"](out["a_mm"], ea["ids_restore"], ea["grid"])
            pv = self.decoders["video"](out["v_mm"], ev["ids_restore"], ev["grid"])
            la = masked_mse(pa, ta, ea["mask"], norm_pix=x.norm_pix_loss)
            lv = masked_mse(pv, tv, ev["mask"], norm_pix=x.norm_pix_loss)
            logs["loss_raw_audio"], logs["loss_raw_video"] = la.detach(), lv.detach()
            loss = loss + la + lv
        if x.target != "raw":  # Eq. 5
            tgt = self.targets(audio, video)
            pa = self.feature_decoders["audio"](out["a_mm"], ea["ids_restore"], ea["grid"])
            pv = self.feature_decoders["video"](out["v_mm"], ev["ids_restore"], ev["grid"])
            la = masked_mse(pa, tgt["audio"], ea["mask"], norm_pix=False)
            lv = masked_mse(pv, tgt["video"], ev["mask"], norm_pix=False)
            logs["loss_context_audio"], logs["loss_context_video"] = la.detach(), lv.detach()
            loss = loss + la + lv
        a_emb, v_emb = _pool(out["a_um"]), _pool(out["v_um"])
        if x.inter:  # Eq. 3, inter
            l_inter = inter_modal_nce(a_emb, v_emb, x.tau_inter, x.symmetric_nce)
            logs["loss_inter"] = l_inter.detach()
            loss = loss + x.alpha * l_inter
        if x.intra:  # Eq. 3, intra: a second masked forward per modality
            a2 = _pool(self.backbone.encode("audio", audio, keep["audio2"])["tokens"])
            v2 = _pool(self.backbone.encode("video", video, keep["video2"])["tokens"])
            l_intra = intra_modal_nce(a_emb, a2, v_emb, v2, x.tau_intra, x.symmetric_nce)
            logs["loss_intra"] = l_intra.detach()
            loss = loss + x.beta * l_intra
        logs["loss"] = loss.detach()
        return {"loss": loss, "logs": logs}

    @torch.no_grad()
    def reconstruct(self, audio: torch.Tensor, video: torch.Tensor, mask_ratio: float, generator=None) -> dict:
        """Fig. 3: decoder predictions ``[B, N, P]`` and masks ``[B, N]`` (1 = masked) at ``mask_ratio``."""
        if not self.cfg.mavil.recon_raw:
            raise ValueError(f"{self.cfg.name} has no raw decoders (recon_raw is off)")
        B = audio.shape[0]
        keep = {
            k: exclusive_keep_ids(B, math.prod(g), mask_ratio, 1, generator, audio.device)[0]
            for k, g in (("audio", self.backbone.audio_grid), ("video", self.backbone.video_grid))
        }
        out = self.backbone(audio, video, keep["audio"], keep["video"])
        ea, ev = out["audio"], out["video"]
        return {
            "audio": self.decoders["audio"](out["a_mm"], ea["ids_restore"], ea["grid"]),
            "audio_mask": ea["mask"],
            "video": self.decoders["video"](out["v_mm"], ev["ids_restore"], ev["grid"]),
            "video_mask": ev["mask"],
        }


def build(cfg: MAViLPretrainConfig, logmel) -> MAViL:
    """Registry entry (:mod:`avlib.methods.build`): MAViL stage 1, stage 2 and the one-stage EMA variant."""
    if getattr(logmel, "target_frames", None) not in (None, cfg.mavil.fbank.target_frames):
        raise ValueError(
            f"{cfg.name}: the front end gives {logmel.target_frames} frames, mavil.fbank says "
            f"{cfg.mavil.fbank.target_frames}"
        )
    return MAViL(cfg)
