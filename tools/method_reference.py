"""Losses and gradients of every pretraining configuration on one fixed batch and seed, at any commit.

The safety net of refactors (issue 15) and speed work (issue 19) beside the float64 golden test of the
official XKD code: for each run file of ``params/pretrain`` (every XKD variant, baseline and ablation, every
XDC variant) at the ``smoke`` profile, the model is built after ``torch.manual_seed(0)``, fed one fixed batch
(seeded uint8 clips through the real view pipeline, seeded masks, seeded pseudo-labels for XDC), and its
logged losses and, per parameter, the gradient's sum, norm and two projections on seeded random directions
are recorded. ``tests/methods/test_method_reference.py`` recomputes them with the current code and requires
agreement to 1e-6 (max-norm relative per quantity; identical code paths agree exactly on one machine).

    python tools/method_reference.py --rev e0e6841 --out tests/fixtures/method_reference_e0e6841.pt
    python tools/method_reference.py --out /tmp/now.pt          # the working tree
    python tools/method_reference.py --rev <sha> --method mavil --out tests/fixtures/method_reference_mavil.pt

With ``--rev`` the numbers come from a temporary ``git worktree`` of that revision (this script runs there
with ``PYTHONPATH`` pointing at it). ``COMPAT`` lists the settings that reproduce the reference's behaviour
where the default has changed on purpose since (each with the reason); they are applied wherever the config
knows the key.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

# default changes since the reference commit e0e6841, and the setting that restores the reference's behaviour
COMPAT = {
    "model.projector.shared_hidden_norm": (
        False,
        "issue 22: the released code's tied hidden LayerNorm became the default",
    ),
    "xkd.mmd_distances": ("code", "issue 16: exact (float64) MMD distances became the default"),
}
SCHED = {"teacher_temp_video": 0.1, "teacher_temp_audio": 0.07}
BATCH = 4


def _knows(cfg_cls, dotted: str) -> bool:
    cls = cfg_cls
    for part in dotted.split("."):
        f = {x.name: x for x in dataclasses.fields(cls)}.get(part)
        if f is None:
            return False
        cls = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        cls = type(cls) if dataclasses.is_dataclass(cls) else cls
    return True


def _grad_summary(name: str, g):
    import torch

    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    d1, d2 = (torch.randn(g.shape, generator=gen, dtype=torch.float64) for _ in range(2))
    g = g.detach().double()
    return torch.stack([g.sum(), g.norm(), (g * d1).sum(), (g * d2).sum()])


def compute(root: Path, only_method: str | None = None) -> dict:
    """``{run: {'logs': {name: float}, 'grad_names': [param, ...], 'grads': tensor[n_params, 4]}}`` for every
    run file under ``root`` (per parameter: the gradient's sum, norm and two seeded random projections)."""
    import torch

    import avlib
    from avlib.data.views import EvalViews, GlobalLocalViews
    from avlib.methods import build_method, config_class, logmel_from_config, views_config
    from avlib.profiles import load_pretrain_config

    print(f"avlib from {Path(avlib.__file__).parent}, params from {root}", flush=True)
    torch.set_num_threads(1)
    out = {}
    import yaml

    for run_file in sorted((root / "params/pretrain").glob("*.yaml")):
        method = (yaml.safe_load(run_file.read_text()) or {}).get("method", "xkd")
        if only_method and method != only_method:
            continue
        compat = [f"{k}={str(v).lower()}" for k, (v, _) in COMPAT.items() if _knows(config_class(method), k)]
        schedule = "main" if method == "xkd" else method
        if method == "mavil":  # the fixed statistics, not the fbank_stats stage's file
            compat.append("mavil.fbank.stats=''")
        cfg = load_pretrain_config(run_file, profile="smoke", root=root, overrides=compat, schedule=schedule)
        logmel = logmel_from_config(cfg)
        torch.manual_seed(0)
        model = build_method(cfg, logmel).train()
        if getattr(getattr(cfg, "mavil", None), "teacher", ""):  # stage 2: a seeded stage-1 model as the teacher
            torch.manual_seed(1)
            stage1 = dataclasses.replace(cfg.mavil, recon_raw=True, target="raw", teacher="")
            teacher = build_method(dataclasses.replace(cfg, mavil=stage1), logmel).backbone.eval()
            model._teacher.append(teacher.requires_grad_(False))
        g = torch.Generator().manual_seed(1234)
        video = torch.randint(0, 256, (BATCH, 16, 40, 40, 3), generator=g, dtype=torch.uint8)
        audio = 0.1 * torch.randn(BATCH, 32000, generator=g)
        if method == "xdc":
            model.reset_heads(torch.Generator().manual_seed(5))
            v, a = EvalViews(views_config(cfg), logmel).clips(video, audio, n_clips=1, train_aug=True, generator=g)
            targets = {
                s: torch.randint(0, cfg.xdc.k, (BATCH,), generator=g) for s in ("video", "audio", "joint", "labels")
            }
            res = model(v, a, targets)
        else:
            views = GlobalLocalViews(views_config(cfg), logmel)(video, audio, generator=g)
            res = model(views, SCHED, torch.Generator().manual_seed(99))
        res["loss"].backward()
        named = [(n, p.grad) for n, p in model.named_parameters() if p.grad is not None]
        out[run_file.stem] = {
            "logs": {k: float(v) for k, v in res["logs"].items()},
            "grad_names": [n for n, _ in named],
            "grads": torch.stack([_grad_summary(n, g) for n, g in named]),  # [n_params, (sum, norm, proj1, proj2)]
        }
        print(f"{run_file.stem}: loss {float(res['loss'].detach()):.6f}, {len(named)} gradients", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", help="git revision to compute at (a temporary worktree); default: the working tree")
    ap.add_argument("--out", required=True)
    ap.add_argument("--method", help="only the run files of this method (a later method's own fixture)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    if a.worker or not a.rev:
        import torch

        root = Path(os.environ.get("AVLIB_ROOT", repo))
        rev = (
            a.rev
            or subprocess.run(
                ["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True
            ).stdout.strip()
        )
        torch.save(
            {"rev": rev, "compat": {k: v for k, (v, _) in COMPAT.items()}, "runs": compute(root, a.method)}, a.out
        )
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        wt = Path(tmp) / "wt"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(wt), a.rev], check=True)
        try:
            env = {**os.environ, "PYTHONPATH": str(wt), "AVLIB_ROOT": str(wt)}
            subprocess.run(
                [sys.executable, __file__, "--worker", "--rev", a.rev, "--out", str(Path(a.out).resolve())]
                + (["--method", a.method] if a.method else []),
                cwd=wt,
                env=env,
                check=True,
            )
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(wt)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
