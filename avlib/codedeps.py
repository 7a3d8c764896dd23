"""What a run's result depends on in avlib's own code: the static import closure of its entry modules.

A training loop's resume key is ``<config hash>-<fingerprint of its closure>``, and its DVC stages list the
same files, so a code change retrains exactly the runs whose code it touches (an edit to ``cluster/kmeans.py``
stales XDC runs, not XKD runs). The closure is read from the source text (``ast``), never by importing:
``from avlib.pkg import name`` resolves through re-export-only ``__init__`` files to the submodule that
defines ``name``; such ``__init__`` files define nothing and are left out, an ``__init__`` that holds code is
kept. Modules loaded by name at run time (``importlib``, e.g. the method registry) are not seen: give them
as entries (a run's entries are its loop and its method's module).
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

__all__ = ["PKG", "NOT_RESULT_CODE", "import_closure", "code_fingerprint"]

PKG = Path(__file__).resolve().parent
# files on the import paths that cannot change a run's numbers
NOT_RESULT_CODE = {
    "log.py": "logging and progress bars",
    "paths.py": "path resolution",
    "data/media.py": "decoding: reaches training only through the cache, itself a DVC dependency",
    "data/manifest.py": "manifest parsing: reaches training only through the cache",
}


def _file(pkg: Path, module: str) -> Path:
    rel = Path(*module.split(".")[1:])
    return pkg / rel / "__init__.py" if (pkg / rel).is_dir() else pkg / f"{rel}.py"


def _is_reexport_only(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            continue
        if isinstance(node, ast.Assign) and all(
            isinstance(t, ast.Name) and t.id in ("__all__", "__version__") for t in node.targets
        ):
            continue
        return False
    return True


def _reexports(pkg: Path, init: Path, tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            base = (
                node.module
                if node.level == 0
                else ".".join(["avlib", *init.parent.relative_to(pkg).parts] + ([node.module] if node.module else []))
            )
            for a in node.names:
                out[a.asname or a.name] = base
    return out


@lru_cache(maxsize=None)
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def clear_caches() -> None:
    """Forget parsed sources (after editing a file in the same process)."""
    _parse.cache_clear()
    _imports.cache_clear()


@lru_cache(maxsize=None)
def _imports(pkg: Path, f: Path) -> tuple[Path, ...]:
    """The avlib files ``f`` imports (names taken from a re-export-only package resolve to their module)."""
    mod = ".".join(["avlib", *f.relative_to(pkg).with_suffix("").parts])
    here = mod.removesuffix(".__init__") if f.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(_parse(f)):
        targets: list[tuple[str, str | None]] = []
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names if a.name.split(".")[0] == "avlib"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            if base.split(".")[0] == "avlib":
                targets = [(base, a.name) for a in node.names]
        for base, name in targets:
            path = _file(pkg, base)
            if name is not None and path.name == "__init__.py":
                sub = _file(pkg, f"{base}.{name}")
                if sub.is_file():  # from avlib import checkpoint / from avlib.models import vit
                    out.append(sub)
                    continue
                src = _reexports(pkg, path, _parse(path)).get(name)
                if src is not None and _is_reexport_only(_parse(path)):
                    out.append(_file(pkg, src))
                    continue
            if not path.is_file():
                raise ImportError(f"{f}: imports {base}, which has no module file in {pkg}")
            out.append(path)
    return tuple(out)


def import_closure(
    entries: list[str] | tuple[str, ...], pkg: Path | str = PKG, exclude: set | frozenset | dict = NOT_RESULT_CODE
) -> list[str]:
    """Files (relative to the ``avlib`` folder, sorted) that ``entries`` (dotted module names such as
    ``'avlib.train.runner'``) import, directly or not, without ``exclude`` (default :data:`NOT_RESULT_CODE`) and
    re-export-only ``__init__`` files."""
    pkg = Path(pkg).resolve()
    seen: set[Path] = set()
    todo = [_file(pkg, e) for e in entries]
    for t in todo:
        if not t.is_file():
            raise FileNotFoundError(f"import_closure: no module file {t} for the given entries {list(entries)}")
    while todo:
        f = todo.pop()
        if f in seen or not f.is_file():
            continue
        seen.add(f)
        todo.extend(_imports(pkg, f))
    rels = {f.relative_to(pkg).as_posix(): f for f in seen}
    return sorted(
        r
        for r, f in rels.items()
        if r not in exclude and not (f.name == "__init__.py" and _is_reexport_only(_parse(f)))
    )


def code_fingerprint(entries: list[str] | tuple[str, ...], pkg: Path | str = PKG) -> str:
    """Short hash of the names and contents of :func:`import_closure` ``(entries)``."""
    pkg = Path(pkg).resolve()
    h = hashlib.sha256()
    for rel in import_closure(tuple(entries), pkg):
        h.update(rel.encode())
        h.update(b"\0")
        h.update((pkg / rel).read_bytes())
    return h.hexdigest()[:16]
