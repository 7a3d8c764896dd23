import numpy as np

from avlib.eval.probe import fc_probe


def test_fc_probe_learns_single_and_multilabel():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 4))

    def make(n):
        x = rng.normal(size=(n, 16)).astype(np.float32)
        return x, (x @ w).argmax(1), (x @ w > 0.5).astype(np.float32)

    (xtr, ytr, mtr), (xva, yva, mva), (xte, yte, mte) = make(400), make(100), make(100)
    r = fc_probe((xtr, ytr), (xva, yva), (xte, yte), epochs=30, lr=1e-2, dropout=0.0)
    assert r["metric"] == "top1" and r["test"] > 80
    r = fc_probe((xtr, mtr), (xva, mva), (xte, mte), multilabel=True, epochs=30, lr=1e-2, dropout=0.0)
    assert r["metric"] == "mAP" and r["test"] > 80


def test_fc_probe_cosine_schedule_decays_to_zero_and_rejects_unknown():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    split = lambda a, b: (x[a:b], y[a:b])  # noqa: E731
    r = fc_probe(
        split(0, 200),
        split(200, 250),
        split(250, 300),
        epochs=10,
        lr=0.1,
        batch_size=64,
        schedule="cosine",
        dropout=0.0,
    )
    assert r["final_lr"] < 1e-9 and r["test"] > 80  # 10 epochs x 4 steps: cos(pi) -> 0
    r = fc_probe(split(0, 200), split(200, 250), split(250, 300), epochs=2, lr=1e-2, dropout=0.0)
    assert r["final_lr"] == 1e-2
    import pytest

    with pytest.raises(ValueError, match="schedule"):
        fc_probe(split(0, 200), split(200, 250), split(250, 300), schedule="step")


def test_fc_probe_selection_best_val_vs_last_epoch():
    """Multi-label (the FSD50K probe): validation labels are the complement of the true ones, so the
    validation mAP is best early and the two selections report different epochs and test scores."""
    import pytest

    rng = np.random.default_rng(2)
    w = rng.normal(size=(8, 3))

    def make(n):
        x = rng.normal(size=(n, 8)).astype(np.float32)
        return x, (x @ w > 0).astype(np.float32)

    train, (xva, yva), test = make(300), make(100), make(100)
    val = (xva, 1.0 - yva)
    kw = dict(multilabel=True, epochs=12, lr=3e-2, dropout=0.0, batch_size=64)
    best = fc_probe(train, val, test, **kw)  # default: best_val
    last = fc_probe(train, val, test, selection="last", **kw)
    assert best["selection"] == "best_val" and last["selection"] == "last"
    assert best["best_epoch"] < 12 and last["best_epoch"] == 12
    assert best["val"] > last["val"] and last["test"] > best["test"] + 5
    with pytest.raises(ValueError, match="selection"):
        fc_probe(train, val, test, selection="best_test", **kw)
