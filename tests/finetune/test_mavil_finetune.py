"""MAViL fine-tuning: which encoder sees which input, the fusion blocks, the video learning rate, and a run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from avlib.checkpoint import atomic_save
from avlib.config import to_dict
from avlib.finetune.mavil import AVClassifier, AVFinetuneRecipe, finetune_mavil
from avlib.methods import build_method
from avlib.profiles import load_pretrain_config

ROOT = Path(__file__).resolve().parents[2]


def _cfg():
    return load_pretrain_config(
        ROOT / "params/pretrain/mavil.yaml",
        profile="smoke",
        schedule="mavil",
        root=ROOT,
        overrides=["mavil.fbank.stats=''"],
    )


def _run(tmp_path) -> Path:
    cfg = _cfg()
    torch.manual_seed(0)
    model = build_method(cfg, None)
    atomic_save({"config": to_dict(cfg), "model": model.state_dict()}, tmp_path / "run" / "final.pt")
    return tmp_path / "run"


def _cache(tmp_path, n=36, classes=3) -> Path:
    """An audio-visual cache whose class shows in the video brightness and in the audio tone."""
    d = tmp_path / "cache"
    d.mkdir()
    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    video = (rng.integers(0, 40, (n, 16, 40, 40, 3)) + 90 * labels[:, None, None, None, None]).astype(np.uint8)
    t = np.arange(32000) / 16000
    audio = 0.3 * np.sin(2 * np.pi * (300 + 900 * labels[:, None]) * t) + 0.02 * rng.standard_normal((n, 32000))
    np.save(d / "video.npy", video)
    np.save(d / "audio.npy", audio.astype(np.float16))
    split = (["train"] * 24 + ["val"] * 6 + ["test"] * 6)[:n]
    pd.DataFrame(
        {
            "row": range(n),
            "clip_id": [f"c{i}" for i in range(n)],
            "split": split,
            "label": labels,
            "label_name": [f"k{x}" for x in labels],
            "path": "",
        }
    ).to_csv(d / "index.csv", index=False)
    (d / "meta.json").write_text(json.dumps({"multilabel": False, "video_shape": list(video.shape)}))
    return d


def test_av_classifier_fuses_both_token_sets_and_single_modalities_ignore_the_other():
    model = build_method(_cfg(), None)
    enc = {m: model.encoder_for_eval(m) for m in ("audio", "video")}
    clf = AVClassifier(enc, "av", 5, fusion_depth=3)
    assert len(clf.fusion) == 3
    seen = []
    clf.fusion[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    a, v = torch.randn(2, 1, 192, 32), torch.randn(2, 3, 8, 32, 32)
    ta, tv = enc["audio"](a)["tokens"], enc["video"](v)["tokens"]
    out = clf(a, v)
    torch.testing.assert_close(seen[0], torch.cat([ta, tv], 1))  # CLS of both streams included
    assert out.shape == (2, 5)
    vid = AVClassifier(enc, "video", 5)
    assert "audio" not in vid.encoders and vid(None, v).shape == (2, 5)
    assert vid.fc_norm.normalized_shape == (enc["video"].embed_dim,)


def test_finetune_trains_the_video_encoder_at_half_rate_and_reports_1_and_n_clips(tmp_path, monkeypatch):
    run, cache = _run(tmp_path), _cache(tmp_path)
    rec = AVFinetuneRecipe(
        epochs=6, batch_size=8, lr=2e-3, warmup_epochs=1, mixup=0.0, time_mask=8, freq_mask=4, test_clips=2
    )
    seen = {}
    orig, build = torch.optim.AdamW, AVClassifier.__init__

    def spy(groups, **kw):
        seen["groups"] = groups
        return orig(groups, **kw)

    def keep(self, *a, **kw):
        build(self, *a, **kw)
        seen["clf"] = self

    monkeypatch.setattr(torch.optim, "AdamW", spy)
    monkeypatch.setattr(AVClassifier, "__init__", keep)
    res = finetune_mavil(run, {"dataset": str(cache), "modality": "av"}, rec)
    video = {id(p) for p in seen["clf"].encoders["video"].parameters()}
    by_scale = {g["lr_scale"]: {id(p) for p in g["params"]} for g in seen["groups"]}
    assert by_scale[0.5] == video and not (by_scale[1.0] & video)  # exactly the video encoder at half rate
    assert {id(p) for p in seen["clf"].encoders["audio"].parameters()} <= by_scale[1.0]
    assert res["metric"] == "top1" and {"test", "test_1clip", "val"} <= set(res)
    assert res["curve"][-1]["loss"] < 0.7 * res["curve"][0]["loss"], res["curve"]
    audio = finetune_mavil(run, {"dataset": str(cache), "modality": "audio"}, AVFinetuneRecipe(epochs=1, batch_size=8))
    assert audio["modality"] == "audio" and 0 <= audio["test"] <= 100
    with pytest.raises(ValueError, match="modality must be one of"):
        finetune_mavil(run, {"dataset": str(cache), "modality": "text"}, rec)


def test_tasks_and_recipes_come_from_the_profiles_mavil_finetune_file(tmp_path):
    from avlib.config import ConfigError
    from avlib.finetune.mavil import mavil_finetune_task

    (tmp_path / "params/finetune").mkdir(parents=True)
    (tmp_path / "params/finetune/mavil_p.yaml").write_text(
        "recipes: {av: {epochs: 3, lr: 1.0e-3}}\n"
        "tasks: {ks_av: {dataset: cache/ks, modality: av, recipe: av, lr: 5.0e-4}}\n"
    )
    task, recipe = mavil_finetune_task("p", "ks_av", root=tmp_path)
    assert task == {"dataset": "cache/ks", "modality": "av"} and recipe == {"epochs": 3, "lr": 5e-4}
    with pytest.raises(ConfigError, match="no task 'esc'"):
        mavil_finetune_task("p", "esc", root=tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        mavil_finetune_task("q", "ks_av", root=tmp_path)
    for prof in ("smoke", "tiny", "paper"):  # the committed files resolve every task to a valid recipe
        for t in ("ks_a", "ks_v", "ks_av", "esc"):
            AVFinetuneRecipe(**mavil_finetune_task(prof, t, root=ROOT)[1])
