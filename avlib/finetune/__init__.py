"""End-to-end fine-tuning of a pretrained encoder (XKD Supp. A.6, Tables S6/S7): a linear head on the
mean-pooled tokens, layer-wise LR decay, MixUp/CutMix and label smoothing for video, SpecAugment-style
masking for audio. ``finetune(run_dir, task, recipe)`` is the entry point; the CLI is
``python -m avlib finetune``."""

from avlib.finetune.augment import mixup_cutmix, smooth_one_hot, spec_augment
from avlib.finetune.layer_decay import layer_decay_groups, layer_id
from avlib.finetune.trainer import Classifier, FinetuneRecipe, finetune

__all__ = [
    "Classifier",
    "FinetuneRecipe",
    "finetune",
    "layer_decay_groups",
    "layer_id",
    "mixup_cutmix",
    "smooth_one_hot",
    "spec_augment",
]
