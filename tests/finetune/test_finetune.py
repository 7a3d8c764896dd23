"""Fine-tuning (Supp. A.6): layer-wise LR decay, MixUp/CutMix, label smoothing and SpecAugment against
closed forms; a tiny end-to-end fine-tune whose training loss falls; multimodal ('av') evaluation."""

import numpy as np
import pytest
import torch

from avlib.finetune import Classifier, layer_decay_groups, layer_id, mixup_cutmix, smooth_one_hot, spec_augment
from avlib.models import AudioTokenizer, ViTEncoder, vit_config


def _classifier(depth=2):
    import dataclasses

    cfg = dataclasses.replace(vit_config("micro"), depth=depth)
    enc = ViTEncoder(AudioTokenizer((4, 4), 1, cfg.embed_dim), (4, 4), cfg)
    return Classifier(enc, n_classes=5, dropout=0.0)


def test_layer_ids_and_decayed_learning_rates_match_the_closed_form():
    clf = _classifier(depth=3)
    assert layer_id("encoder.tokenizer.proj.weight", 3) == 0 and layer_id("encoder.cls_token", 3) == 0
    assert layer_id("encoder.blocks.2.mlp.fc1.weight", 3) == 3 and layer_id("head.weight", 3) == 4
    assert layer_id("encoder.norm.weight", 3) == 4
    groups = layer_decay_groups(clf, 3, weight_decay=0.05, layer_decay=0.5)
    seen = set()
    for g in groups:
        assert g["lr_scale"] == pytest.approx(0.5 ** (4 - g["layer_id"]))
        for name, p in zip(g["names"], g["params"]):
            assert g["layer_id"] == layer_id(name, 3)
            no_decay = p.ndim <= 1 or name.endswith(".bias") or "pos_embed" in name or "cls_token" in name
            assert g["weight_decay"] == (0.0 if no_decay else 0.05)
            seen.add(name)
    assert seen == {n for n, _ in clf.named_parameters()}  # every parameter exactly once
    with pytest.raises(ValueError, match="layer_decay"):
        layer_decay_groups(clf, 3, weight_decay=0.0, layer_decay=0.0)


def test_smooth_one_hot():
    t = smooth_one_hot(torch.tensor([0, 2]), 4, 0.2)
    np.testing.assert_allclose(t.numpy(), [[0.85, 0.05, 0.05, 0.05], [0.05, 0.05, 0.85, 0.05]], atol=1e-7)
    with pytest.raises(ValueError):
        smooth_one_hot(torch.tensor([0]), 2, 1.0)


def test_mixup_is_the_convex_combination_with_the_reversed_batch():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, 3, 2, 8, 8), smooth_one_hot(torch.arange(4), 4)
    xm, ym, info = mixup_cutmix(x, y, mixup_alpha=0.6, cutmix_alpha=0.0, generator=g)
    lam = info["lam"]
    assert info["mode"] == "mixup" and 0 < lam < 1
    torch.testing.assert_close(xm, lam * x + (1 - lam) * x.flip(0))
    torch.testing.assert_close(ym, lam * y + (1 - lam) * y.flip(0))


def test_cutmix_label_weight_is_the_kept_area_for_every_frame():
    x = torch.arange(4.0).view(4, 1, 1, 1, 1).expand(4, 3, 2, 16, 16).clone()  # sample i is constant i
    y = smooth_one_hot(torch.arange(4), 4)
    for seed in range(5):
        xm, ym, info = mixup_cutmix(
            x, y, mixup_alpha=0.0, cutmix_alpha=1.0, generator=torch.Generator().manual_seed(seed)
        )
        assert info["mode"] == "cutmix"
        kept = (xm[0] == 0).float().mean().item()  # sample 0 keeps its own pixels outside the box
        assert kept == pytest.approx(info["lam"])
        assert (xm[0] == xm[0, :, :1]).all()  # the same box in every frame
        torch.testing.assert_close(ym[0], info["lam"] * y[0] + (1 - info["lam"]) * y[3])
    same, _, info = mixup_cutmix(x, y, mixup_alpha=0.0, cutmix_alpha=0.0)
    assert info["mode"] == "none" and same is x


