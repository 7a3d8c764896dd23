"""Projection heads: iBOT/XKD-style DINO projector and a linear probe head.

XKD's projector (reference-notes §1.6, config ``'2048-gelu-3-256-8192-norm3'``):
``Linear(in,2048)-LN-GELU-Linear(2048,2048)-LN-GELU-Linear(2048,256)`` (the released code uses *one*
LayerNorm module at both places: ``shared_hidden_norm``) -> L2-normalise ->
weight-normalised ``Linear(256, 8192, bias=False)`` with magnitude ``g`` fixed to 1 and frozen
(``norm_last_layer``) -> non-affine ``LayerNorm(8192)`` on the logits (``last_norm``, iBOT). DINO's
head is the same with ``norm=None`` and ``last_norm=None``.

The weight norm is explicit (parameters ``last_layer.weight_g [out, 1]`` and ``last_layer.weight_v
[out, in]``, the key names of ``torch.nn.utils.weight_norm`` checkpoints), so ``deepcopy``, EMA over
``parameters()`` and ``state_dict`` behave like any plain module.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["WeightNormLinear", "DINOProjector", "LinearHead"]


class WeightNormLinear(nn.Module):
    """Bias-free ``y = x @ W^T`` with ``W = g * v / ||v||`` (row norms). ``fix_norm`` fills ``g`` with 1
    and freezes it (DINO ``norm_last_layer``)."""

    def __init__(self, in_dim: int, out_dim: int, fix_norm: bool = True):
        super().__init__()
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.weight_v = nn.Parameter(torch.empty(out_dim, in_dim))
        nn.init.trunc_normal_(self.weight_v, std=0.02)
        self.weight_g = nn.Parameter(self.weight_v.detach().norm(dim=1, keepdim=True).clone())
        if fix_norm:
            self.weight_g.data.fill_(1.0)
            self.weight_g.requires_grad_(False)

    @property
    def weight(self) -> Tensor:
        """Effective weight ``[out, in]``."""
        return self.weight_g * self.weight_v / self.weight_v.norm(dim=1, keepdim=True)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, fixed_norm={not self.weight_g.requires_grad}"


def _norm(kind: str | None, dim: int, eps: float) -> nn.Module:
    if kind is None:
        return nn.Identity()
    if kind == "ln":
        return nn.LayerNorm(dim, eps=eps)
    if kind == "bn":
        return nn.BatchNorm1d(dim)
    raise ValueError(f"norm must be 'ln', 'bn' or None, got {kind!r}")


def _act(kind: str) -> nn.Module:
    acts = {"gelu": nn.GELU, "relu": nn.ReLU}
    if kind not in acts:
        raise ValueError(f"act must be one of {sorted(acts)}, got {kind!r}")
    return acts[kind]()


def _hidden_norm_keys(nlayers: int) -> list[str]:
    """Indices in ``mlp`` of the norms after the hidden Linears (``Linear, norm, act`` per hidden layer):
    ``['1', '4', ...]``; ``nlayers - 1`` of them."""
    return [str(3 * i + 1) for i in range(max(nlayers - 1, 0))]


def _check_tied_norm_entries(module, state_dict, prefix, *args) -> None:
    """Pre-hook of a shared-norm head: its ``mlp.<i>.*`` entries load into one tensor, so they must agree
    (a head trained with independent norms cannot be loaded into a tied one without losing weights)."""
    keys = _hidden_norm_keys(module.nlayers)
    for leaf in ("weight", "bias"):
        vals = [(k, state_dict.get(f"{prefix}mlp.{k}.{leaf}")) for k in keys]
        vals = [(k, v) for k, v in vals if v is not None]
        for k, v in vals[1:]:
            if v.shape != vals[0][1].shape or not torch.equal(v, vals[0][1]):
                raise ValueError(
                    f"{prefix}mlp.{k}.{leaf} differs from {prefix}mlp.{vals[0][0]}.{leaf}: this head has one shared "
                    "hidden norm (model.projector.shared_hidden_norm: true) but the state_dict was trained with "
                    "independent norms; build it with shared_hidden_norm: false"
                )


class DINOProjector(nn.Module):
    """DINO/iBOT projector: MLP -> bottleneck -> L2-normalise -> weight-normed prototypes -> optional LN.

    Args:
        in_dim: input features ``D``. out_dim: prototypes (XKD 8192). hidden_dim, bottleneck_dim.
        nlayers: Linear layers before the prototypes (1 = a single Linear to the bottleneck).
        norm: norm after each hidden Linear: ``'ln'`` (XKD), ``'bn'`` or ``None`` (DINO).
        shared_hidden_norm: one norm *module* after every hidden Linear (the released XKD code builds
            its LayerNorm once and appends the same object twice, so ``mlp.1`` and ``mlp.4`` are one
            tensor: its gradient is the sum over both uses and AdamW, clipping and the EMA see it
            once). ``False``: an independent norm per layer. Same forward from the same weights;
            training differs. Loading a state_dict whose two entries differ into a shared head raises.
        last_norm: ``'ln_noaffine'`` (XKD/iBOT) or ``None``: LayerNorm without affine over ``out_dim``.
        norm_last_layer: fix the prototype weight magnitude to 1 (frozen).
        act: ``'gelu'`` or ``'relu'``. norm_eps: eps of the LayerNorms.

    ``forward(x [..., in_dim]) -> [..., out_dim]``; with ``norm='bn'`` the leading dims are flattened
    into the batch for the BatchNorm.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 8192,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        nlayers: int = 3,
        norm: Literal["ln", "bn"] | None = "ln",
        last_norm: Literal["ln_noaffine"] | None = "ln_noaffine",
        norm_last_layer: bool = True,
        act: Literal["gelu", "relu"] = "gelu",
        norm_eps: float = 1e-5,
        shared_hidden_norm: bool = False,
    ):
        super().__init__()
        if nlayers < 1:
            raise ValueError(f"nlayers must be >= 1, got {nlayers}")
        if min(in_dim, out_dim, hidden_dim, bottleneck_dim) < 1:
            raise ValueError("in_dim, out_dim, hidden_dim and bottleneck_dim must be positive")
        if last_norm not in (None, "ln_noaffine"):
            raise ValueError(f"last_norm must be 'ln_noaffine' or None, got {last_norm!r}")
        self.in_dim, self.out_dim, self.nlayers = int(in_dim), int(out_dim), int(nlayers)
        if nlayers == 1:
            layers: list[nn.Module] = [nn.Linear(in_dim, bottleneck_dim)]
        else:
            shared = _norm(norm, hidden_dim, norm_eps) if shared_hidden_norm else None
            layers = []
            for i in range(nlayers - 1):
                layers += [
                    nn.Linear(in_dim if i == 0 else hidden_dim, hidden_dim),
                    shared if shared is not None else _norm(norm, hidden_dim, norm_eps),
                    _act(act),
                ]
            layers.append(nn.Linear(hidden_dim, bottleneck_dim))
        self.mlp = nn.Sequential(*layers)
        self.shared_hidden_norm = bool(shared_hidden_norm) and nlayers >= 3 and norm is not None
        if self.shared_hidden_norm:
            self.register_load_state_dict_pre_hook(_check_tied_norm_entries)
        self.apply(self._init)
        self.last_layer = WeightNormLinear(bottleneck_dim, out_dim, fix_norm=norm_last_layer)
        self.last_norm = (
            nn.LayerNorm(out_dim, eps=norm_eps, elementwise_affine=False)
            if last_norm == "ln_noaffine"
            else nn.Identity()
        )

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor, return_bottleneck: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """``x [..., in_dim] -> logits [..., out_dim]`` (and the L2-normalised bottleneck if asked)."""
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"x must end with in_dim={self.in_dim}, got shape {tuple(x.shape)}")
        lead = x.shape[:-1]
        z = F.normalize(self.mlp(x.reshape(-1, self.in_dim)), dim=-1)
        logits = self.last_norm(self.last_layer(z))
        logits, z = logits.reshape(*lead, self.out_dim), z.reshape(*lead, -1)
        return (logits, z) if return_bottleneck else logits


class LinearHead(nn.Module):
    """Probe head: optional non-affine BatchNorm (MAE linear probe) -> Dropout -> Linear. ``[B, D] -> [B, C]``."""

    def __init__(self, in_dim: int, n_classes: int, dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        if in_dim < 1 or n_classes < 1:
            raise ValueError(f"in_dim and n_classes must be positive, got {in_dim}, {n_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.bn = nn.BatchNorm1d(in_dim, affine=False) if batch_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_dim, n_classes)
        nn.init.trunc_normal_(self.fc.weight, std=0.02)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.bn(x)))
