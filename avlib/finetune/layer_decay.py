"""Layer-wise learning-rate decay (BEiT; XKD Tables S6/S7).

Layer ids: tokenizer, positional embedding and CLS token 0; transformer block ``i`` -> ``i + 1``; the
final norm and the head ``depth + 1``. A parameter of layer ``l`` trains at
``lr * decay ** (depth + 1 - l)``: the head at the full rate, the patch embedding most damped."""

from __future__ import annotations

import torch.nn as nn

NO_DECAY = ("pos_embed", "cls_token")  # as BEiT / VideoMAE fine-tuning (their 2-3-D tensors are not weights)


def layer_id(name: str, depth: int) -> int:
    """Layer id of parameter ``name`` of a :class:`avlib.finetune.Classifier` (``encoder.*``, ``head.*``)."""
    if name.startswith("encoder."):
        rest = name[len("encoder.") :]
        if rest.startswith(("tokenizer.", "pos_embed", "cls_token")):
            return 0
        if rest.startswith("blocks."):
            return int(rest.split(".")[1]) + 1
    return depth + 1


def layer_decay_groups(model: nn.Module, depth: int, *, weight_decay: float, layer_decay: float) -> list[dict]:
    """AdamW parameter groups with a ``lr_scale`` each; biases, 1-D parameters, positional embeddings and
    the CLS token get no weight decay."""
    if not 0 < layer_decay <= 1:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lid = layer_id(name, depth)
        decay = not (p.ndim <= 1 or name.endswith(".bias") or any(k in name for k in NO_DECAY))
        g = groups.setdefault(
            (lid, decay),
            {
                "params": [],
                "names": [],
                "layer_id": lid,
                "lr_scale": layer_decay ** (depth + 1 - lid),
                "weight_decay": weight_decay if decay else 0.0,
            },
        )
        g["params"].append(p)
        g["names"].append(name)
    return [groups[k] for k in sorted(groups)]