def test_spec_augment_masks_bounded_bands_and_is_seeded():
    spec = torch.ones(6, 1, 20, 30)
    out = spec_augment(spec, freq_mask=4, time_mask=5, n_masks=2, generator=torch.Generator().manual_seed(1))
    again = spec_augment(spec, freq_mask=4, time_mask=5, n_masks=2, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, again)
    for b in range(6):
        m = out[b, 0] == 0
        full_rows = m.all(1).sum().item()
        full_cols = m.all(0).sum().item()
        assert full_rows <= 2 * 4 and full_cols <= 2 * 5
        # every masked cell lies in a fully masked row or column
        assert (m == (m.all(1, keepdim=True) | m.all(0, keepdim=True))).all()
    assert (out == 0).any()
    torch.testing.assert_close(spec_augment(spec, freq_mask=4, time_mask=5, n_masks=0), spec)


@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory, smoke_cache):
    """A 4-step smoke XKD run and a small labelled audio-visual dataset."""
    from pathlib import Path

    from avlib.data.avsynth import generate_all
    from avlib.data.cache import build_cache
    from avlib.profiles import load_pretrain_config, load_profile
    from avlib.train.runner import pretrain

    root = Path(__file__).resolve().parents[2]
    tmp = tmp_path_factory.mktemp("ft")
    prof = load_profile("smoke", root)
    data = {k: v for k, v in prof["data"].items() if k not in ("seed", "datasets")}
    data["spec"] = {**data["spec"], "num_classes": 4}
    data["datasets"] = {"ucf": {"splits": {"train": 32, "val": 8, "test": 8}}}
    generate_all(tmp / "data", {**data, "progress": False}, seed=3)
    c = {k: v for k, v in prof["cache"].items() if k != "datasets"}
    build_cache(tmp / "data" / "ucf", tmp / "cache" / "ucf", modality="av", progress=False, **c)
    cfg = load_pretrain_config(
        root / "params/pretrain/xkd.yaml",
        profile="smoke",
        root=root,
        overrides=[f"data.cache={smoke_cache}", "train.max_steps=4"],
    )
    pretrain(cfg, tmp / "run", show_progress=False)
    return tmp / "run", tmp / "cache" / "ucf"


def test_finetune_training_loss_falls_and_reports_test_metric(labelled_run):
    from avlib.finetune import finetune

    run, cache = labelled_run
    recipe = {
        "epochs": 12,
        "batch_size": 8,
        "lr": 1e-3,
        "warmup_epochs": 0,
        "layer_decay": 1.0,
        "dropout": 0.0,
        "label_smoothing": 0.0,
        "mixup": 0.0,
        "cutmix": 0.0,
        "test_clips": 2,
    }
    r = finetune(run, {"dataset": str(cache), "modality": "audio"}, recipe)
    losses = [c["loss"] for c in r["curve"]]
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3]), losses
    assert r["metric"] == "top1" and 0 <= r["test"] <= 100 and r["n_classes"] == 4 and r["protocol"] == "finetune"
    assert r["test"] > 100 / 4  # 4 balanced classes: above chance after fitting the training clips
    assert r["steps"] == 12 * 4 and r["underfit"] is None  # 32 training clips in batches of 8
    # the video path with the paper's MixUp/CutMix + label smoothing and SpecAugment on audio run end to end
    v = finetune(
        run,
        {"dataset": str(cache), "modality": "video"},
        {**recipe, "epochs": 2, "mixup": 0.6, "cutmix": 0.5, "label_smoothing": 0.1, "layer_decay": 0.45},
    )
    a = finetune(
        run,
        {"dataset": str(cache), "modality": "audio"},
        {**recipe, "epochs": 2, "freq_mask": 2, "time_mask": 2, "n_masks": 2},
    )
    assert len(v["curve"]) == 2 and np.isfinite([c["loss"] for c in v["curve"] + a["curve"]]).all()
    with pytest.raises(ValueError, match="modality"):
        finetune(run, {"dataset": str(cache), "modality": "av"}, recipe)
    with pytest.raises(Exception, match="unknown key"):
        finetune(run, {"dataset": str(cache), "modality": "video"}, {"epochz": 1})


