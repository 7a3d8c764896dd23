import numpy as np
from sklearn.metrics import average_precision_score

from avlib.eval.metrics import mean_average_precision, top1


def test_map_matches_sklearn_macro_ap():
    rng = np.random.default_rng(0)
    t = (rng.random((80, 6)) < 0.3).astype(int)
    t[0] = 1  # every class has a positive
    s = rng.normal(size=(80, 6)) + 1.5 * t
    assert np.isclose(mean_average_precision(s, t), 100 * average_precision_score(t, s, average="macro"))


def test_top1():
    assert top1(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])) == 50.0
