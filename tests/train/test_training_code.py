"""The pretraining stages' dependency list (``TRAINING_CODE``: DVC deps and the resume fingerprint) must
cover every avlib file a run's result can depend on. Derived statically here: the import closure of the
runner and of XKD, resolving ``from avlib.pkg import name`` through re-export-only ``__init__`` files to
the submodule that defines ``name``."""
import ast
from pathlib import Path

import yaml

from avlib.train.runner import NOT_TRAINING_CODE, TRAINING_CODE

PKG = Path(__file__).resolve().parents[2] / "avlib"
ROOT = PKG.parent


def _file(module: str) -> Path:
    rel = Path(*module.split(".")[1:])
    return PKG / rel / "__init__.py" if (PKG / rel).is_dir() else PKG / f"{rel}.py"


def _reexports(init: Path) -> dict[str, str]:
    """name -> defining module of a re-export-only __init__ (asserts it holds nothing else)."""
    out = {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            base = node.module if node.level == 0 else ".".join(
                ["avlib", *init.parent.relative_to(PKG).parts] + ([node.module] if node.module else []))
            for a in node.names:
                out[a.asname or a.name] = base
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # docstring
            continue
        elif isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] in (
                ["__all__"], ["__version__"]):  # metadata only
            continue
        else:
            raise AssertionError(f"{init.relative_to(ROOT)} line {node.lineno}: a package __init__ on the training "
                                 "path must only re-export (logic there would escape TRAINING_CODE)")
    return out


def _closure(start: list[Path]) -> set[Path]:
    seen, todo = set(), list(start)
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        mod = ".".join(["avlib", *f.relative_to(PKG).with_suffix("").parts])
        pkg = mod.rsplit(".", 1)[0] if f.name != "__init__.py" else mod.removesuffix(".__init__")
        for node in ast.walk(ast.parse(f.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names if a.name.startswith("avlib")]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                if base.startswith("avlib"):
                    targets = [(base, a.name) for a in node.names]
            for base, name in targets:
                if base == "avlib" and name is not None and (PKG / f"{name}.py").is_file():
                    todo.append(PKG / f"{name}.py")  # from avlib import checkpoint
                    continue
                path = _file(base)
                if path.name == "__init__.py" and name is not None:
                    sub = _file(f"{base}.{name}")
                    if sub.is_file():
                        todo.append(sub)
                        continue
                    src = _reexports(path).get(name)
                    if src is not None:
                        todo.append(_file(src))
                        continue
                todo.append(path)
    return seen


def test_training_code_covers_the_import_closure():
    closure = _closure([PKG / "train/runner.py", PKG / "methods/xkd.py"])
    rels = {str(p.relative_to(PKG)) for p in closure}
    inits = {r for r in rels if r.endswith("__init__.py")}
    for r in inits:
        _reexports(PKG / r)  # re-export only
    uncovered = rels - inits - set(TRAINING_CODE) - set(NOT_TRAINING_CODE)
    assert not uncovered, f"files on the training path missing from TRAINING_CODE: {sorted(uncovered)}"
    unused = set(TRAINING_CODE) - rels
    assert not unused, f"TRAINING_CODE lists files the training path does not import: {sorted(unused)}"
    for rel in TRAINING_CODE:
        assert (PKG / rel).is_file(), rel


def test_dvc_stages_depend_on_exactly_the_training_code():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    want = {f"avlib/{f}" for f in TRAINING_CODE}
    for name in ("pretrain", "pretrain_ablation"):
        deps = {d for d in stages[name]["do"]["deps"] if d.startswith("avlib")}
        assert deps == want, f"dvc.yaml {name}: {sorted(deps ^ want)}"
    ft = set(stages["finetune"]["do"]["deps"])
    assert want <= ft, f"dvc.yaml finetune lacks {sorted(want - ft)}"
    real = yaml.safe_load((ROOT / "real/dvc.yaml").read_text())["stages"]
    for name in ("avmnist", "esc50"):
        deps = set(real[name]["deps"])
        assert want <= deps, f"real/dvc.yaml {name} lacks {sorted(want - deps)}"