def test_av_fusion_concatenates_both_modalities(labelled_run):
    from avlib.eval.protocol import evaluate_run

    run, cache = labelled_run
    base = {"dataset": str(cache), "protocol": "svm", "train_clips": 1, "test_clips": 2}
    r = evaluate_run(
        run,
        {"v": {**base, "modality": "video"}, "a": {**base, "modality": "audio"}, "av": {**base, "modality": "av"}},
        svm_cs=[0.1],
    )
    t = r["tasks"]
    assert t["av"]["feature_dim"] == t["v"]["feature_dim"] + t["a"]["feature_dim"]
    again = evaluate_run(run, {"av": {**base, "modality": "av"}}, svm_cs=[0.1])
    assert again["tasks"]["av"]["test"] == t["av"]["test"]  # deterministic
    with pytest.raises(ValueError, match="modality must be"):
        evaluate_run(run, {"x": {**base, "modality": "text"}}, svm_cs=[0.1])


def test_select_on_val_reports_the_best_validation_epoch(labelled_run):
    from avlib.finetune import finetune

    run, cache = labelled_run
    r = finetune(
        run,
        {"dataset": str(cache), "modality": "audio"},
        {
            "epochs": 3,
            "batch_size": 8,
            "lr": 1e-3,
            "warmup_epochs": 0,
            "layer_decay": 1.0,
            "dropout": 0.0,
            "label_smoothing": 0.0,
            "mixup": 0.0,
            "cutmix": 0.0,
            "test_clips": 2,
            "select_on_val": True,
        },
    )
    vals = [c["val"] for c in r["curve"]]
    assert r["selected_epoch"] == 1 + int(np.argmax(vals)) and r["val"] == pytest.approx(max(vals))


def test_spec_augment_clamps_masks_wider_than_the_axis():
    spec = torch.ones(3, 1, 4, 6)
    out = spec_augment(spec, freq_mask=50, time_mask=0, n_masks=1, generator=torch.Generator().manual_seed(0))
    assert ((out[:, 0] == 0).all(2).sum(1) <= 4).all()


def test_positional_embeddings_and_cls_token_are_not_weight_decayed():
    groups = layer_decay_groups(_classifier(), 2, weight_decay=0.05, layer_decay=0.75)
    for g in groups:
        for name in g["names"]:
            if "pos_embed" in name or "cls_token" in name:
                assert g["weight_decay"] == 0.0, name


def test_a_budget_too_small_to_fit_is_reported_as_underfitting(labelled_run, caplog):
    from avlib.finetune import finetune
    from avlib.finetune.trainer import underfitting

    assert underfitting([{"loss": 2.0}, {"loss": 1.85}]) is not None  # fell 7.5 % < 10 %
    assert underfitting([{"loss": 2.0}, {"loss": 1.7}]) is None and underfitting([{"loss": 2.0}]) is None
    run, cache = labelled_run
    with caplog.at_level("WARNING", logger="avlib.finetune"):
        r = finetune(
            run,
            {"dataset": str(cache), "modality": "audio"},
            {
                "epochs": 2,
                "batch_size": 8,
                "lr": 1e-9,
                "warmup_epochs": 0,
                "dropout": 0.0,
                "label_smoothing": 0.0,
                "mixup": 0.0,
                "cutmix": 0.0,
                "test_clips": 1,
            },
        )
    assert r["underfit"] and "training loss fell only" in r["underfit"]
    assert any("raise the recipe's lr or epochs" in m for m in caplog.messages), caplog.messages
