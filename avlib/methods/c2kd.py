"""C2KD (Huo et al., CVPR'24): supervised cross-modal knowledge distillation across the modality gap.

A teacher pretrained (cross-entropy) on one modality distils into a student trained from scratch on the other;
the student is then tested alone on its own modality. Two stages (reference-notes §2.2):

* ``c2kd.stage: teacher``: the teacher network alone, CE on its modality.
* ``c2kd.stage: student``: the teacher loaded from its stage-1 run (``c2kd.teacher``), a fresh student, and per
  ``c2kd.loss``: ``c2kd`` (both networks with a proxy each on their layer-3 map, :func:`avlib.losses.c2kd.c2kd_terms`:
  bidirectional KL backbone <-> proxy, OFSD's non-target KL between the proxies on the samples whose proxies rank
  the classes alike; the teacher trains too, all of it (the paper's dagger) or only its top two stages
  (``teacher_trainable: top2``, double dagger)), or the baselines with a frozen teacher: ``none`` (student CE
  only), ``kd`` (Hinton), ``dkd`` (decoupled KD), ``fitnet`` (hints on layer 3, bilinear size alignment).

Inputs per batch: ``audio`` (a 1-channel spectrogram ``[B, 1, F, T]``), ``video`` (frames ``[B, K, 3, H, W]``) and
``label``. Backbones: :class:`avlib.models.resnet2d.ModalityResNet` (ResNet-18 by default; ``resnet34`` is the
public code's "resnet50"; ``resnet50`` a true one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from avlib.config import PretrainConfig
from avlib.losses.c2kd import c2kd_terms
from avlib.losses.kd import FitNetHint, dkd, hinton_kd
from avlib.methods.base import Method
from avlib.models.resnet2d import ARCHS, ModalityResNet, Proxy

__all__ = ["C2KDConfig", "C2KDPretrainConfig", "CONFIG", "C2KD", "build", "pretrain", "LOSSES"]

LOSSES = ("c2kd", "none", "kd", "dkd", "fitnet")
MODALITIES = ("audio", "video")


@dataclass
class C2KDConfig:
    """C2KD's and its baselines' options; the public code's departures are named options (docs/fidelity-notes.md)."""

    stage: Literal["teacher", "student"] = "student"
    teacher_modality: Literal["audio", "video"] = "audio"
    teacher_arch: str = "resnet18"
    student_arch: str = "resnet18"
    n_classes: int = 0  # 0: from the training cache
    frames: int = 1  # K frames through the shared 2-D network (CREMA-D / AVE: 1; VGGSound: 3)
    teacher: str = ""  # stage 2: the stage-1 run (its final.pt); "{seed}" becomes train.seed
    loss: Literal["c2kd", "none", "kd", "dkd", "fitnet"] = "c2kd"
    teacher_trainable: Literal["all", "top2"] = "all"  # c2kd only; the baselines keep the teacher frozen
    lambda1: float = 1.0  # student <-> its proxy
    lambda2: float = 1.0  # teacher <-> its proxy
    lambda3: float = 1.0  # proxy <-> proxy (OFSD)
    krc_threshold: float = 0.0  # Kendall tau-b above which a sample is distilled (the code's --krc)
    non_target: Literal["remove", "zero"] = "remove"  # code: "zero" (the target logit x 0, still in the softmax)
    ntkl_reduction: Literal["mask", "batch"] = "mask"  # code: "batch" (mean over the whole batch)
    kd_temperature: float = 4.0
    dkd_alpha: float = 1.0
    dkd_beta: float = 8.0
    fitnet_weight: float = 100.0


@dataclass
class C2KDPretrainConfig(PretrainConfig):
    """A C2KD run: the shared sections (data, views, audio front end, optim, train) plus ``c2kd:``."""

    method: str = "c2kd"
    c2kd: C2KDConfig = field(default_factory=C2KDConfig)


CONFIG = C2KDPretrainConfig


def _check(cfg: C2KDPretrainConfig) -> None:
    x, where = cfg.c2kd, f"{cfg.name}: c2kd"
    for k in ("teacher_arch", "student_arch"):
        if getattr(x, k) not in ARCHS:
            raise ValueError(f"{where}.{k}={getattr(x, k)!r} must be one of {sorted(ARCHS)}")
    if x.teacher_modality not in MODALITIES:
        raise ValueError(f"{where}.teacher_modality={x.teacher_modality!r} must be audio or video")
    if x.loss not in LOSSES:
        raise ValueError(f"{where}.loss={x.loss!r} must be one of {list(LOSSES)}")
    if x.n_classes < 2:
        raise ValueError(f"{where}.n_classes={x.n_classes}: a classifier needs >= 2 classes (0 = from the cache)")
    if x.frames < 1:
        raise ValueError(f"{where}.frames={x.frames} must be >= 1")
    if x.teacher_trainable == "top2" and x.loss != "c2kd":
        raise ValueError(f"{where}: teacher_trainable applies to loss c2kd (the baselines' teacher is frozen)")


def _map2d(f: torch.Tensor) -> torch.Tensor:
    """A frames network's ``[B, C, K, h, w]`` map averaged over its K frames (a 2-D map as is)."""
    return f.mean(2) if f.dim() == 5 else f


