"""ESC-50 benchmark: the fold protocol never lets the test fold choose C, fit the classifier or pretrain
the encoder; end to end at its CI size (ESC-10) on the real recordings."""

import json

import numpy as np
import pytest

from avlib.benchmarks import esc50


def _toy(seed=0, n_per=12, dim=5):
    rng = np.random.default_rng(seed)
    y = np.tile(np.repeat(np.arange(3), n_per // 3), 5)
    fold = np.repeat(np.arange(1, 6), n_per)
    centers = rng.normal(size=(3, dim)) * 2
    x = centers[y] + rng.normal(size=(len(y), dim))
    return x, y, fold


def test_fold_accuracy_rederived_with_sklearn():
    from sklearn.svm import LinearSVC

    x, y, fold = _toy()
    for k in range(1, 6):
        r = esc50.fold_accuracy(x, y, fold, k, Cs=(0.01, 1.0))
        v = k % 5 + 1
        train, tr, va, te = fold != k, (fold != k) & (fold != v), fold == v, fold == k
        z = (x - x[tr].mean(0)) / (x[tr].std(0) + 1e-6)  # C selection: the three fitting folds' statistics
        accs = {
            c: np.mean(LinearSVC(C=c, max_iter=5000, random_state=0).fit(z[tr], y[tr]).predict(z[va]) == y[va])
            for c in (0.01, 1.0)
        }
        best = max(accs, key=lambda c: (accs[c], -c))
        z = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)  # final fit: the four training folds'
        pred = LinearSVC(C=best, max_iter=5000, random_state=0).fit(z[train], y[train]).predict(z[te])
        assert r["best_C"] == best and r["val_fold"] == v
        assert r["test"] == pytest.approx(100 * np.mean(pred == y[te]))
        assert r["n_train"] == int(train.sum()) and r["n_test"] == int(te.sum())


def test_test_fold_does_not_leak():
    x, y, fold = _toy(1)
    k = 3
    ref = esc50.fold_accuracy(x, y, fold, k)
    x2, y2 = x.copy(), y.copy()
    x2[fold == k] = np.random.default_rng(9).normal(size=x2[fold == k].shape) * 100  # garbage test features
    y2[fold == k] = (y2[fold == k] + 1) % 3  # and wrong labels
    r = esc50.fold_accuracy(x2, y2, fold, k)
    assert r["best_C"] == ref["best_C"] and r["val"] == ref["val"]


def test_pretraining_excludes_the_test_fold(tmp_path):
    for k in range(1, 6):
        cfg = esc50._config(tmp_path, k, "small", 0, "smoke")
        assert cfg.method == "xkd" and cfg.xkd.recon_audio and not cfg.xkd.recon_video and not cfg.xkd.kd
        assert cfg.data.split == [f"fold{j}" for j in range(1, 6) if j != k]


@pytest.mark.slow
def test_benchmark_small_end_to_end(real_data, tmp_path):
    recs = esc50.run_benchmark(tmp_path, size="small", root=real_data / "esc50", profile="smoke", progress=False)
    base, mae = recs
    assert [f["fold"] for f in base["folds"]] == [1, 2, 3, 4, 5] == [f["fold"] for f in mae["folds"]]
    assert base["n_classes"] == 10 and all(f["n_test"] == 80 and f["n_train"] == 320 for f in base["folds"])
    # log-mel statistics separate the ten ESC-10 classes far above chance (10 %) on every fold
    assert min(f["test"] for f in base["folds"]) > 40.0
    assert all(0 <= f["test"] <= 100 for f in mae["folds"]) and mae["folds"][0]["pretrain_clips"] == 320
    for k in range(1, 6):
        log = (tmp_path / "runs" / f"mae_fold{k}" / "metrics.jsonl").read_text().splitlines()
        assert log and all(np.isfinite(json.loads(ln)["loss"]) for ln in log)
    again = esc50.run_benchmark(tmp_path, size="small", root=real_data / "esc50", profile="smoke", progress=False)
    assert again == recs

    from avlib.report.real import run_real_esc50_linear

    res = run_real_esc50_linear(
        evals_dir=str(tmp_path / "evals"), title="t", caption="c", out_dir=str(tmp_path / "results"), size="small"
    )
    assert "**mean ± std over folds**" in res.markdown and res.metrics["chance"] == 10.0
    for f in ("table.md", "table.csv", "metrics.json", "fig.png", "fig_data.csv", "provenance.json"):
        assert (tmp_path / "results" / f).is_file()


def test_work_folder_is_bound_to_its_settings(tmp_path):
    """Switching size (or profile) on an existing work folder fails instead of reusing stale results."""
    from avlib.benchmarks import claim_work_dir

    claim_work_dir(tmp_path, {"size": "small", "profile": "smoke"})
    claim_work_dir(tmp_path, {"size": "small", "profile": "smoke"})  # same settings: fine
    with pytest.raises(ValueError, match=r"other settings .*'size': \('small', 'full'\)"):
        claim_work_dir(tmp_path, {"size": "full", "profile": "smoke"})


def test_page_refuses_a_size_its_files_were_not_computed_at(tmp_path):
    from avlib.report.real import run_real_esc50_linear

    ev = tmp_path / "evals"
    ev.mkdir()
    fold = {"test": 50.0, "best_C": 1.0, "val_fold": 2, "n_train": 320, "n_test": 80, "val": 40.0}
    (ev / "baseline.json").write_text(
        json.dumps({"size": "small", "n_classes": 10, "folds": [{**fold, "fold": k} for k in range(1, 6)]})
    )
    for k in range(1, 6):
        (ev / f"mae_fold{k}.json").write_text(json.dumps({**fold, "fold": k, "size": "small"}))
    with pytest.raises(ValueError, match=r"from size\(s\) \['small'\], the page was asked for size 'full'"):
        run_real_esc50_linear(evals_dir=str(ev), title="t", caption="c", out_dir=str(tmp_path / "r"), size="full")
    assert (
        run_real_esc50_linear(
            evals_dir=str(ev), title="t", caption="c", out_dir=str(tmp_path / "r"), size="small"
        ).metrics["chance"]
        == 10.0
    )
