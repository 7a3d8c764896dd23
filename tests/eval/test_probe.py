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
