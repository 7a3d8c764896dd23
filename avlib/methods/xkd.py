"""XKD: masked reconstruction + cross-modal knowledge distillation with domain alignment.

Implements Eq. 1-13 and Algorithm 1 of XKD (Sarkar & Etemad, AAAI'24). One module covers the paper's
method and its baselines by switching losses on and off (``XKDConfig``):

* ``L_recon^v``: ``recon_video`` only;  ``L_recon^a``: ``recon_audio`` only;
* ``L_ae`` (Eq. 2): both reconstructions;  ``L_xkd`` (Eq. 12): reconstructions + ``L_da`` + ``L_kd``.

Variants (Supp. Table S5): ``ms`` (modality-specific), ``mas`` (students share the transformer blocks)
and ``mats`` (students share blocks, and so do teachers). Tokenizers, positional embeddings, CLS
tokens, final norms, decoders and heads are never shared.

Where the paper and its public code disagree, ``XKDConfig`` names the choice (docs/fidelity-notes.md).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn as nn

from avlib.config import PretrainConfig
from avlib.losses import (
    CenteredCrossEntropy,
    masked_mse,
    mmd,
    mmd_single_sigma,
    teacher_entropy_and_kl,
)
from avlib.methods.base import Method
from avlib.models import (
    AudioTokenizer,
    DINOProjector,
    MAEDecoder,
    VideoTokenizer,
    ViTEncoder,
    build_blocks,
    cls_attention,
    cross_modal_attention,
    patchify_audio,
    patchify_video,
    refine,
    vit_config,
)
from avlib.numerics import at_least_fp32
from avlib.train.ema import ema_update
from avlib.train.schedules import build_schedule


@dataclass
class XKDConfig:
    """XKD losses and their paper-vs-code options (see docs/fidelity-notes.md)."""

    recon_video: bool = True
    recon_audio: bool = True
    kd: bool = True
    da: bool = True
    lambda_ae: float = 5.0
    lambda_da: float = 1.0
    lambda_kd: float = 1.0
    loss_reduction: Literal["code", "paper"] = "code"
    mask_ratio_video: float = 0.85
    mask_ratio_audio: float = 0.80
    norm_pix_loss: bool = True
    teacher_input: Literal["global", "local"] = "global"
    refine: bool = True
    refine_omega: Literal["code", "paper"] = "code"
    cross_attention: Literal["mean", "softmax"] = "mean"
    use_cls_attention: bool = True
    # Supp. Table S13: 'within' = Eq. 9 (teachers with teachers, students with students), 'cross' = Eq. S1
    # (each teacher with the other modality's student), 'both' = Eq. S2
    da_pairs: Literal["within", "cross", "both"] = "within"
    mmd_kernel: Literal["multi_gaussian", "single_sigma"] = "multi_gaussian"
    mmd_sigma: float = 1.0
    # squared distances: `exact` (float64 Gram, zero self-distances) or `code` (the released code's float32 Gram
    # expansion, off by up to ~3e-3 at D = 8192: docs/fidelity-notes.md row 4c)
    mmd_distances: Literal["exact", "code"] = "exact"
    da_teacher_term: Literal["log", "add"] = "log"
    student_temp: float = 0.1
    teacher_temp_video: dict = field(default_factory=lambda: {"kind": "constant", "value": 0.1})
    teacher_temp_audio: dict = field(default_factory=lambda: {"kind": "constant", "value": 0.07})
    center_momentum: float = 0.9
    ema: dict = field(default_factory=lambda: {"kind": "cosine", "base": 0.997, "final": 1.0})
    ema_dedup_shared: bool = True
    variant: Literal["ms", "mas", "mats"] = "ms"


@dataclass
class XKDPretrainConfig(PretrainConfig):
    """A pretraining config of XKD: the shared sections plus ``xkd:``."""

    method: str = "xkd"
    xkd: XKDConfig = field(default_factory=XKDConfig)


CONFIG = XKDPretrainConfig


def _grid_video(frames: int, size: int, patch) -> tuple[int, int, int]:
    return (frames // patch[0], size // patch[1], size // patch[2])


def _grid_audio(n_mels: int, n_frames: int, patch) -> tuple[int, int]:
    return (n_mels // patch[0], n_frames // patch[1])


def scaled_vit(cfg, width_mult: float = 1.0, depth_mult: float = 1.0):
    """A preset made wider/deeper (XKD Fig. 4's larger video backbone): the width is rounded to a multiple
    of the (unchanged) head count, the depth to an integer >= 1."""
    if width_mult <= 0 or depth_mult <= 0:
        raise ValueError(f"video_width_mult and video_depth_mult must be > 0, got {width_mult}, {depth_mult}")
    if width_mult == 1.0 and depth_mult == 1.0:
        return cfg
    h = cfg.num_heads
    return dataclasses.replace(
        cfg,
        embed_dim=max(h, h * int(round(cfg.embed_dim * width_mult / h))),
        depth=max(1, int(round(cfg.depth * depth_mult))),
    )


class XKD(Method):
    """Students (encoders + projector heads), MAE decoders, EMA teachers and KD centering buffers.

    ``forward(views, sched)`` returns ``dict(loss=Tensor, logs=dict[str, Tensor])`` (detached 0-d tensors,
    converted to floats only at logging steps so GPU runs do not synchronise every step) where ``views`` is
    the output of ``avlib.data.views.GlobalLocalViews`` and ``sched`` holds this step's teacher
    temperatures (``teacher_temp_video``, ``teacher_temp_audio``).
    """

    def __init__(self, cfg: XKDPretrainConfig, audio_frames_global: int):
        super().__init__()
        self.cfg = cfg
        x: XKDConfig = cfg.xkd
        m, v = cfg.model, cfg.views
        self.use_video = x.recon_video or x.kd or x.da
        self.use_audio = x.recon_audio or x.kd or x.da
        self.distill = x.kd or x.da
        if not (self.use_video or self.use_audio):
            raise ValueError("xkd: every loss is switched off (recon_video, recon_audio, kd, da)")
        self.video_grid = _grid_video(v.video_frames, v.video_size, m.video_patch)
        self.audio_grid = _grid_audio(cfg.audio.n_mels, audio_frames_global, m.audio_patch)

        vcfg = scaled_vit(
            dataclasses.replace(vit_config(m.video_vit), qkv_bias=m.qkv_bias, norm_eps=m.norm_eps),
            m.video_width_mult,
            m.video_depth_mult,
        )
        acfg = dataclasses.replace(vit_config(m.audio_vit), qkv_bias=m.qkv_bias, norm_eps=m.norm_eps)
        if x.variant in ("mas", "mats") and (vcfg.embed_dim, vcfg.depth) != (acfg.embed_dim, acfg.depth):
            raise ValueError(f"xkd.variant={x.variant!r} shares blocks: video_vit and audio_vit must match")
        if self.distill and vcfg.num_heads != acfg.num_heads:
            raise ValueError("cross-modal attention (Eq. 4) needs the same number of heads in both encoders")

        self.student = nn.ModuleDict()
        shared = None
        if x.variant in ("mas", "mats") and self.use_video and self.use_audio:
            shared = build_blocks(vcfg)
        if self.use_video:
            self.student["video_encoder"] = ViTEncoder(
                VideoTokenizer(m.video_patch, 3, vcfg.embed_dim), self.video_grid, vcfg, blocks=shared
            )
        if self.use_audio:
            self.student["audio_encoder"] = ViTEncoder(
                AudioTokenizer(m.audio_patch, 1, acfg.embed_dim), self.audio_grid, acfg, blocks=shared
            )
        p = m.projector
        head_kw = dict(
            out_dim=p.out_dim,
            hidden_dim=p.hidden_dim,
            bottleneck_dim=p.bottleneck_dim,
            nlayers=p.nlayers,
            norm=None if p.norm == "none" else p.norm,
            last_norm=None if p.last_norm == "none" else p.last_norm,
            shared_hidden_norm=p.shared_hidden_norm,
        )
        if self.distill:
            self.student["video_head"] = DINOProjector(vcfg.embed_dim, **head_kw)
            self.student["audio_head"] = DINOProjector(acfg.embed_dim, **head_kw)

        self.decoders = nn.ModuleDict()
        vpatch_dim = 3 * m.video_patch[0] * m.video_patch[1] * m.video_patch[2]
        apatch_dim = m.audio_patch[0] * m.audio_patch[1]
        dec_kw = dict(
            dec_dim=m.decoder_dim,
            depth=m.decoder_depth,
            num_heads=m.decoder_heads,
            decoder_norm=m.decoder_norm,
            qkv_bias=m.qkv_bias,
        )
        if x.recon_video:
            self.decoders["video"] = MAEDecoder(
                vcfg.embed_dim, patch_dim=vpatch_dim, max_grid=self.video_grid, **dec_kw
            )
        if x.recon_audio:
            self.decoders["audio"] = MAEDecoder(
                acfg.embed_dim, patch_dim=apatch_dim, max_grid=self.audio_grid, **dec_kw
            )

        if self.distill:
            self.teacher = self._build_teacher(x.variant)
            self.kd_video_teacher = CenteredCrossEntropy(p.out_dim, x.center_momentum)  # video teacher -> audio student
            self.kd_audio_teacher = CenteredCrossEntropy(p.out_dim, x.center_momentum)  # audio teacher -> video student

    # ---------------------------------------------------------------------------------------------
    def _build_teacher(self, variant: str) -> nn.ModuleDict:
        """EMA teachers start as copies of the students. ``mats`` keeps the block sharing (one deepcopy
        of the whole dict preserves it); ``ms``/``mas`` copy each encoder on its own, so MAS teachers
        get modality-specific blocks (Supp. Table S5)."""
        if variant == "mats":
            teacher = copy.deepcopy(self.student)
        else:
            teacher = nn.ModuleDict({k: copy.deepcopy(mod) for k, mod in self.student.items()})
        for prm in teacher.parameters():
            prm.requires_grad_(False)
        return teacher

    # ------------------------------------------------------------------ Method hooks (avlib.methods.base)
    def setup(self, total_steps: int, iters_per_epoch: int) -> None:
        """Per-step schedules of ``xkd.ema`` (Eq. 13 momentum) and the teacher temperatures (Eq. 10)."""
        x = self.cfg.xkd
        self._ema = build_schedule(x.ema, total_steps, iters_per_epoch)
        self._temp_v = build_schedule(x.teacher_temp_video, total_steps, iters_per_epoch)
        self._temp_a = build_schedule(x.teacher_temp_audio, total_steps, iters_per_epoch)

    def step_inputs(self, step: int) -> dict:
        return {"teacher_temp_video": float(self._temp_v[step]), "teacher_temp_audio": float(self._temp_a[step])}

    def schedule_logs(self, step: int) -> dict:
        return {"ema": float(self._ema[step])}

    def after_step(self, step: int) -> None:
        self.update_teacher(float(self._ema[step]))

    def parameters_to_clip(self) -> list:
        """The students' encoders and heads (the released code clips these, not the decoders)."""
        return [p for p in self.student.parameters() if p.requires_grad]

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """Eq. 13 on every teacher tensor once (``xkd.ema_dedup_shared``, default), or as the released
        code: one pass per modality (video, then audio), each over its own deduplicated parameters, so a
        tensor shared *within* a modality (the projector's tied LayerNorm) moves once and blocks shared
        *across* modalities (MATS) move twice."""
        if not self.distill:
            return
        if self.cfg.xkd.ema_dedup_shared:
            ema_update(self.student, self.teacher, momentum)
            return
        for modality in ("video", "audio"):
            keys = [k for k in self.student if k.startswith(f"{modality}_")]
            ema_update(
                nn.ModuleDict({k: self.student[k] for k in keys}),
                nn.ModuleDict({k: self.teacher[k] for k in keys}),
                momentum,
            )

    def encoder_for_eval(self, modality: str, which: str = "teacher") -> nn.Module:
        """The frozen encoder used for downstream evaluation (teachers by default, paper section 4.6)."""
        key = f"{modality}_encoder"
        if which == "teacher" and self.distill:
            return self.teacher[key]
        if key not in self.student:
            raise KeyError(f"{self.cfg.name} has no {modality} encoder (none of its losses uses {modality})")
        return self.student[key]

    # ---------------------------------------------------------------------------------------------
    def _reconstruct(self, modality: str, x: torch.Tensor, ratio: float, generator, noise=None):
        enc = self.student[f"{modality}_encoder"](x, mask_ratio=ratio, generator=generator, noise=noise)
        loss = None
        if modality in self.decoders:
            pred = self.decoders[modality](enc["tokens"], enc["ids_restore"], enc["grid"])
            patch = self.cfg.model.video_patch if modality == "video" else self.cfg.model.audio_patch
            target = patchify_video(x, patch) if modality == "video" else patchify_audio(x, patch)
            loss = masked_mse(pred, target, enc["mask"], norm_pix=self.cfg.xkd.norm_pix_loss)
        return enc, loss

    @torch.no_grad()
    def teacher_outputs(self, video_t: torch.Tensor, audio_t: torch.Tensor, details: bool = False) -> dict:
        """Eq. 3-6 and the teacher projector: refined, token-averaged teacher representations.

        Returns ``video``/``audio`` (head outputs ``[B, K]``) and, with ``refine``, ``cross_attn_{video,audio}``
        (Eq. 4). ``details`` adds, per modality, ``attn_*`` (last block ``[B, H, 1+N, 1+N]``), ``tokens_*``
        (last block output after the final norm, CLS first), ``cls_attn_*`` (Eq. 3) and ``refined_*``
        (Eq. 5-6, patches only; the unrefined patches when ``refine`` is off).
        """
        x = self.cfg.xkd
        tv = self.teacher["video_encoder"](video_t, return_attn=True)
        ta = self.teacher["audio_encoder"](audio_t, return_attn=True)
        feat_v, feat_a = tv["tokens"][:, 1:], ta["tokens"][:, 1:]
        out = {}
        if x.refine:
            att_v = cls_attention(tv["attn"], use_cls=x.use_cls_attention)
            att_a = cls_attention(ta["attn"], use_cls=x.use_cls_attention)
            cross_v = cross_modal_attention(att_v, att_a, mode=x.cross_attention)
            cross_a = cross_modal_attention(att_a, att_v, mode=x.cross_attention)
            feat_v = refine(feat_v, cross_v, omega=x.refine_omega)
            feat_a = refine(feat_a, cross_a, omega=x.refine_omega)
            out["cross_attn_video"], out["cross_attn_audio"] = cross_v, cross_a
            if details:
                out["cls_attn_video"], out["cls_attn_audio"] = att_v, att_a
        out["video"] = self.teacher["video_head"](feat_v.mean(1))
        out["audio"] = self.teacher["audio_head"](feat_a.mean(1))
        if details:
            out.update(
                attn_video=tv["attn"],
                attn_audio=ta["attn"],
                tokens_video=tv["tokens"],
                tokens_audio=ta["tokens"],
                refined_video=feat_v,
                refined_audio=feat_a,
            )
        return out

    def _student_outputs(self, modality: str, enc_global: dict, locals_: list[torch.Tensor]) -> torch.Tensor:
        """Alg. 1 lines 13-15: head(mean of visible global tokens) concatenated with head(local views)."""
        enc = self.student[f"{modality}_encoder"]
        head = self.student[f"{modality}_head"]
        outs = [head(enc_global["tokens"][:, 1:].mean(1))]
        if locals_:
            loc = torch.cat(locals_, 0)  # same-resolution local views in one forward
            outs.append(head(enc(loc)["tokens"][:, 1:].mean(1)))
        return torch.cat(outs, 0)

    def _mmd(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        exact = self.cfg.xkd.mmd_distances == "exact"
        if self.cfg.xkd.mmd_kernel == "single_sigma":
            return mmd_single_sigma(a, b, self.cfg.xkd.mmd_sigma, exact=exact)
        return mmd(a, b, exact=exact)

    def forward(
        self, views: dict, sched: dict, generator: torch.Generator | None = None, mask_noise: dict | None = None
    ) -> dict:
        """One XKD step's losses.

        Args:
            views: ``video_global``, ``audio_global`` and the lists ``video_local``, ``audio_local``.
            sched: this step's ``teacher_temp_video`` and ``teacher_temp_audio``.
            generator: draws the random masks of the global views.
            mask_noise: explicit masks instead, ``{'video': noise [B, Nv], 'audio': noise [B, Na]}`` (either
                key optional): the masking noise of :func:`avlib.models.masking.random_masking` at the
                configured ratios. The official code's ``ids_restore`` passed as the noise reproduces its
                masks (``tests/golden``).
        """
        x = self.cfg.xkd
        mask_noise = dict(mask_noise or {})
        unknown = sorted(set(mask_noise) - {"video", "audio"})
        if unknown:
            raise ValueError(f"mask_noise: unknown key(s) {unknown}; allowed: ['audio', 'video']")
        logs: dict[str, float] = {}
        recon = []
        enc_v = enc_a = None
        if self.use_video:
            enc_v, l_v = self._reconstruct(
                "video", views["video_global"], x.mask_ratio_video, generator, mask_noise.get("video")
            )
            if l_v is not None:
                recon.append(l_v)
                logs["loss_recon_video"] = l_v.detach()
        if self.use_audio:
            enc_a, l_a = self._reconstruct(
                "audio", views["audio_global"], x.mask_ratio_audio, generator, mask_noise.get("audio")
            )
            if l_a is not None:
                recon.append(l_a)
                logs["loss_recon_audio"] = l_a.detach()
        terms: list[tuple[float, torch.Tensor]] = []
        if recon:
            l_ae = torch.stack(recon).mean() if x.loss_reduction == "code" else torch.stack(recon).sum()
            terms.append((x.lambda_ae, l_ae))
            logs["loss_ae"] = l_ae.detach()

        if self.distill:
            if x.teacher_input == "global":
                t_in_v, t_in_a = views["video_global"], views["audio_global"]
            else:  # released code: the first local view (reference-notes 1.2)
                t_in_v, t_in_a = views["video_local"][0], views["audio_local"][0]
            t = self.teacher_outputs(t_in_v, t_in_a)
            zs_v = self._student_outputs("video", enc_v, views["video_local"])
            zs_a = self._student_outputs("audio", enc_a, views["audio_local"])
            n_v, n_a = 1 + len(views["video_local"]), 1 + len(views["audio_local"])
            with torch.autocast(device_type=zs_v.device.type, enabled=False):
                zs_v, zs_a = at_least_fp32(zs_v), at_least_fp32(zs_a)
                tv, ta = at_least_fp32(t["video"]), at_least_fp32(t["audio"])
                for name, z, crit, tau in (
                    ("video", tv, self.kd_video_teacher, sched["teacher_temp_video"]),
                    ("audio", ta, self.kd_audio_teacher, sched["teacher_temp_audio"]),
                ):
                    st = teacher_entropy_and_kl(z, crit.center, tau)  # before this step's centre update
                    logs[f"teacher_entropy_{name}"] = st["entropy"].detach()
                    logs[f"teacher_kl_{name}"] = st["kl_to_mean"].detach()
                if x.da:
                    half = 0.5 if x.loss_reduction == "code" else 1.0
                    l_da = zs_v.new_zeros(())
                    if x.da_pairs in ("within", "both"):
                        l_da_s = self._mmd(zs_v, zs_a)
                        l_da_t = self._mmd(tv, ta)  # carries no gradient: teachers are EMA (Eq. 13)
                        logs["loss_da_student"], logs["loss_da_teacher"] = l_da_s.detach(), l_da_t.detach()
                        # 'add' reproduces the code's loss value; 'log' drops the constant teacher term but
                        # keeps the student term's weight (1/2 under the code's group mean): same gradients.
                        l_da = l_da + (half * (l_da_s + l_da_t) if x.da_teacher_term == "add" else half * l_da_s)
                    if x.da_pairs in ("cross", "both"):  # Eq. S1: each teacher with the other modality's student
                        l_da_x = self._mmd(ta, zs_v) + self._mmd(tv, zs_a)
                        logs["loss_da_cross"] = l_da_x.detach()
                        l_da = l_da + half * l_da_x
                    terms.append((x.lambda_da, l_da))
                    logs["loss_da"] = l_da.detach()
                # Eq. 11: audio student <- video teacher, video student <- audio teacher
                ce_a = self.kd_video_teacher(zs_a, tv, x.student_temp, sched["teacher_temp_video"], n_a, 1)
                ce_v = self.kd_audio_teacher(zs_v, ta, x.student_temp, sched["teacher_temp_audio"], n_v, 1)
                l_kd = (ce_a + ce_v) / 2 if x.loss_reduction == "code" else ce_a + ce_v
                logs["loss_kd_v2a"], logs["loss_kd_a2v"] = ce_a.detach(), ce_v.detach()
                if x.kd:
                    terms.append((x.lambda_kd, l_kd))
                    logs["loss_kd"] = l_kd.detach()

        # code: weighted sum / sum of weights (a single term is therefore unweighted); paper: Eq. 12 sum
        loss = sum(w * term for w, term in terms)
        if x.loss_reduction == "code":
            loss = loss / sum(w for w, _ in terms)
        logs["loss"] = loss.detach()
        return {"loss": loss, "logs": logs}


def build(cfg: XKDPretrainConfig, logmel) -> XKD:
    """Registry entry (:mod:`avlib.methods.build`): XKD and its variants and baselines."""
    n_samples = int(round(cfg.views.audio_seconds * cfg.audio.sample_rate))
    return XKD(cfg, audio_frames_global=logmel.n_frames(n_samples))
