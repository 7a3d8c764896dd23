"""Rewrite the code dependencies of the training stages in ``dvc.yaml`` and ``real/dvc.yaml`` from the import
closures that the resume keys hash (:mod:`avlib.codedeps`), so the two never disagree.

    python tools/sync_code_deps.py           # rewrite in place
    python tools/sync_code_deps.py --check   # exit 1 (listing the stages) when a file would change

``pretrain``, ``pretrain_ablation`` and ``xdc_pretrain`` list exactly their closure's ``.py`` files;
``finetune``, ``avmnist`` and ``esc50`` keep their own extra deps (files that no longer exist are dropped) and gain
any missing closure file.
``tests/train/test_training_code.py`` fails when the committed files are out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avlib.codedeps import import_closure  # noqa: E402
from avlib.train.resume import run_entries  # noqa: E402

XKD = run_entries("avlib.train.runner", "xkd")
XDC = run_entries("avlib.train.xdc_rounds", "xdc")
# file -> stage -> (entries, exact)
STAGES = {
    "dvc.yaml": {
        "pretrain": (XKD, True),
        "pretrain_ablation": (XKD, True),
        "finetune": (XKD, False),
        "xdc_pretrain": (XDC, True),
    },
    "real/dvc.yaml": {"avmnist": (XKD, False), "esc50": (XKD, False)},
}


def rewrite_stage(text: str, stage: str, files: list[str], exact: bool) -> str:
    """``text`` with the ``avlib/*.py`` deps of ``stage`` replaced (``exact``) or completed by ``files``."""
    m = re.search(rf"^  {stage}:.*\n", text, flags=re.M)
    if m is None:
        raise SystemExit(f"stage {stage!r} not found")
    start = m.end()
    nxt = re.search(r"^  [A-Za-z_]+:.*\n|^[a-z]+:", text[start:], flags=re.M)
    end = start + (nxt.start() if nxt else len(text) - start)
    block = text[start:end]
    dm = re.search(r"^( *)deps:\n((?:\1  - .*\n)+)", block, flags=re.M)
    if dm is None:
        raise SystemExit(f"stage {stage!r} has no deps list")
    ind = dm.group(1) + "  - "
    items = [line[len(ind) :] for line in dm.group(2).splitlines()]
    others = [i for i in items if not (i.startswith("avlib/") and i.endswith(".py"))]
    current = [
        i for i in items if i.startswith("avlib/") and i.endswith(".py") and (ROOT / i).is_file()
    ]  # moved files go
    want = [f"avlib/{f}" for f in files]
    if exact:
        code = want
    else:
        covered = lambda w: w in current or any(w.startswith(o.rstrip("/") + "/") for o in others)  # noqa: E731
        code = current + [w for w in want if not covered(w)]
    new = block[: dm.start(2)] + "".join(ind + i + "\n" for i in others + code) + block[dm.end(2) :]
    return text[:start] + new + text[end:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    stale = []
    for rel, stages in STAGES.items():
        path = ROOT / rel
        old = text = path.read_text()
        for stage, (entries, exact) in stages.items():
            before = text
            text = rewrite_stage(text, stage, import_closure(entries), exact)
            if text != before:
                stale.append(f"{rel}:{stage}")
        if text != old and not a.check:
            path.write_text(text)
    if stale:
        print(("out of date: " if a.check else "rewrote: ") + ", ".join(stale))
    return 1 if stale and a.check else 0


if __name__ == "__main__":
    sys.exit(main())
