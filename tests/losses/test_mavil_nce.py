"""MAViL's InfoNCE terms (Eq. 2-3) against float64 NumPy, and the DDP gather against one process."""

import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from avlib.losses.mavil_nce import contrastive, inter_modal_nce, intra_modal_nce


def _ref(x, y, tau, symmetric=False):
    """Eq. 2 in float64: -1/B sum_i log softmax_j(cos(x_i, y_j) / tau)_i."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    s = xn @ yn.T / tau

    def ce(s):
        m = s.max(1, keepdims=True)
        return float(np.mean(-(np.diag(s) - (m[:, 0] + np.log(np.exp(s - m).sum(1))))))

    return 0.5 * (ce(s) + ce(s.T)) if symmetric else ce(s)


def _pair(B, d, seed, corr=0.5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, d, generator=g)
    return x, corr * x + torch.randn(B, d, generator=g)


@pytest.mark.parametrize("B,d,tau", [(512, 768, 0.1), (512, 768, 1.0), (32, 128, 0.1), (5, 16, 0.05)])
def test_contrastive_matches_float64_at_the_paper_sizes(B, d, tau):
    x, y = _pair(B, d, seed=B + d)
    np.testing.assert_allclose(float(contrastive(x, y, tau)), _ref(x, y, tau), rtol=2e-5)
    np.testing.assert_allclose(float(contrastive(x, y, tau, symmetric=True)), _ref(x, y, tau, True), rtol=2e-5)


def test_contrastive_gradient_matches_a_float64_autograd_of_the_equation():
    x, y = _pair(64, 768, seed=3)
    xr, yr = x.clone().requires_grad_(), y.clone().requires_grad_()
    contrastive(xr, yr, 0.1).backward()
    xd, yd = x.double().requires_grad_(), y.double().requires_grad_()
    s = torch.nn.functional.normalize(xd, dim=1) @ torch.nn.functional.normalize(yd, dim=1).T / 0.1
    (-(torch.diagonal(s) - torch.logsumexp(s, 1)).mean()).backward()
    torch.testing.assert_close(xr.grad.double(), xd.grad, rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(yr.grad.double(), yd.grad, rtol=1e-4, atol=1e-8)


def test_inter_is_audio_to_video_and_intra_averages_the_two_modalities():
    a, v = _pair(48, 128, seed=1)
    a2, v2 = _pair(48, 128, seed=2)
    # one-directional as Eq. 2: audio anchors, video candidates
    np.testing.assert_allclose(float(inter_modal_nce(a, v, 0.1)), _ref(a, v, 0.1), rtol=2e-5)
    assert abs(float(inter_modal_nce(a, v, 0.1)) - _ref(v, a, 0.1)) > 1e-3
    want = 0.5 * (_ref(a, a2, 1.0) + _ref(v, v2, 1.0))
    np.testing.assert_allclose(float(intra_modal_nce(a, a2, v, v2, 1.0)), want, rtol=2e-5)


def test_contrastive_rejects_bad_input():
    x = torch.randn(4, 8)
    with pytest.raises(ValueError, match="both be"):
        contrastive(x, torch.randn(5, 8), 0.1)
    with pytest.raises(ValueError, match="tau must be > 0"):
        contrastive(x, x, 0.0)


# --------------------------------------------------------------------------------------- DDP (gloo, 2 ranks)
def _worker(rank, world, init, out, x, y, w):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        n = x.shape[0] // world
        lin = torch.nn.Linear(x.shape[1], x.shape[1], bias=False)
        with torch.no_grad():
            lin.weight.copy_(w)
        ddp = torch.nn.parallel.DistributedDataParallel(lin)
        xs, ys = x[rank * n : (rank + 1) * n], y[rank * n : (rank + 1) * n]
        loss = contrastive(ddp(xs), ddp(ys), 0.1, symmetric=True) + contrastive(ddp(xs), ys, 0.5)
        loss.backward()
        torch.save({"loss": loss.detach(), "grad": lin.weight.grad.clone()}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.ddp
def test_ddp_negatives_are_gathered_and_gradients_equal_one_process_on_the_whole_batch(tmp_path):
    """Two gloo ranks with 8 rows each vs one process with the 16 rows: every rank sees all 16 candidates
    (the loss averages to the single-process one) and the DDP-averaged gradient equals the single-process one."""
    torch.manual_seed(0)
    x, y = _pair(16, 12, seed=5)
    w = torch.randn(12, 12) * 0.3
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_worker, args=(2, tmp_path / "init", tmp_path / "res", x, y, w), nprocs=2, join=True)
    res = [torch.load(tmp_path / f"res.{r}") for r in range(2)]
    lin = torch.nn.Linear(12, 12, bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    loss = contrastive(lin(x), lin(y), 0.1, symmetric=True) + contrastive(lin(x), y, 0.5)
    loss.backward()
    torch.testing.assert_close((res[0]["loss"] + res[1]["loss"]) / 2, loss.detach(), rtol=1e-5, atol=1e-6)
    for r in res:  # DDP all-reduces the gradients: both ranks hold the average
        torch.testing.assert_close(r["grad"], lin.weight.grad, rtol=1e-4, atol=1e-6)
    # per-rank negatives only (no gather) would give a different loss: the test can tell
    local = sum(float(contrastive(lin(x[i : i + 8]), lin(y[i : i + 8]), 0.1, symmetric=True)) for i in (0, 8)) / 2
    assert abs(local - float(contrastive(lin(x), lin(y), 0.1, symmetric=True))) > 1e-3
