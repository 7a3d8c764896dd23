"""The ``av`` fusion task (XKD Table 8) through ``evaluate_run``: per-modality L2 before the concatenation
(the released code's ``Feature_Bank_AV(apply_l2=True)``) and one time window per clip for both modalities.

The run, the cache and the SVM are replaced by fakes: frames carry their frame index and clip row, audio
samples their sample index and clip row, and the fake encoders decode the window they were given."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from avlib.data.views import IMAGENET_MEAN, IMAGENET_STD, ViewConfig
from avlib.eval import protocol

FPS, SR, T, N = 4, 16, 16, 10  # 4 s clips: 16 frames, 64 samples; 1 s windows
SPLITS = np.array(["train"] * 6 + ["val"] * 2 + ["test"] * 2)


class _LogMel:
    """Identity "log-mel" (one frame per sample) so that the audio encoder sees the waveform window."""

    sample_rate, hop_length = SR, 1

    def n_frames(self, n_samples: int) -> int:
        return int(n_samples)

    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        return wave[:, None, None, :]


class _Encoder(torch.nn.Module):
    """Decodes ``[clip row, window start in seconds, 1 + clip row]`` from its input; keeps every output."""

    def __init__(self, modality: str):
        super().__init__()
        self.modality, self.seen = modality, []

    def features(self, x: torch.Tensor, pool: str = "mean") -> torch.Tensor:
        if self.modality == "video":  # [N, 3, Tf, S, S], ImageNet-normalised; channel 0 = frame, 1 = row
            c = x[:, :2, 0].mean((2, 3)) * torch.tensor(IMAGENET_STD[:2]) + torch.tensor(IMAGENET_MEAN[:2])
            frame, row = torch.round(c * 255).unbind(1)
            f = torch.stack([row, frame / FPS, 1 + row], 1)
        else:  # [N, 1, 1, L]: sample s of clip r holds 100 * (r + 1) + s, times the volume gain
            w = x[:, 0, 0].double()
            w0 = torch.round(w[:, 0] * (w.shape[1] - 1) / (w[:, -1] - w[:, 0]))  # gain = slope
            row = torch.floor(w0 / 100) - 1
            f = torch.stack([row, (w0 - 100 * (row + 1)) / SR, 1 + row], 1).float()
        self.seen.append(f.numpy().copy())
        return f


def _fake_run(monkeypatch):
    video = np.zeros((N, T, 8, 8, 3), np.uint8)
    video[..., 0] = np.arange(T)[None, :, None, None]
    video[..., 1] = np.arange(N)[:, None, None, None]
    audio = (100 * (np.arange(N)[:, None] + 1) + np.arange(T * SR // FPS)[None, :]).astype(np.float32)
    data = SimpleNamespace(
        video=video, audio=audio, labels=np.arange(N) % 2, split_indices=lambda s: np.flatnonzero(SPLITS == s)
    )
    encs = {m: _Encoder(m) for m in ("video", "audio")}
    model = SimpleNamespace(encoder_for_eval=lambda m, which: encs[m])
    cfg = SimpleNamespace(train=SimpleNamespace(seed=3), name="fake")
    # no colour change or greying (frames keep their codes), volume jitter stays on
    views = ViewConfig(
        fps=FPS,
        video_frames=4,
        local_video_frames=4,
        video_size=8,
        audio_seconds=1.0,
        local_audio_seconds=1.0,
        audio_patch_frames=1,
        color_jitter=(0, 0, 0, 0),
        eval_gray_p=0.0,
    )
    seen_svm = {}

    def svm(train, val, test, **kw):
        seen_svm.update(train=train, val=val, test=test)
        return {"val_acc": 50.0, "test_acc": 50.0, "best_C": 1.0, "per_C": []}

    monkeypatch.setattr(protocol, "load_pretrained", lambda run_dir, device: (cfg, model, _LogMel()))
    monkeypatch.setattr(protocol, "views_config", lambda c: views)
    monkeypatch.setattr(protocol, "load_cache", lambda path: data)
    monkeypatch.setattr(protocol, "linear_svm", svm)
    return encs, seen_svm


def _task(**kw):
    return {"dataset": "cache/fake", "modality": "av", "protocol": "svm", "train_clips": 3, "test_clips": 3, **kw}


def test_av_windows_are_the_same_clip_and_time_span_in_every_batch(monkeypatch):
    encs, _ = _fake_run(monkeypatch)
    protocol.evaluate_run("run", {"ks_av": _task()}, batch_size=2)  # 3 train batches, random windows
    v, a = (np.concatenate(encs[m].seen, 0) for m in ("video", "audio"))
    assert v.shape == a.shape == ((6 + 2 + 2) * 3, 3)
    rows = np.r_[np.repeat(np.arange(6), 3), np.repeat(np.arange(6, N), 3)]
    np.testing.assert_array_equal(v[:, 0], rows)  # every clip's own frames ...
    np.testing.assert_array_equal(a[:, 0], rows)  # ... and its own audio
    np.testing.assert_allclose(a[:, 1], v[:, 1], atol=1e-4)  # one window start (seconds) for both modalities
    assert len(np.unique(v[:18, 1])) > 3  # training windows are random, not all equal


def test_av_fusion_l2_normalises_each_modality_by_default_and_raw_on_request(monkeypatch):
    encs, seen = _fake_run(monkeypatch)
    res = protocol.evaluate_run("run", {"ks_av": _task()}, batch_size=4)
    v, a = (np.concatenate(encs[m].seen, 0)[:18].reshape(6, 3, 3) for m in ("video", "audio"))  # train split
    expect = np.empty((6, 3, 6))
    for i in range(6):
        for k in range(3):  # Feature_Bank_AV: F.normalize per clip feature and modality, then concatenate
            expect[i, k, :3] = v[i, k] / np.sqrt(np.sum(v[i, k] ** 2))
            expect[i, k, 3:] = a[i, k] / np.sqrt(np.sum(a[i, k] ** 2))
    np.testing.assert_allclose(seen["train"][0], expect, rtol=1e-6)
    np.testing.assert_array_equal(seen["train"][1], np.arange(6) % 2)
    assert res["tasks"]["ks_av"]["fusion"] == "l2_per_modality" and res["tasks"]["ks_av"]["feature_dim"] == 6

    encs, seen = _fake_run(monkeypatch)
    protocol.evaluate_run("run", {"ks_av": _task(fusion="raw")}, batch_size=4)
    v, a = (np.concatenate(encs[m].seen, 0)[:18].reshape(6, 3, 3) for m in ("video", "audio"))
    np.testing.assert_allclose(seen["train"][0], np.concatenate([v, a], -1), rtol=1e-6)


def test_fusion_option_rejects_bad_values():
    from avlib.eval.features import fuse_av

    x = np.ones((2, 3, 4), np.float32)
    assert fuse_av(x, x[..., :2], "raw").shape == (2, 3, 6)
    with pytest.raises(ValueError, match="fusion must be one of"):
        fuse_av(x, x, "l2")


def test_fusion_task_key_errors(monkeypatch):
    _fake_run(monkeypatch)
    with pytest.raises(ValueError, match=r"eval\.tasks\.ks_av\.fusion must be one of"):
        protocol.evaluate_run("run", {"ks_av": _task(fusion="l2")})
    with pytest.raises(ValueError, match=r"eval\.tasks\.ks\.fusion: only an 'av' task"):
        protocol.evaluate_run("run", {"ks": {**_task(fusion="raw"), "modality": "video"}})
