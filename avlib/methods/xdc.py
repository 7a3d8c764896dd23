"""XDC (Alwassel et al. 2020): self-supervised learning by (cross-modal) deep clustering.

Four variants (XDC Section 3, Fig. 1), all alternating *cluster features -> train encoders to predict the
cluster assignments* (the rounds live in :mod:`avlib.train.xdc_rounds`):

* ``sdc``: each encoder predicts the clusters of its own features (DeepCluster per modality);
* ``mdc``: each encoder has two heads, predicting its own and the other modality's clusters;
* ``cdc``: both encoders predict the clusters of ``cat(l2norm(f_v), l2norm(f_a))``;
* ``xdc``: the video encoder predicts the audio clusters and vice versa (plain cross-entropy);
* ``supervised``: the paper's *Superv* baseline, both encoders trained on the pretraining set's labels
  (``k`` becomes the number of classes; one round of the same train-until-val-plateau loop). The *Scratch*
  baseline is any variant with ``rounds: 0`` (the random initialisation, saved as a run).

Encoders: the paper's R(2+1)D-18 / 2-D ResNet-18 (``backbone: cnn``) or the ViT encoders of the
foundation (``backbone: vit``; the CPU profiles use them). The classification heads are linear and are
re-created at the start of every round (DeepCluster: ``normal_(0, 0.01)``, bias 0).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from avlib.config import PretrainConfig
from avlib.methods.base import Method
from avlib.models import AudioTokenizer, VideoTokenizer, ViTEncoder, vit_config

__all__ = ["XDCConfig", "XDCPretrainConfig", "CONFIG", "XDC", "build", "TARGETS", "SOURCES"]

# encoder modality -> the clusterings whose assignments it predicts, per variant
TARGETS = {
    "sdc": {"video": ("video",), "audio": ("audio",)},
    "mdc": {"video": ("video", "audio"), "audio": ("audio", "video")},
    "cdc": {"video": ("joint",), "audio": ("joint",)},
    "xdc": {"video": ("audio",), "audio": ("video",)},
    "supervised": {"video": ("labels",), "audio": ("labels",)},
}
# the clusterings each variant computes every round
SOURCES = {v: tuple(sorted({s for t in heads.values() for s in t})) for v, heads in TARGETS.items()}


@dataclass
class XDCConfig:
    """XDC recipe (paper Section 3.3 and Supp. Table 10, scaled by profile)."""

    variant: Literal["sdc", "mdc", "cdc", "xdc", "supervised"] = "xdc"
    backbone: Literal["vit", "cnn"] = "vit"
    k: int = 64  # k-means clusters (Table 2 sweeps 64..1024)
    pca_dim: int = 0  # 0: no PCA before k-means (XDC does not say; DeepCluster whitens to 256)
    l2norm: bool = True  # L2-normalise features before k-means (CDC: each modality, then concatenated)
    kmeans_iters: int = 20
    kmeans_init: Literal["random", "k-means++"] = "random"  # DeepCluster's random init; see avlib.cluster.kmeans
    rounds: int = 3  # clustering rounds (the paper does not report how many); 0 = Scratch
    max_epochs: int = 10  # per round; a round ends earlier when the pseudo-label val loss saturates
    epoch_clips: int = 0  # clips per epoch ("epoch size", Supp. Table 9: 1M on Kinetics); 0 = the training set
    patience: int = 3  # "saturates": the val loss increased in this many consecutive epochs (Table 9)
    val_fraction: float = 0.1  # clips held out to measure the pseudo-label validation loss
    optimizer: Literal["sgd", "adamw"] = "sgd"  # the paper's SGD (ResNets with BatchNorm); adamw for ViT encoders
    lr: float = 0.01  # SGD, Supp. Table 10
    momentum: float = 0.9  # SGD only
    weight_decay: float = 1e-4
    head_init_std: float = 0.01


@dataclass
class XDCPretrainConfig(PretrainConfig):
    method: str = "xdc"
    xdc: XDCConfig = field(default_factory=XDCConfig)


CONFIG = XDCPretrainConfig


def _encoders(cfg: XDCPretrainConfig, audio_frames: int) -> nn.ModuleDict:
    x, m, v = cfg.xdc, cfg.model, cfg.views
    if x.backbone == "cnn":
        from avlib.models.cnn import AudioResNet18, R2Plus1D18

        return nn.ModuleDict({"video": R2Plus1D18(), "audio": AudioResNet18()})
    vcfg = dataclasses.replace(vit_config(m.video_vit), qkv_bias=m.qkv_bias, norm_eps=m.norm_eps)
    acfg = dataclasses.replace(vit_config(m.audio_vit), qkv_bias=m.qkv_bias, norm_eps=m.norm_eps)
    vgrid = (v.video_frames // m.video_patch[0], v.video_size // m.video_patch[1], v.video_size // m.video_patch[2])
    agrid = (cfg.audio.n_mels // m.audio_patch[0], audio_frames // m.audio_patch[1])
    return nn.ModuleDict(
        {
            "video": ViTEncoder(VideoTokenizer(m.video_patch, 3, vcfg.embed_dim), vgrid, vcfg),
            "audio": ViTEncoder(AudioTokenizer(m.audio_patch, 1, acfg.embed_dim), agrid, acfg),
        }
    )


class XDC(Method):
    """Both encoders and the variant's linear heads (``heads["<encoder>_from_<source>"]``)."""

    def __init__(self, cfg: XDCPretrainConfig, audio_frames: int):
        super().__init__()
        if cfg.xdc.k < 2:
            raise ValueError(f"xdc.k must be >= 2, got {cfg.xdc.k}")
        if cfg.xdc.rounds < 0:
            raise ValueError(f"xdc.rounds must be >= 0 (0 = Scratch), got {cfg.xdc.rounds}")
        self.cfg = cfg
        self.variant = cfg.xdc.variant
        self.encoders = _encoders(cfg, audio_frames)
        self.heads = nn.ModuleDict(
            {
                f"{enc}_from_{src}": nn.Linear(self.encoders[enc].embed_dim, cfg.xdc.k)
                for enc, srcs in TARGETS[self.variant].items()
                for src in srcs
            }
        )
        self.reset_heads()
        self.distill = False  # no teachers

    @property
    def sources(self) -> tuple[str, ...]:
        """The clusterings this variant computes every round (``video``, ``audio``, ``joint`` or ``labels``)."""
        return SOURCES[self.variant]

    @torch.no_grad()
    def reset_heads(self, generator: torch.Generator | None = None) -> None:
        """New classifiers for a new clustering (every round): N(0, head_init_std), bias 0."""
        for h in self.heads.values():
            h.weight.normal_(0.0, self.cfg.xdc.head_init_std, generator=generator)
            h.bias.zero_()

    def encoder_for_eval(self, modality: str, which: str = "teacher") -> nn.Module:
        """The encoder evaluated downstream (XDC has no teacher; ``which`` is accepted for the shared API)."""
        if modality not in self.encoders:
            raise KeyError(f"xdc has no {modality} encoder")
        return self.encoders[modality]

    def features(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        return self.encoders[modality].features(x, pool="mean")

    def forward(self, video: torch.Tensor, audio: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict:
        """Cross-entropy of every head against its clustering's assignments (``targets[source]``, int64
        [B]); the loss is the **sum** over heads, so every head (and each encoder through its heads) gets the
        full gradient at the recipe's learning rate. Returns ``loss`` and per-head detached ``logs``."""
        feats = {"video": self.features("video", video), "audio": self.features("audio", audio)}
        losses, logs = [], {}
        for name, head in self.heads.items():
            enc, src = name.split("_from_")
            if src not in targets:
                raise KeyError(f"xdc ({self.variant}): no pseudo-labels for {src!r}; got {sorted(targets)}")
            loss = F.cross_entropy(head(feats[enc]).float(), targets[src])
            losses.append(loss)
            logs[f"loss_{name}"] = loss.detach()
        total = torch.stack(losses).sum()
        logs["loss"] = total.detach()
        return {"loss": total, "logs": logs}


# XDC trains in clustering rounds (the resume key and the DVC stage hash this loop's import closure)
TRAINING_LOOP = "avlib.train.xdc_rounds"


def build(cfg: XDCPretrainConfig, logmel) -> XDC:
    """Registry entry (:mod:`avlib.methods.build`)."""
    if not isinstance(cfg, XDCPretrainConfig):
        raise TypeError(f"xdc needs an XDCPretrainConfig (method: xdc), got {type(cfg).__name__}")
    n_samples = int(round(cfg.views.audio_seconds * cfg.audio.sample_rate))
    return XDC(cfg, audio_frames=logmel.n_frames(n_samples))


def pretrain(cfg: XDCPretrainConfig, out_dir, **kw) -> dict:
    """XDC trains in clustering rounds, not with the step runner (:func:`avlib.train.xdc_rounds.pretrain_xdc`)."""
    from avlib.train.xdc_rounds import pretrain_xdc

    return pretrain_xdc(cfg, out_dir, **kw)
