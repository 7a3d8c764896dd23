"""float64 runs: ``model.double()`` of the smoke-profile XKD runs forward and backward end to end, every
deliberate cast keeps float64 ("at least fp32"), and the gradient agrees with a central finite difference
of the loss (the check a float64 run exists for)."""

from pathlib import Path

import torch

from avlib.data.views import GlobalLocalViews
from avlib.methods import build_method, logmel_from_config, views_config
from avlib.profiles import load_pretrain_config

ROOT = Path(__file__).resolve().parents[2]
SCHED = {"teacher_temp_video": 0.1, "teacher_temp_audio": 0.07}


def smoke_xkd_double():
    cfg = load_pretrain_config(ROOT / "params/pretrain/xkd.yaml", profile="smoke", root=ROOT)
    logmel = logmel_from_config(cfg)
    torch.manual_seed(0)
    model = build_method(cfg, logmel).double().train()
    g = torch.Generator().manual_seed(0)
    B = 4
    video = torch.randint(0, 256, (B, 16, 40, 40, 3), generator=g, dtype=torch.uint8)
    audio = 0.1 * torch.randn(B, 32000, generator=g)
    views = GlobalLocalViews(views_config(cfg), logmel)(video, audio, generator=g)
    views = {k: ([t.double() for t in v] if isinstance(v, list) else v.double()) for k, v in views.items()}
    return cfg, model, views


def loss_at(model, views, centres):
    for mod, c in zip((model.kd_video_teacher, model.kd_audio_teacher), centres):
        mod.center.copy_(c)  # the forward moves the KD centres: evaluate every point from the same ones
    return model(views, SCHED, torch.Generator().manual_seed(7))


def test_smoke_xkd_runs_in_float64_forward_and_backward():
    _, model, views = smoke_xkd_double()
    out = model(views, SCHED, torch.Generator().manual_seed(7))
    assert out["loss"].dtype == torch.float64
    assert all(v.dtype == torch.float64 for v in out["logs"].values()), {k: v.dtype for k, v in out["logs"].items()}
    out["loss"].backward()
    grads = [(n, p.grad) for n, p in model.named_parameters() if p.requires_grad]
    assert grads and all(g is not None and g.dtype == torch.float64 and torch.isfinite(g).all() for _, g in grads)
    assert model.kd_video_teacher.center.dtype == torch.float64


def test_float64_gradient_matches_a_central_finite_difference():
    _, model, views = smoke_xkd_double()
    centres = [model.kd_video_teacher.center.clone(), model.kd_audio_teacher.center.clone()]
    params = [p for p in model.parameters() if p.requires_grad]
    out = loss_at(model, views, centres)
    out["loss"].backward()
    g = torch.Generator().manual_seed(1)
    direction = [
        torch.randn(p.shape, generator=g, dtype=p.dtype) * p.detach().abs().mean().clamp_min(1e-3) for p in params
    ]
    analytic = sum((p.grad * d).sum() for p, d in zip(params, direction)).item()

    def central(h):
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(d, alpha=h)
            up = loss_at(model, views, centres)["loss"].item()
            for p, d in zip(params, direction):
                p.add_(d, alpha=-2 * h)
            down = loss_at(model, views, centres)["loss"].item()
            for p, d in zip(params, direction):
                p.add_(d, alpha=h)
        return (up - down) / (2 * h)

    # Richardson extrapolation of two central differences cancels the h^2 term (the gamma = 1000 MMD kernel
    # and tau = 0.07 make the loss very curved); in float32 the rounding of the loss alone (~3e-7) would
    # swamp this difference (~1e-7 per 1e-4 step), so agreement also shows the whole step ran in float64
    h = 2e-4
    numeric = (4 * central(h / 2) - central(h)) / 3
    assert abs(numeric - analytic) <= 1e-4 * abs(analytic), (numeric, analytic)
