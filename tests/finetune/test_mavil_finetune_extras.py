"""Table 10's fine-tuning tools (avlib.finetune.mavil): structured token masking, cyclic time shifts, spectrogram
noise at an SNR, the inverse-frequency weighted sampler and stochastic depth, each against a NumPy re-derivation
or a closed form, and one fine-tuning run with all of them on."""

import numpy as np
import pytest
import torch

from avlib.finetune.mavil import (
    AVFinetuneRecipe,
    add_noise,
    finetune_mavil,
    sampling_weights,
    set_drop_path,
    structured_keep,
    time_roll,
)
from tests.finetune.test_mavil_finetune import _cache, _run


def test_structured_keep_drops_whole_time_rows_and_frequency_columns():
    g = torch.Generator().manual_seed(0)
    T, F = 10, 5
    keep = structured_keep((T, F), 0.2, 6, g)
    assert keep.shape == (6, (T - 2) * (F - 1))  # round(0.2 * 10) rows and round(0.2 * 5) columns dropped
    for row in keep.numpy():
        t, f = np.divmod(row, F)  # row-major (time, frequency) grid
        kept_t, kept_f = np.unique(t), np.unique(f)
        assert len(kept_t) == T - 2 and len(kept_f) == F - 1
        # exactly the product set: a token survives iff its time row and its frequency column both survive
        assert sorted(row.tolist()) == sorted(int(a * F + b) for a in kept_t for b in kept_f)
    assert len({tuple(r) for r in keep.numpy().tolist()}) > 1  # per-sample draws
    video = structured_keep((4, 4, 4), 0.25, 3, g)  # time slices x spatial positions of a tubelet grid
    assert video.shape == (3, 3 * 12)
    assert structured_keep((12, 4), 0.2, 1, g).shape == (1, 9 * 3)  # AudioMAE keeps int(12 * 0.8) = 9 rows
    assert structured_keep((10, 5), 0.0, 2, g) is None
    with pytest.raises(ValueError, match="leaves no token"):
        structured_keep((1, 4), 0.9, 2, g)


def test_time_roll_is_a_per_clip_cyclic_shift():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 1, 12, 3)
    y = time_roll(x, torch.Generator().manual_seed(1))
    shifts = torch.randint(0, 12, (4,), generator=g).numpy()
    for i, s in enumerate(shifts):
        np.testing.assert_array_equal(y[i].numpy(), np.roll(x[i].numpy(), int(s), axis=1))


def test_noise_has_the_requested_snr():
    x = torch.randn(3, 1, 400, 64) * torch.tensor([0.5, 2.0, 7.0])[:, None, None, None] + 1.0
    y = add_noise(x, 20.0, torch.Generator().manual_seed(0))
    n = (y - x).double()
    snr = 10 * np.log10((x.double() ** 2).mean((1, 2, 3)).numpy() / (n**2).mean((1, 2, 3)).numpy())
    np.testing.assert_allclose(snr, 20.0, atol=0.1)  # 25600 draws per clip: the estimate's sd is ~0.04 dB


def test_sampling_weights_are_summed_inverse_label_frequencies():
    y = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1]])
    # label counts 3, 1, 2: a clip's weight is the sum of 1 / count over its labels
    np.testing.assert_allclose(sampling_weights(y, True), [1 / 3 + 1 / 2, 1 / 3, 1 / 3 + 1, 1 / 2])
    np.testing.assert_allclose(sampling_weights(np.array([0, 0, 0, 1]), False), [1 / 3, 1 / 3, 1 / 3, 1])


def test_drop_path_grows_linearly_over_the_blocks_and_is_off_in_eval():
    from timm.layers import DropPath

    from avlib.models.vit import build_blocks

    blocks = build_blocks({"embed_dim": 32, "depth": 5, "num_heads": 4})
    set_drop_path(blocks, 0.1)
    for branch in ("drop_path1", "drop_path2"):  # both residual branches of every block
        probs = [getattr(getattr(b, branch), "drop_prob", 0.0) for b in blocks]
        np.testing.assert_allclose(probs, np.linspace(0, 0.1, 5))
        assert all(isinstance(getattr(b, branch), DropPath) for b in blocks[1:])
    x = torch.randn(2, 7, 32)
    blocks.eval()
    np.testing.assert_array_equal(blocks[-1](x).detach().numpy(), blocks[-1](x).detach().numpy())


def test_a_finetune_with_every_table10_tool_on_trains_and_masks_the_encoder_input(tmp_path, monkeypatch):
    run, cache = _run(tmp_path), _cache(tmp_path)
    rec = AVFinetuneRecipe(
        epochs=4,
        batch_size=8,
        lr=2e-3,
        warmup_epochs=1,
        mixup=0.0,
        test_clips=2,
        time_roll=True,
        noise_snr_db=20,
        token_mask_audio=0.25,
        token_mask_video=0.25,
        drop_path=0.1,
        weighted_sampling=True,
        weighted_sampling_size=16,
    )
    from avlib.models.vit import ViTEncoder

    seen, orig = [], ViTEncoder.forward

    def spy(self, x, *a, **kw):
        out = orig(self, x, *a, **kw)
        seen.append((self.training, out["tokens"].shape[1] - 1, int(np.prod(out["grid"]))))
        return out

    monkeypatch.setattr(ViTEncoder, "forward", spy)
    import avlib.finetune.mavil as ft

    used = {}
    for name in ("time_roll", "add_noise", "set_drop_path"):  # each tool is really called by the trainer
        fn = getattr(ft, name)
        monkeypatch.setattr(ft, name, lambda *a, _n=name, _f=fn, **k: used.setdefault(_n, []).append(a) or _f(*a, **k))
    draws, multinomial = [], torch.multinomial
    monkeypatch.setattr(torch, "multinomial", lambda w, n, **k: draws.append((w.clone(), n)) or multinomial(w, n, **k))
    res = finetune_mavil(run, {"dataset": str(cache), "modality": "av"}, rec)
    assert len(used["time_roll"]) == len(used["add_noise"]) == res["steps"]  # every training batch
    assert len(used["set_drop_path"]) == 3  # both encoders and the fusion blocks
    assert all(rate == 0.1 for _blocks, rate in used["set_drop_path"])
    (w, n), *_ = draws
    assert n == 16 and len(draws) == 4  # one weighted draw of 16 clips per epoch
    np.testing.assert_allclose(w.numpy(), np.full(24, 1 / 24))  # 8 clips per class: equal inverse frequencies
    train = [(k, n) for training, k, n in seen if training]
    test = [(k, n) for training, k, n in seen if not training]
    assert train and all(k < n for k, n in train)  # training encoders see a masked grid
    assert test and all(k == n for k, n in test)  # evaluation sees every token
    assert res["steps"] == 4 * 2  # 16 weighted draws per epoch at batch 8
    assert np.isfinite(res["curve"][-1]["loss"]) and 0 <= res["test"] <= 100
