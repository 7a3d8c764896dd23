"""EMA teacher update (XKD Eq. 13) incl. parameter sharing (XKD-MAS/MATS)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from avlib.train.ema import ema_update, make_teacher


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_closed_form_after_k_steps():
    student = _net()
    teacher = make_teacher(student)
    assert all(not p.requires_grad for p in teacher.parameters())
    t0 = {k: v.double().numpy().copy() for k, v in teacher.state_dict().items()}
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
        student[1].running_mean.fill_(0.7)
    m, k = 0.9, 5
    for _ in range(k):
        assert ema_update(student, teacher, m) == 6
    for name, p in teacher.named_parameters():
        s = dict(student.named_parameters())[name].detach().double().numpy()
        expected = m**k * t0[name] + (1 - m**k) * s  # fixed student: geometric closed form
        np.testing.assert_allclose(p.double().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(teacher[1].running_mean, student[1].running_mean)  # buffers copied


def test_momentum_extremes_and_no_grad():
    student = _net()
    teacher = make_teacher(student)
    with torch.no_grad():
        student[0].weight.mul_(3)
    ema_update(student, teacher, 1.0)
    assert not torch.equal(teacher[0].weight, student[0].weight)
    ema_update(student, teacher, 0.0)
    assert torch.equal(teacher[0].weight, student[0].weight)
    assert teacher[0].weight.grad_fn is None


class _Enc(nn.Module):
    def __init__(self, blocks: nn.Module):
        super().__init__()
        self.embed = nn.Linear(2, 3)
        self.blocks = blocks


def _shared(blocks_s=None):
    blocks = blocks_s or nn.Linear(3, 3)
    return nn.ModuleDict({"video": _Enc(blocks), "audio": _Enc(blocks)})


@pytest.mark.parametrize("dedup,n_updates", [(True, 1), (False, 2)])
def test_shared_teacher_parameter_updated_once(dedup, n_updates):
    student = _shared()  # MATS: shared student blocks
    teacher = make_teacher(student)  # deepcopy keeps the sharing in the teacher
    assert teacher["video"].blocks is teacher["audio"].blocks
    w_t0 = teacher["video"].blocks.weight.detach().double().numpy().copy()
    with torch.no_grad():
        student["video"].blocks.weight.add_(1.0)
    w_s = student["video"].blocks.weight.detach().double().numpy()
    m = 0.8
    ema_update(student, teacher, m, dedup=dedup)
    eff = m**n_updates  # dedup=False reproduces the released code: effective momentum m^2
    np.testing.assert_allclose(teacher["audio"].blocks.weight.double().numpy(), eff * w_t0 + (1 - eff) * w_s, rtol=1e-6)


def test_mas_students_shared_teachers_separate():
    student = _shared()
    teacher = nn.ModuleDict({"video": copy.deepcopy(student["video"]), "audio": copy.deepcopy(student["audio"])})
    with torch.no_grad():
        student["video"].blocks.weight.add_(1.0)
    ema_update(student, teacher, 0.5)
    assert torch.equal(teacher["video"].blocks.weight, teacher["audio"].blocks.weight)  # identical updates


def test_errors():
    student = _net()
    with pytest.raises(ValueError, match="names differ"):
        ema_update(student, nn.Sequential(nn.Linear(3, 4)), 0.9)
    other = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
    with pytest.raises(ValueError, match="shape"):
        ema_update(student, other, 0.9)
    with pytest.raises(ValueError, match="momentum"):
        ema_update(student, make_teacher(student), 1.5)
    # teacher shares a tensor but the student does not: ambiguous EMA
    s_unshared = nn.ModuleDict({"video": _Enc(nn.Linear(3, 3)), "audio": _Enc(nn.Linear(3, 3))})
    with pytest.raises(ValueError, match="shared"):
        ema_update(s_unshared, _shared(), 0.9)