class C2KD(Method):
    """Teacher and student networks (one per modality), C2KD's two proxies or a baseline's regressor."""

    def __init__(self, cfg: C2KDPretrainConfig):
        super().__init__()
        _check(cfg)
        self.cfg, x = cfg, cfg.c2kd
        self.teacher_modality = x.teacher_modality
        self.student_modality = "video" if x.teacher_modality == "audio" else "audio"
        channels = {"audio": 1, "video": 3}
        self.teacher = ModalityResNet(x.teacher_arch, channels[self.teacher_modality], x.n_classes)
        self.student = None
        if x.stage == "student":
            self.student = ModalityResNet(x.student_arch, channels[self.student_modality], x.n_classes)
            if x.loss == "c2kd":
                self.proxy_teacher = Proxy(self.teacher.layer3_channels, x.n_classes)
                self.proxy_student = Proxy(self.student.layer3_channels, x.n_classes)
            elif x.loss == "fitnet":
                self.hint = FitNetHint(self.student.layer3_channels, self.teacher.layer3_channels)
            self.set_teacher_trainable()

    def modalities(self) -> set[str]:
        """The inputs ``forward`` reads: the teacher's modality, and the student's in stage 2."""
        return {self.teacher_modality} | ({self.student_modality} if self.student is not None else set())

    @property
    def use_video(self) -> bool:
        return "video" in self.modalities()

    @property
    def use_audio(self) -> bool:
        return "audio" in self.modalities()

    def set_teacher_trainable(self) -> None:
        """Stage 2: the baselines freeze the teacher; C2KD trains all of it or only its top two stages (layer3,
        layer4 and the head: the stages whose output the proxy and the logits read)."""
        x = self.cfg.c2kd
        trainable = {"all": self.teacher.stages(), "top2": self.teacher.stages()[-3:]}[x.teacher_trainable]
        for stage in self.teacher.stages():
            on = x.loss == "c2kd" and any(stage is s for s in trainable)
            stage.requires_grad_(on)

    def teacher_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.teacher.parameters())

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.student is not None and self.teacher_frozen():
            self.teacher.eval()  # a frozen teacher keeps its BatchNorm statistics
        return self

    def forward(self, batch: dict, sched: dict | None = None, generator=None) -> dict:
        x, y = self.cfg.c2kd, batch["label"]
        out_t = self.teacher(batch[self.teacher_modality])
        if self.student is None:  # stage 1
            loss = F.cross_entropy(out_t["logits"].float(), y)
            return {"loss": loss, "logs": {"ce_teacher": loss.detach()}}
        out_s = self.student(batch[self.student_modality])
        z_s = out_s["logits"]
        ce = F.cross_entropy(z_s.float(), y)
        if x.loss == "c2kd":
            terms = c2kd_terms(
                out_t["logits"],
                self.proxy_teacher(out_t["layer3"]),
                z_s,
                self.proxy_student(out_s["layer3"]),
                y,
                lambda1=x.lambda1,
                lambda2=x.lambda2,
                lambda3=x.lambda3,
                threshold=x.krc_threshold,
                target=x.non_target,
                reduction=x.ntkl_reduction,
            )
            loss = terms.pop("loss")
            return {"loss": loss, "logs": {k: v.detach() for k, v in terms.items()}}
        z_t = out_t["logits"].detach()
        if x.loss == "none":
            kd = ce.new_zeros(())
        elif x.loss == "kd":
            kd = hinton_kd(z_s, z_t, x.kd_temperature)
        elif x.loss == "dkd":
            kd = dkd(z_s, z_t, y, x.dkd_alpha, x.dkd_beta, x.kd_temperature)
        else:  # fitnet: the student's layer-3 map regressed onto the teacher's
            kd = x.fitnet_weight * self.hint(_map2d(out_s["layer3"]), _map2d(out_t["layer3"]).detach())
        return {"loss": ce + kd, "logs": {"ce_student": ce.detach(), "kd": kd.detach()}}

    def encoder_for_eval(self, modality: str, which: str = "student") -> nn.Module:
        """The network of ``modality`` (the student's in stage 2; the teacher's in stage 1)."""
        if self.student is not None and modality == self.student_modality:
            return self.student
        if modality == self.teacher_modality:
            return self.teacher
        raise KeyError(f"this C2KD model has no {modality} network (teacher {self.teacher_modality})")

    @torch.no_grad()
    def predict(self, batch: dict) -> torch.Tensor:
        """The tested network's logits: the student alone on its modality (the teacher in stage 1)."""
        net = self.student if self.student is not None else self.teacher
        mod = self.student_modality if self.student is not None else self.teacher_modality
        return net(batch[mod])["logits"]


def build(cfg: C2KDPretrainConfig, logmel=None) -> C2KD:
    return C2KD(cfg)


TRAINING_LOOP = "avlib.train.c2kd_train"  # what the resume key and the DVC stage hash (avlib.train.resume)


def pretrain(cfg: C2KDPretrainConfig, out_dir, **kw) -> dict:
    """C2KD trains with labels in its own loop (:func:`avlib.train.c2kd_train.pretrain_c2kd`), either stage."""
    from avlib.train.c2kd_train import pretrain_c2kd

    return pretrain_c2kd(cfg, out_dir, **kw)
