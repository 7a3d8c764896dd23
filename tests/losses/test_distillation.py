"""CenteredCrossEntropy (XKD Eq. 10-11, DINO loss) vs a NumPy float64 re-derivation."""

import os
import tempfile

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from avlib.losses import CenteredCrossEntropy, teacher_entropy_and_kl


def _np_softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _np_loss(s, t, center, tau_s, tau_t, vs, vt, skip, m):
    logp = np.log(_np_softmax(s / tau_s))
    q = _np_softmax((t - center) / tau_t)
    b = s.shape[0] // vs
    terms = [
        (-q[iq * b : (iq + 1) * b] * logp[v * b : (v + 1) * b]).sum(-1).mean()
        for iq in range(vt)
        for v in range(vs)
        if not (skip and iq == v)
    ]
    new_center = m * center + (1 - m) * t.mean(0, keepdims=True)
    return np.mean(terms), new_center


@pytest.mark.parametrize("vs,vt,skip", [(2, 1, False), (3, 1, False), (4, 2, True), (4, 2, False)])
def test_loss_and_center_match_numpy(vs, vt, skip):
    rng = np.random.default_rng(vs + 10 * vt + int(skip))
    K, B, m = 7, 3, 0.9
    crit = CenteredCrossEntropy(K, center_momentum=m)
    center = np.zeros((1, K))
    for _step in range(3):  # center evolves across calls
        s, t = rng.normal(size=(vs * B, K)), rng.normal(size=(vt * B, K)) + 0.5
        ref, center = _np_loss(s, t, center, 0.1, 0.04, vs, vt, skip, m)
        got = crit(
            torch.tensor(s, dtype=torch.float32),
            torch.tensor(t, dtype=torch.float32),
            0.1,
            0.04,
            vs,
            vt,
            skip_same_view=skip,
        )
        np.testing.assert_allclose(got.item(), ref, rtol=1e-5)
        np.testing.assert_allclose(crit.center.numpy(), center, rtol=1e-5, atol=1e-7)


def test_gradient_reaches_student_only():
    crit = CenteredCrossEntropy(5)
    s = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(2, 5, requires_grad=True)
    crit(s, t, 0.1, 0.07, 2, 1).backward()
    assert s.grad is not None and t.grad is None
    assert not crit.center.requires_grad


def test_bad_arguments():
    crit = CenteredCrossEntropy(4)
    with pytest.raises(ValueError, match="n_student_views"):
        crit(torch.zeros(5, 4), torch.zeros(2, 4), 0.1, 0.1, 2, 1)
    with pytest.raises(ValueError, match="per-view batch sizes"):
        crit(torch.zeros(6, 4), torch.zeros(2, 4), 0.1, 0.1, 2, 1)
    with pytest.raises(ValueError, match="teacher_temp"):
        crit(torch.zeros(2, 4), torch.zeros(2, 4), 0.1, 0.0, 1, 1)
    with pytest.raises(ValueError, match="student_logits must be"):
        crit(torch.zeros(2, 3), torch.zeros(2, 4), 0.1, 0.1, 1, 1)
    with pytest.raises(ValueError, match="no \\(teacher, student\\) view pair"):
        crit(torch.zeros(2, 4), torch.zeros(2, 4), 0.1, 0.1, 1, 1, skip_same_view=True)


def test_collapse_signals_numpy_and_closed_form():
    rng = np.random.default_rng(0)
    t, c, tau = rng.normal(size=(6, 5)), rng.normal(size=(1, 5)), 0.3
    p = _np_softmax((t - c) / tau)
    pbar = p.mean(0, keepdims=True)
    out = teacher_entropy_and_kl(torch.tensor(t, dtype=torch.float32), torch.tensor(c, dtype=torch.float32), tau)
    np.testing.assert_allclose(out["entropy"].item(), (-(p * np.log(p)).sum(1)).mean(), rtol=1e-5)
    np.testing.assert_allclose(out["kl_to_mean"].item(), (p * np.log(p / pbar)).sum(1).mean(), rtol=1e-4, atol=1e-7)
    const = teacher_entropy_and_kl(torch.ones(4, 8), None, 0.1)  # uniform collapse
    np.testing.assert_allclose(const["entropy"].item(), np.log(8), rtol=1e-6)
    assert abs(const["kl_to_mean"].item()) < 1e-6
    onehot = teacher_entropy_and_kl(torch.eye(4) * 100, None, 0.1)  # distinct one-hots: KL = log B
    np.testing.assert_allclose(onehot["kl_to_mean"].item(), np.log(4), rtol=1e-5)
    assert onehot["entropy"].item() < 1e-6


def _ddp_worker(rank, world, init_file, K, result_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        crit = CenteredCrossEntropy(K, center_momentum=0.5)
        g = torch.Generator().manual_seed(0)
        t_all = torch.randn(5, K, generator=g)
        rows = t_all[:2] if rank == 0 else t_all[2:]  # uneven per-rank batches (2 vs 3)
        crit(rows.clone(), rows.clone(), 0.1, 0.1, 1, 1)
        if rank == 0:
            torch.save({"center": crit.center, "expected": 0.5 * t_all.mean(0, keepdim=True)}, result_file)
    finally:
        dist.destroy_process_group()


@pytest.mark.ddp
def test_center_uses_global_mean_across_ranks():
    with tempfile.TemporaryDirectory() as d:
        init_file, res = os.path.join(d, "init"), os.path.join(d, "res.pt")
        mp.spawn(_ddp_worker, args=(2, init_file, 6, res), nprocs=2, join=True)
        out = torch.load(res)
    torch.testing.assert_close(out["center"], out["expected"], rtol=1e-6, atol=1e-6)
