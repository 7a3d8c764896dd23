"""linear_svm: C selection on val (default) vs test, multi-clip decision averaging, input errors."""

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from avlib.eval import linear_svm


def _blobs(n, d=8, k=3, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (k, d))
    y = rng.integers(0, k, n)
    return centers[y] + noise * rng.normal(size=(n, d)), y


def test_matches_direct_sklearn_fit_and_selects_on_val():
    tr, va, te = _blobs(200, seed=1), _blobs(100, seed=2), _blobs(100, seed=3)
    va = (va[0], va[1])
    te = (te[0], te[1])
    res = linear_svm(tr, va, te, Cs=(1e-3, 1e-1, 1.0))
    accs = {}
    for c in (1e-3, 1e-1, 1.0):
        clf = LinearSVC(C=c, max_iter=2000, random_state=0).fit(*tr)
        accs[c] = (100 * np.mean(clf.predict(va[0]) == va[1]), 100 * np.mean(clf.predict(te[0]) == te[1]))
    best = max(accs, key=lambda c: (accs[c][0], -c))
    assert res["best_C"] == best
    assert res["val_acc"] == pytest.approx(accs[best][0]) and res["test_acc"] == pytest.approx(accs[best][1])
    res_t = linear_svm(tr, va, te, Cs=(1e-3, 1e-1, 1.0), select_on="test")
    assert res_t["test_acc"] == pytest.approx(max(a[1] for a in accs.values()))


def test_multi_clip_test_averages_decisions():
    x, y = _blobs(150, seed=4)
    clf = LinearSVC(C=1.0, max_iter=2000, random_state=0).fit(x, y)
    xt, yt = _blobs(60, seed=5, noise=3.0)
    clips = np.stack([xt, xt + np.random.default_rng(6).normal(0, 2, xt.shape)], 1)  # [N, 2, D]
    dec = clf.decision_function(clips.reshape(-1, clips.shape[-1])).reshape(60, 2, -1).mean(1)
    expected = 100 * np.mean(clf.classes_[dec.argmax(1)] == yt)
    res = linear_svm((x, y), (clips, yt), (clips, yt), Cs=(1.0,))
    assert res["test_acc"] == pytest.approx(expected)


def test_bad_inputs_are_named():
    x, y = _blobs(20)
    with pytest.raises(ValueError, match="val has 20 feature rows but 3 labels"):
        linear_svm((x, y), (x, y[:3]), (x, y))
    with pytest.raises(ValueError, match="select_on"):
        linear_svm((x, y), (x, y), (x, y), select_on="train")
