import math

from avlib.report.tables import diff_spread, mean_std, verdict


def test_mean_std_and_diff_spread_closed_form():
    m, s, n = mean_std([1.0, 3.0])
    assert (m, n) == (2.0, 2) and math.isclose(s, math.sqrt(2))
    d, sp = diff_spread([10.0, 12.0], [5.0, 7.0])
    assert d == 5.0 and math.isclose(sp, math.sqrt(2 / 2 + 2 / 2))


def test_verdicts():
    assert verdict(3.0, 1.0) == "supports"
    assert verdict(-3.0, 1.0) == "contradicts"
    assert verdict(0.5, 1.0) == "cannot resolve"
    assert verdict(float("nan"), 1.0) == "cannot resolve"
