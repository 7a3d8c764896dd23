"""Strict params: unknown keys and wrong types fail at load time, naming the key and the file."""

import pytest
import yaml

from avlib.config import ConfigError, PretrainConfig, apply_overrides, config_hash, deep_merge, from_dict
from avlib.methods.xkd import XKDPretrainConfig
from avlib.profiles import load_pretrain_config, load_profile


def test_unknown_key_names_the_full_path():
    with pytest.raises(ConfigError, match=r"cfg\.xkd: unknown key\(s\) \['lambda_foo'\]"):
        from_dict(XKDPretrainConfig, {"xkd": {"lambda_foo": 1}}, where="cfg")


@pytest.mark.parametrize(
    "data, msg",
    [
        ({"train": {"epochs": "ten"}}, r"train\.epochs: expected an integer"),
        ({"xkd": {"teacher_input": "middle"}}, r"xkd\.teacher_input: 'middle' is not one of"),
        ({"model": {"video_patch": [4, 16]}}, r"model\.video_patch: expected a list of 3 values"),
        ({"xkd": {"kd": "yes"}}, r"xkd\.kd: expected true/false"),
    ],
)
def test_wrong_types_are_rejected(data, msg):
    with pytest.raises(ConfigError, match=msg):
        from_dict(XKDPretrainConfig, data)


def test_merge_override_and_hash():
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert deep_merge(base, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}, "d": 3}
    assert apply_overrides(base, ["a.c=7", "e.f=[1, 2]"]) == {"a": {"b": 1, "c": 7}, "d": 3, "e": {"f": [1, 2]}}
    c1 = from_dict(PretrainConfig, {})
    c2 = from_dict(PretrainConfig, {"train": {"seed": 1}})
    assert config_hash(c1) != config_hash(c2) and config_hash(c1) == config_hash(from_dict(PretrainConfig, {}))


@pytest.mark.parametrize("profile", ["smoke", "tiny", "paper"])
@pytest.mark.parametrize("run", ["recon_v", "recon_a", "ae", "xkd"])
def test_every_shipped_run_config_loads_under_every_profile(profile, run):
    cfg = load_pretrain_config(f"params/pretrain/{run}.yaml", profile=profile, seed=3)
    assert cfg.train.seed == 3 and cfg.name == run
    assert set(load_profile(profile)) >= {"data", "cache", "pretrain", "eval"}


def test_unknown_profile_lists_available():
    with pytest.raises(ConfigError, match="available"):
        load_profile("huge")


def test_ablation_schedule_and_relative_scale_from_the_profile(tmp_path):
    from pathlib import Path

    ROOT = Path(__file__).resolve().parents[1]
    prof = load_profile("tiny", ROOT)
    main = load_pretrain_config(ROOT / "params/pretrain/xkd.yaml", profile="tiny", root=ROOT)
    abl = load_pretrain_config(ROOT / "params/pretrain/xkd.yaml", profile="tiny", root=ROOT, schedule="ablation")
    assert main.train.epochs == prof["pretrain"]["train"]["epochs"]
    assert abl.train.epochs == prof["ablation"]["pretrain"]["train"]["epochs"] < main.train.epochs
    assert abl.model == main.model and abl.xkd == main.xkd  # only the schedule differs
    long = load_pretrain_config(ROOT / "params/pretrain/xkd_local_2x_2x.yaml", profile="tiny", root=ROOT)
    assert long.views.local_video_frames == 2 * main.views.local_video_frames
    assert long.views.local_audio_seconds == 2 * main.views.local_audio_seconds
    run = tmp_path / "r.yaml"
    for scale, msg in (
        ("{views.video_frames: 0.3}", "not an integer"),
        ("{views.nope: 2}", "sets no number"),
        ("{views.fps: -1}", "positive"),
        ("{nosection.x: 2}", "no section"),
    ):
        run.write_text(f"scale: {scale}\n")
        with pytest.raises(ConfigError, match=msg):
            load_pretrain_config(run, profile="tiny", root=ROOT)
    with pytest.raises(ConfigError, match="unknown schedule"):
        load_pretrain_config(ROOT / "params/pretrain/xkd.yaml", profile="tiny", root=ROOT, schedule="long")


@pytest.mark.parametrize("profile", ["smoke", "tiny", "paper"])
def test_every_pretraining_config_builds_its_views_at_every_profile(profile):
    """A run file valid at one profile must be valid at all (e.g. 4x local views must fit the global clip)."""
    from pathlib import Path

    from avlib.data.views import GlobalLocalViews
    from avlib.methods import logmel_from_config, views_config

    root = Path(__file__).resolve().parents[1]
    for f in sorted((root / "params/pretrain").glob("*.yaml")):
        xdc = yaml.safe_load(f.read_text()).get("method") == "xdc"  # XDC runs use the profile's xdc section
        for schedule in ("xdc",) if xdc else ("main", "ablation"):
            cfg = load_pretrain_config(f, profile=profile, root=root, schedule=schedule)
            GlobalLocalViews(views_config(cfg), logmel_from_config(cfg))
