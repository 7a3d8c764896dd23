"""Shared fixtures: a small avsynth pretraining cache built once per session through the real path
(generate media -> decode -> array cache), and the smoke-profile pretraining config pointing at it."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real-data bundle (``../shared/real-data`` or ``$AVLIB_REAL_DATA``). Tests that read it run in CI
    and skip, with the reason, only where the folder is absent (a user's fresh machine)."""
    from avlib.datasets import real_data_root

    root = real_data_root()
    if not (root / "SOURCES.md").is_file():
        pytest.skip(f"real-data bundle not found at {root} (set AVLIB_REAL_DATA); real-file tests skipped")
    return root


@pytest.fixture(scope="session")
def smoke_cache(tmp_path_factory) -> Path:
    from avlib.data.avsynth import generate_all
    from avlib.data.cache import build_cache
    from avlib.profiles import load_profile

    prof = load_profile("smoke", ROOT)
    tmp = tmp_path_factory.mktemp("avsynth")
    data = dict(prof["data"])
    seed = data.pop("seed")
    data["datasets"] = {"pretrain": {"splits": {"train": 24}}}
    data["progress"] = False
    generate_all(tmp / "data", data, seed=seed)
    c = {k: v for k, v in prof["cache"].items() if k != "datasets"}
    build_cache(tmp / "data" / "pretrain", tmp / "cache" / "pretrain", modality="av", progress=False, **c)
    return tmp / "cache" / "pretrain"


@pytest.fixture
def smoke_config(smoke_cache):
    from avlib.profiles import load_pretrain_config

    def make(run="xkd", **overrides):
        sets = [f"data.cache={smoke_cache}", "train.ckpt_every_steps=3", "train.log_every_steps=1"]
        sets += [f"{k}={v}" for k, v in overrides.items()]
        return load_pretrain_config(
            ROOT / "params/pretrain" / f"{run}.yaml", profile="smoke", root=ROOT, overrides=sets
        )

    return make


def pytest_collection_modifyitems(config, items):
    """Registered markers from what a test uses, so ``-m`` selects reliably: ``realdata`` for every test that
    reads the real-data bundle (the ``real_data`` fixture), ``golden`` for the official-code comparisons,
    ``notebooks`` for the whole-DAG run (it executes every notebook)."""
    for item in items:
        if "real_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)
        if item.nodeid.startswith("tests/golden/"):
            item.add_marker(pytest.mark.golden)
        if item.nodeid.startswith("tests/test_pipeline_smoke.py"):
            item.add_marker(pytest.mark.notebooks)
