import copy

import numpy as np
import pytest
import torch
from torch import nn

from avlib.models.heads import DINOProjector, LinearHead


def small(**kw):
    torch.manual_seed(0)
    return DINOProjector(32, out_dim=128, hidden_dim=48, bottleneck_dim=16, **kw)


def test_shapes_and_layout():
    p = small()
    assert p(torch.randn(5, 32)).shape == (5, 128)
    assert p(torch.randn(2, 3, 32)).shape == (2, 3, 128)
    kinds = [type(m) for m in p.mlp]
    assert kinds == [nn.Linear, nn.LayerNorm, nn.GELU, nn.Linear, nn.LayerNorm, nn.GELU, nn.Linear]
    assert isinstance(small(nlayers=1).mlp[0], nn.Linear) and len(small(nlayers=1).mlp) == 1
    _, z = p(torch.randn(4, 32), return_bottleneck=True)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(4))
    with pytest.raises(ValueError, match="norm"):
        small(norm="gn")
    with pytest.raises(ValueError, match="in_dim"):
        p(torch.randn(4, 31))


def test_matches_numpy_reference():
    p = small().double()
    x = torch.randn(6, 32, dtype=torch.float64)
    with torch.no_grad():
        h = x
        for m in p.mlp:
            h = m(h)  # the MLP itself is torch; check the tail by hand
        out = p(x).numpy()
    z = h.numpy() / np.linalg.norm(h.numpy(), axis=1, keepdims=True)
    v = p.last_layer.weight_v.detach().numpy()
    logits = z @ (v / np.linalg.norm(v, axis=1, keepdims=True)).T
    ref = (logits - logits.mean(1, keepdims=True)) / np.sqrt(logits.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_last_norm_rows_zero_mean_unit_var():
    p = small()
    assert sum(q.numel() for q in p.last_norm.parameters()) == 0  # non-affine
    y = p(torch.randn(8, 32)).detach()
    torch.testing.assert_close(y.mean(1), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(8), atol=1e-3, rtol=0)
    assert isinstance(small(last_norm=None).last_norm, nn.Identity)


def test_frozen_weight_norm_magnitude():
    p = small()
    g, v = p.last_layer.weight_g, p.last_layer.weight_v
    assert not g.requires_grad and torch.all(g == 1)
    v0 = v.detach().clone()
    opt = torch.optim.SGD([q for q in p.parameters() if q.requires_grad], lr=1.0)
    p(torch.randn(8, 32)).pow(3).mean().backward()
    opt.step()
    assert torch.all(g == 1) and not torch.equal(v, v0)
    torch.testing.assert_close(p.last_layer.weight.norm(dim=1), torch.ones(128))
    free = small(norm_last_layer=False).last_layer
    assert free.weight_g.requires_grad
    torch.testing.assert_close(free.weight, free.weight_v)  # g = ||v|| at init


def test_deepcopy_ema_and_state_dict():
    student = small()
    teacher = copy.deepcopy(student)
    with torch.no_grad():
        for q in student.parameters():
            q.add_(0.5)
        for t, s in zip(teacher.parameters(), student.parameters()):
            t.mul_(0.9).add_(s, alpha=0.1)
    assert "last_layer.weight_g" in teacher.state_dict() and "last_layer.weight_v" in teacher.state_dict()
    fresh = small()
    fresh.load_state_dict(teacher.state_dict())
    x = torch.randn(3, 32)
    torch.testing.assert_close(fresh(x), teacher(x))


def test_batchnorm_variant_and_linear_head():
    p = small(norm="bn")
    assert isinstance(p.mlp[1], nn.BatchNorm1d)
    assert p(torch.randn(4, 32)).shape == (4, 128)
    assert p(torch.randn(2, 3, 32)).shape == (2, 3, 128)  # leading dims folded into the batch
    p.eval()
    assert p(torch.randn(1, 32)).shape == (1, 128)
    head = LinearHead(32, 10, dropout=0.1, batch_norm=True)
    assert head(torch.randn(4, 32)).shape == (4, 10)
    with pytest.raises(ValueError, match="dropout"):
        LinearHead(32, 10, dropout=1.0)


def test_shared_hidden_norm_is_one_module_with_both_state_dict_entries():
    """Released XKD head: one LayerNorm object after both hidden Linears (reference-notes 1.6)."""
    tied, free = small(shared_hidden_norm=True), small(shared_hidden_norm=False)
    assert tied.mlp[1] is tied.mlp[4] and free.mlp[1] is not free.mlp[4]
    n_tied = sum(p.numel() for p in tied.parameters())
    assert sum(p.numel() for p in free.parameters()) - n_tied == 2 * 48  # one LN (weight + bias) fewer
    sd = tied.state_dict()
    assert {"mlp.1.weight", "mlp.4.weight", "mlp.1.bias", "mlp.4.bias"} <= set(sd)
    assert sd["mlp.1.weight"].data_ptr() == sd["mlp.4.weight"].data_ptr()
    # the forward equals an untied head holding the same values in both norms (NumPy-free: same weights)
    free.load_state_dict(sd)
    x = torch.randn(6, 32)
    torch.testing.assert_close(tied(x), free(x), rtol=0, atol=0)
    # gradient of the shared norm = sum of the two untied norms' gradients
    tied(x).pow(2).sum().backward()
    free(x).pow(2).sum().backward()
    torch.testing.assert_close(tied.mlp[1].weight.grad, free.mlp[1].weight.grad + free.mlp[4].weight.grad)
    assert not torch.allclose(tied.mlp[1].weight.grad, free.mlp[1].weight.grad)


def test_shared_hidden_norm_refuses_a_state_dict_with_two_different_norms():
    free = small(shared_hidden_norm=False)
    with torch.no_grad():
        free.mlp[4].weight.add_(0.5)
    tied = small(shared_hidden_norm=True)
    with pytest.raises(ValueError, match=r"mlp\.4\.weight differs from mlp\.1\.weight.*shared_hidden_norm: false"):
        tied.load_state_dict(free.state_dict())
    copy.deepcopy(tied).load_state_dict(tied.state_dict())  # its own state loads
    t2 = copy.deepcopy(tied)
    assert t2.mlp[1] is t2.mlp[4]  # deepcopy (EMA teachers) keeps the tie
