"""Schedules vs their closed forms."""

import math

import numpy as np
import pytest

from avlib.train.schedules import build_schedule, constant, cosine_schedule, linear_then_constant


def test_cosine_closed_form():
    base, final, total, warm, start = 1e-4, 1e-6, 50, 10, 1e-7
    s = cosine_schedule(base, final, total, warm, start)
    assert s.shape == (total,) and s.dtype == np.float64
    for i in range(total):
        if i < warm:
            exp = start + (base - start) * i / (warm - 1)
        else:
            j = i - warm
            exp = final + 0.5 * (base - final) * (1 + math.cos(math.pi * j / (total - warm)))
        assert s[i] == pytest.approx(exp, rel=1e-12, abs=1e-18)
    assert s[warm] == pytest.approx(base)
    ema = cosine_schedule(0.997, 1.0, 100)
    assert ema[0] == pytest.approx(0.997) and np.all(np.diff(ema) > 0) and ema[-1] < 1.0


def test_linear_then_constant_and_constant():
    s = linear_then_constant(0.04, 0.07, 4, 7)
    np.testing.assert_allclose(s, [0.04, 0.05, 0.06, 0.07, 0.07, 0.07, 0.07])
    np.testing.assert_allclose(linear_then_constant(0.0, 1.0, 5, 3), [0.0, 0.25, 0.5])
    np.testing.assert_array_equal(constant(0.3, 4), np.full(4, 0.3))


def test_build_schedule_specs():
    ipe, total = 5, 40
    s = build_schedule({"kind": "cosine", "base": 1.0, "final": 0.0, "warmup_epochs": 2}, total, ipe)
    np.testing.assert_allclose(s, cosine_schedule(1.0, 0.0, total, 10, 0.0))
    s = build_schedule({"kind": "linear_warmup", "start": 0.04, "end": 0.06, "epochs": 3}, total, ipe)
    np.testing.assert_allclose(s, linear_then_constant(0.04, 0.06, 15, total))
    np.testing.assert_allclose(build_schedule({"kind": "constant", "value": 0.1}, total, ipe), np.full(total, 0.1))
    # per-epoch stepping (released XKD teacher temperature): each epoch value held for ipe iterations
    s = build_schedule({"kind": "linear_warmup", "start": 0.09, "end": 0.11, "epochs": 3, "per": "epoch"}, 22, ipe)
    np.testing.assert_allclose(s, np.repeat([0.09, 0.10, 0.11, 0.11, 0.11], ipe)[:22])


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"kind": "step"}, "'kind' must be one of"),
        ({"kind": "cosine", "base": 1.0}, "missing key\\(s\\) \\['final'\\]"),
        ({"kind": "constant", "value": 1.0, "vlaue": 2}, "unknown key\\(s\\) \\['vlaue'\\]"),
        ({"kind": "constant", "value": 1.0, "per": "step"}, "'per'"),
        ({"kind": "cosine", "base": 1.0, "final": 0.0, "warmup_epochs": 20}, "warmup_epochs"),
    ],
)
def test_build_schedule_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        build_schedule(spec, 40, 5)


def test_count_errors():
    with pytest.raises(ValueError, match="warmup_iters"):
        cosine_schedule(1.0, 0.0, 5, 6)
    with pytest.raises(ValueError, match="total_iters"):
        constant(1.0, -1)
