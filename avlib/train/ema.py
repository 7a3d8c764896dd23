"""EMA teachers (XKD Eq. 13): ``theta_t <- m * theta_t + (1 - m) * theta_s``.

Parameter sharing (XKD-MAS/MATS, reference-notes §1.8): pass all teachers as one module (e.g. an
``nn.ModuleDict(video=..., audio=...)``) and the matching students likewise. Parameters are paired by
name over *every* path (``remove_duplicate=False``) and, by default, each teacher tensor is updated
once per call even if several paths reach it. ``dedup=False`` reproduces the released code, where a
teacher block shared by the video and audio teachers is updated once per path, i.e. twice per step,
for an effective momentum of ``m ** 2``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["ema_update", "make_teacher"]


def _unwrap(module: nn.Module) -> nn.Module:
    """Strip DDP / DataParallel / torch.compile wrappers so parameter names match."""
    while True:
        if isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            module = module.module
        elif hasattr(module, "_orig_mod") and isinstance(module._orig_mod, nn.Module):
            module = module._orig_mod
        else:
            return module


def _paired(kind: str, s_items: list, t_items: list) -> None:
    s_names = [n for n, _ in s_items]
    t_names = [n for n, _ in t_items]
    if s_names != t_names:
        only_s = sorted(set(s_names) - set(t_names))[:5]
        only_t = sorted(set(t_names) - set(s_names))[:5]
        raise ValueError(
            f"student and teacher {kind} names differ (student-only: {only_s}, teacher-only: {only_t}"
            + ("; same names in a different order" if not only_s and not only_t else "")
            + ")"
        )
    for (name, s), (_, t) in zip(s_items, t_items):
        if s.shape != t.shape:
            raise ValueError(f"{kind} {name!r}: student shape {tuple(s.shape)} != teacher shape {tuple(t.shape)}")


@torch.no_grad()
def ema_update(
    student: nn.Module,
    teacher: nn.Module,
    momentum: float,
    *,
    dedup: bool = True,
    copy_buffers: bool = True,
) -> int:
    """One EMA step of ``teacher`` towards ``student`` (Eq. 13), in place, without autograd.

    Args:
        student: the trained network(s); DDP / compile wrappers are unwrapped.
        teacher: same architecture and parameter names as ``student``.
        momentum: m in [0, 1]; 1 freezes the teacher, 0 copies the student.
        dedup: update each teacher tensor once per call even if it is reachable by several names
            (shared blocks). ``False`` updates it once per name (released code's double update).
        copy_buffers: copy every student buffer (e.g. BatchNorm statistics) into the teacher.

    Returns:
        The number of teacher-parameter updates applied (useful to check sharing).

    Raises:
        ValueError: parameter/buffer names or shapes differ, ``momentum`` is outside [0, 1], or (with
            ``dedup``) one shared teacher tensor is paired with different student tensors.
    """
    m = float(momentum)
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    student, teacher = _unwrap(student), _unwrap(teacher)
    s_items = list(student.named_parameters(remove_duplicate=False))
    t_items = list(teacher.named_parameters(remove_duplicate=False))
    _paired("parameter", s_items, t_items)

    seen: dict[int, tuple[str, int]] = {}  # id(teacher param) -> (name, id(student param))
    t_list, s_list = [], []
    for (name, s), (_, t) in zip(s_items, t_items):
        if dedup:
            prev = seen.get(id(t))
            if prev is not None:
                if prev[1] != id(s):
                    raise ValueError(
                        f"teacher parameter {name!r} is shared with {prev[0]!r} but the student "
                        "counterparts are different tensors; share them in the student too, or pass dedup=False"
                    )
                continue
            seen[id(t)] = (name, id(s))
        t_list.append(t)
        s_list.append(s)

    for t, s in zip(t_list, s_list):  # sequential so that dedup=False compounds on shared tensors
        t.mul_(m).add_(s.detach().to(t.dtype), alpha=1.0 - m)

    if copy_buffers:
        s_bufs = list(student.named_buffers(remove_duplicate=False))
        t_bufs = list(teacher.named_buffers(remove_duplicate=False))
        _paired("buffer", s_bufs, t_bufs)
        for (_, sb), (_, tb) in zip(s_bufs, t_bufs):
            if sb is not tb:
                tb.copy_(sb)
    return len(t_list)


def make_teacher(student: nn.Module) -> nn.Module:
    """Deep copy of ``student`` (sharing inside it is preserved) with ``requires_grad=False``.

    Build the teacher before wrapping the student in DDP and keep the teacher outside DDP.
    """
    teacher = copy.deepcopy(_unwrap(student))
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
