"""What a run depends on is derived, not listed by hand: the static import closure of its training loop and
its method (:mod:`avlib.codedeps`). The resume key and the DVC stages' code dependencies are that closure,
so a code change retrains exactly the runs whose code it touches."""

import shutil
from pathlib import Path

import pytest
import yaml

from avlib import codedeps
from avlib.codedeps import code_fingerprint, import_closure
from avlib.train.resume import run_code, run_entries, training_loop

PKG = Path(__file__).resolve().parents[2] / "avlib"
ROOT = PKG.parent
XKD = run_entries("avlib.train.runner", "xkd")
XDC = run_entries("avlib.train.xdc_rounds", "xdc")


def test_closure_follows_imports_through_reexport_only_packages():
    files = set(import_closure(XKD))
    # runner -> avlib.methods (re-export only) -> methods/build.py; xkd.py -> avlib.losses -> losses/mmd.py ...
    assert {
        "train/runner.py",
        "methods/build.py",
        "methods/xkd.py",
        "losses/mmd.py",
        "models/cross_modal.py",
        "models/vit.py",
        "models/heads.py",
        "train/ema.py",
        "numerics.py",
    } <= files
    assert not any(f.endswith("__init__.py") for f in files)  # re-export-only packages define nothing
    assert not set(codedeps.NOT_RESULT_CODE) & files
    assert "cluster/kmeans.py" not in files and "methods/xdc.py" not in files
    xdc = set(import_closure(XDC))
    assert {"train/xdc_rounds.py", "methods/xdc.py", "cluster/kmeans.py", "train/runner.py", "models/cnn.py"} <= xdc
    assert "methods/xkd.py" not in xdc and "losses/mmd.py" not in xdc


def _copy_pkg(tmp_path) -> Path:
    dst = tmp_path / "avlib"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


@pytest.mark.parametrize(
    "edited,stales",
    [
        ("cluster/kmeans.py", {"xdc"}),  # XDC imports it, XKD does not
        ("losses/mmd.py", {"xkd"}),  # XKD's Eq. 7-8, not XDC's
        ("models/vit.py", {"xkd", "xdc"}),  # both encoders
        ("report/tables.py", set()),  # no training run imports the report
        ("log.py", set()),  # cannot change a number (NOT_RESULT_CODE)
    ],
)
def test_an_edit_stales_exactly_the_runs_whose_code_it_touches(tmp_path, edited, stales):
    pkg = _copy_pkg(tmp_path)
    before = {"xkd": code_fingerprint(XKD, pkg), "xdc": code_fingerprint(XDC, pkg)}
    assert before == {"xkd": code_fingerprint(XKD), "xdc": code_fingerprint(XDC)}  # same content, same key
    with open(pkg / edited, "a") as f:
        f.write("\n# an edit\n")
    codedeps.clear_caches()
    after = {"xkd": code_fingerprint(XKD, pkg), "xdc": code_fingerprint(XDC, pkg)}
    assert {m for m in before if before[m] != after[m]} == stales


def test_each_method_names_its_training_loop():
    """The loop module that keys a run's resume is the one whose closure its DVC stage lists."""
    assert training_loop("xkd") == "avlib.train.runner" and training_loop("xdc") == "avlib.train.xdc_rounds"
    assert run_code("xkd") == import_closure(XKD) and run_code("xdc") == import_closure(XDC)


def test_run_key_refuses_a_loop_that_is_not_the_methods():
    from avlib.config import PretrainConfig
    from avlib.train.resume import run_key

    with pytest.raises(RuntimeError, match="TRAINING_LOOP is avlib.train.runner"):
        run_key(PretrainConfig(method="xkd"), "avlib.train.xdc_rounds")


def test_dvc_stages_depend_on_exactly_the_code_closure():
    """(``python -m avlib pipeline`` regenerates the lists; tests/test_pipeline.py checks it is committed.)"""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    code = lambda name: {d for d in stages[name]["do"]["deps"] if d.startswith("avlib")}  # noqa: E731
    xkd = {f"avlib/{f}" for f in import_closure(XKD)}
    for name in ("pretrain", "pretrain_ablation"):
        assert code(name) == xkd, f"dvc.yaml {name}: {sorted(code(name) ^ xkd)}"
    xdc = {f"avlib/{f}" for f in import_closure(XDC)}
    assert code("xdc_pretrain") == xdc, f"dvc.yaml xdc_pretrain: {sorted(code('xdc_pretrain') ^ xdc)}"
    real = yaml.safe_load((ROOT / "real/dvc.yaml").read_text())["stages"]
    for name in ("avmnist", "esc50"):
        deps = set(real[name]["deps"])
        assert xkd <= deps, f"real/dvc.yaml {name} lacks {sorted(xkd - deps)}"


def test_every_literal_dvc_dependency_exists():
    """A dependency path that no longer exists (a moved module) makes ``dvc repro`` fail: none may be left."""
    for rel in ("dvc.yaml", "real/dvc.yaml"):
        stages = yaml.safe_load((ROOT / rel).read_text())["stages"]
        for name, st in stages.items():
            for d in (st.get("do", st)).get("deps", []):
                if isinstance(d, str) and "${" not in d and d.startswith("avlib"):
                    assert (ROOT / d).exists(), f"{rel} {name}: dependency {d} does not exist"


def test_every_artifact_is_a_dvc_metric_and_plot():
    """`dvc metrics show` / `dvc plots show` cover every artifact of notebooks/ (XDC and real-data ones too)."""
    top = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    real = yaml.safe_load((ROOT / "real/dvc.yaml").read_text())
    metrics = set(top.get("metrics", [])) | {m.removeprefix("../") for m in real.get("metrics", [])}
    plots = set(top.get("plots", [])) | {p.removeprefix("../") for p in real.get("plots", [])}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"results/{nb.stem}/metrics.json" in metrics, f"{nb.stem}: no metrics entry in dvc.yaml"
        assert f"results/{nb.stem}/fig.png" in plots, f"{nb.stem}: no plots entry in dvc.yaml"


def test_closure_exclusions_are_the_callers_choice():
    default = set(import_closure(("avlib.data.cache",)))
    everything = set(import_closure(("avlib.data.cache",), exclude=set()))
    assert "data/media.py" not in default and "data/media.py" in everything
    runner = set(import_closure(("avlib.train.runner",)))
    assert {"log.py", "paths.py"} <= set(import_closure(("avlib.train.runner",), exclude=set())) - runner


def test_an_import_of_a_module_that_does_not_exist_is_an_error(tmp_path):
    """A dangling import must not shrink a closure silently (it would drop the stage's dependency)."""
    pkg = tmp_path / "avlib"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .gone import x\n")
    with pytest.raises(ImportError, match=r"a\.py: imports avlib\.gone, which has no module file"):
        import_closure(("avlib.a",), pkg)


def test_every_module_of_the_package_has_a_closure():
    for f in sorted(PKG.rglob("*.py")):
        mod = ".".join(["avlib", *f.relative_to(PKG).with_suffix("").parts]).removesuffix(".__init__")
        import_closure((mod,))  # raises on a dangling import
