"""XKD wiring against independent expectations: forward hooks on every student/teacher encoder, head, decoder
and KD criterion (and recording wrappers around the MMD functions in :mod:`avlib.methods.xkd`) record which
encoder sees which view, what each head pools, which teacher output is the target of which student, which
temperature and centre reach which softmax and which pairs the MMD compares; the losses are then recomputed in
float64 NumPy straight from the paper's equations on the captured tensors (nothing here calls avlib's losses):

* views: students see the masked global view and the unmasked local views; teachers see the unmasked view
  ``xkd.teacher_input`` names (Alg. 1 line 9; the released code's first local view with ``local``);
* student global branch (Alg. 1 lines 13-15): head(mean of the *visible patch* tokens of the masked pass),
  concatenated with head(mean of the local views' patch tokens); CLS is not pooled;
* teacher targets (Eq. 3-6): head(token mean of refine(teacher patches, A^x)), with A^x from both teachers'
  last-block CLS attention (Eq. 4 computed literally, with the N x M outer product);
* Eq. 10-11: the audio student is taught by the video teacher (video temperature, video centre) and the video
  student by the audio teacher (audio temperature, audio centre);
* Eq. 7-9, S1, S2: MMD(s_v, s_a) and MMD(t_v, t_a) ('within'), MMD(t_a, s_v) and MMD(t_v, s_a) ('cross');
* Eq. 12 with the code's group means / 7 or the paper's sums; the gradient reaching the student projector outputs
  equals the hand-derived gradient of the CE and student-MMD terms (the teacher MMD term contributes none).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import avlib.methods.xkd as xkd_mod
from avlib.config import from_dict
from avlib.data.audio import LogMel
from avlib.data.views import GlobalLocalViews
from avlib.methods import build_method, views_config
from avlib.methods.xkd import XKDPretrainConfig
from tests.methods.test_xkd import SMALL  # the small model and views of the XKD tests

# distinct temperatures everywhere, so a swap cannot go unnoticed
TAU_V, TAU_A, TAU_S = 0.25, 0.06, 0.15
SCHED = {"teacher_temp_video": TAU_V, "teacher_temp_audio": TAU_A}
# the released code's kernel: sum of 7 Gaussians exp(-g ||a - b||^2) (reference-notes section 1.4)
GAMMAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
B = 4


# ------------------------------------------------------------------------------------------------ set-up
def make(**xkd):
    cfg = from_dict(XKDPretrainConfig, {**SMALL, "xkd": {"student_temp": TAU_S, **xkd}})
    lm = LogMel(n_fft=512, hop_length=143, n_mels=16)
    torch.manual_seed(0)
    model = build_method(cfg, lm)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        # teachers distinct from the students (they start as copies), centres away from 0: every tensor below
        # then tells which network and which centre produced it
        for p in model.teacher.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        model.kd_video_teacher.center.copy_(0.2 * torch.randn(model.kd_video_teacher.center.shape, generator=g))
        model.kd_audio_teacher.center.copy_(0.2 * torch.randn(model.kd_audio_teacher.center.shape, generator=g))
    return cfg, model, GlobalLocalViews(views_config(cfg), lm)


def batch(views, seed=0):
    g = torch.Generator().manual_seed(seed)
    vid = torch.randint(0, 256, (B, 12, 36, 36, 3), generator=g, dtype=torch.uint8)
    aud = 0.1 * torch.randn(B, 24000, generator=g)
    return views(vid, aud, generator=torch.Generator().manual_seed(seed))


def np64(t):
    return t.detach().to(torch.float64).cpu().numpy()


class Recorder:
    """Forward hooks (with kwargs) on the students, teachers, decoders and KD criteria, recording wrappers around
    the MMD functions of the method's namespace, and (optionally) the gradients reaching the student heads'
    outputs. Every record is float64 NumPy."""

    def __init__(self, model, monkeypatch, grads: bool = False):
        self.calls: dict[str, list[dict]] = {}
        self.mmd_calls: list[tuple[np.ndarray, np.ndarray]] = []
        self.grads: dict[str, list] = {"video_head": [], "audio_head": []}
        self.handles = []
        for part in ("student", "teacher"):
            for name, mod in getattr(model, part).items():
                self._hook(f"{part}.{name}", mod, grads and part == "student" and name.endswith("_head"))
        for name, mod in model.decoders.items():
            self._hook(f"decoder.{name}", mod, False)
        self._hook("kd_video_teacher", model.kd_video_teacher, False)
        self._hook("kd_audio_teacher", model.kd_audio_teacher, False)
        for fn in ("mmd", "mmd_single_sigma"):
            orig = getattr(xkd_mod, fn)

            def wrapper(x, y, *a, _orig=orig, **k):
                self.mmd_calls.append((np64(x), np64(y)))
                return _orig(x, y, *a, **k)

            monkeypatch.setattr(xkd_mod, fn, wrapper)

    def _hook(self, key, mod, grad):
        def hook(module, args, kwargs, output):
            rec = {
                "args": [np64(a) if torch.is_tensor(a) else a for a in args],
                "kwargs": {k: (np64(v) if torch.is_tensor(v) else v) for k, v in kwargs.items()},
            }
            if isinstance(output, dict):
                rec["out"] = {k: np64(v) for k, v in output.items() if torch.is_tensor(v)}
            else:
                rec["out"] = np64(output)
                if grad:
                    head = key.split(".")[1]
                    slot = len(self.grads[head])
                    self.grads[head].append(None)

                    def store(g, slot=slot, head=head):
                        self.grads[head][slot] = np64(g)

                    output.register_hook(store)
            self.calls.setdefault(key, []).append(rec)

        self.handles.append(mod.register_forward_hook(hook, with_kwargs=True))

    def __getitem__(self, key):
        return self.calls.get(key, [])


def step(model, v, monkeypatch, grads=False, backward=False):
    rec = Recorder(model, monkeypatch, grads=grads)
    centres = {"video": np64(model.kd_video_teacher.center), "audio": np64(model.kd_audio_teacher.center)}
    out = model(v, SCHED, torch.Generator().manual_seed(0))
    if backward:
        out["loss"].backward()
    for h in rec.handles:
        h.remove()
    return rec, centres, out


def facts(rec):
    """The captured projector outputs: student s_v, s_a (concatenated in call order: global first) and teacher
    t_v, t_a."""
    s = {m: np.concatenate([c["out"] for c in rec[f"student.{m}_head"]]) for m in ("video", "audio")}
    t = {m: rec[f"teacher.{m}_head"][0]["out"] for m in ("video", "audio")}
    assert all(len(rec[f"teacher.{m}_head"]) == 1 for m in ("video", "audio"))
    return s, t


# ------------------------------------------------------------------------------------------ NumPy maths
def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def teacher_probs(t, centre, tau_t):
    """Eq. 10 on the centred teacher logits."""
    return np.exp(log_softmax((t - centre) / tau_t))


def kd_ce(student, teacher, centre, tau_s, tau_t):
    """Eq. 11, one direction: -P(t) log P(s), averaged over the batch and over the student views."""
    q = teacher_probs(teacher, centre, tau_t)
    n_views = len(student) // len(teacher)
    return float(np.mean([(-(q * c).sum(-1)).mean() for c in np.split(log_softmax(student / tau_s), n_views)]))


def kd_ce_grad(student, teacher, centre, tau_s, tau_t):
    """d kd_ce / d student = (softmax(s / tau_s) - q) / (tau_s * B * V)."""
    q = teacher_probs(teacher, centre, tau_t)
    n_views = len(student) // len(teacher)
    p = np.exp(log_softmax(student / tau_s))
    return (p - np.tile(q, (n_views, 1))) / (tau_s * len(teacher) * n_views)


def sqdist(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def kernel(kind, sigma):
    if kind == "multi_gaussian":
        return lambda d: sum(np.exp(-g * d) for g in GAMMAS)
    return lambda d: np.exp(-d / (2 * sigma**2))  # Eq. 8


def mmd(x, y, kind="multi_gaussian", sigma=1.0):
    """Eq. 7 as the biased V-statistic mean Kxx + mean Kyy - 2 mean Kxy."""
    k = kernel(kind, sigma)
    return float(k(sqdist(x, x)).mean() + k(sqdist(y, y)).mean() - 2 * k(sqdist(x, y)).mean())


def mmd_grad_x(x, y):
    """d MMD(x, y) / dx for the multi-Gaussian kernel: (2/n^2) sum_j dK(x_i, x_j) - (2/nm) sum_j dK(x_i, y_j),
    dK(a, b)/da = sum_g -2 g (a - b) exp(-g ||a - b||^2)."""

    def dk(a, b):
        diff = a[:, None, :] - b[None, :, :]
        d = (diff**2).sum(-1)
        w = sum(-2.0 * g * np.exp(-g * d) for g in GAMMAS)
        return (w[..., None] * diff).sum(1)

    n, m = len(x), len(y)
    return 2.0 / n**2 * dk(x, x) - 2.0 / (n * m) * dk(x, y)


def refine_expected(tokens, attn, tokens_other, attn_other, omega="code", use_cls=True):
    """Eq. 3-6 and the token mean fed to the teacher head, from one teacher's last-block output / attention and
    the other teacher's attention."""

    def eq3(a):
        return a[:, :, 0, 1:] if use_cls else a[:, :, 1:, 1:].mean(2)  # [B, H, N]

    a_self, a_other = eq3(attn), eq3(attn_other)
    outer = a_self[..., :, None] * a_other[..., None, :]  # [B, H, N, M], Eq. 4 literally
    cross = outer.mean(-1) / a_self.mean(-1, keepdims=True)  # MeanPool over M, / scale
    a = cross.mean(1)[..., None]  # (1/H) sum_h, [B, N, 1]
    feat = tokens[:, 1:]
    w = feat * a
    if omega == "code":  # released code: energies of the token means, square root
        om = np.sqrt((feat.mean(1) ** 2).sum(-1) / (w.mean(1) ** 2).sum(-1))
    else:  # Eq. 6: energies over all tokens and channels
        om = (feat**2).sum((1, 2)) / (w**2).sum((1, 2))
    return (om[:, None, None] * w).mean(1)


def patchify_video(x, p):  # "b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)" (reference-notes 1.1)
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t // p[0], p[0], h // p[1], p[1], w // p[2], p[2]).transpose(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(b, -1, p[0] * p[1] * p[2] * c)


def patchify_audio(x, p):  # "b c (h ph) (w pw) -> b (h w) (ph pw c)"
    b, c, f, t = x.shape
    x = x.reshape(b, c, f // p[0], p[0], t // p[1], p[1]).transpose(0, 2, 4, 3, 5, 1)
    return x.reshape(b, -1, p[0] * p[1] * c)


def masked_mse(pred, target, mask, eps=1e-6):
    """Eq. 1 with the per-patch standardised target (norm_pix_loss, unbiased variance)."""
    t = (target - target.mean(-1, keepdims=True)) / np.sqrt(target.var(-1, ddof=1, keepdims=True) + eps)
    return float((((pred - t) ** 2).mean(-1) * mask).sum() / mask.sum())


def close(a, b, rtol=1e-5, atol=1e-6):
    return np.allclose(a, b, rtol=rtol, atol=atol)


def masked_call(calls):
    """The one masked pass among an encoder's calls (its ``mask`` has ones)."""
    masked = [c for c in calls if c["out"]["mask"].sum() > 0]
    assert len(masked) == 1, f"{len(masked)} masked passes"
    return masked[0]


# ------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("teacher_input", ["global", "local"])
def test_each_encoder_sees_its_modality_and_the_teachers_see_the_configured_view(monkeypatch, teacher_input):
    cfg, model, views = make(teacher_input=teacher_input)
    v = batch(views)
    rec, _, _ = step(model, v, monkeypatch)
    ratios = {"video": cfg.xkd.mask_ratio_video, "audio": cfg.xkd.mask_ratio_audio}
    for m in ("video", "audio"):
        glob, local = np64(v[f"{m}_global"]), np64(torch.cat(v[f"{m}_local"]))
        st = rec[f"student.{m}_encoder"]
        assert len(st) == 2, [c["args"][0].shape for c in st]
        mk = masked_call(st)  # the reconstruction pass: the global view, masked at this modality's ratio
        assert np.array_equal(mk["args"][0], glob)
        n = mk["out"]["mask"].shape[1]
        assert mk["out"]["mask"].sum(1) == pytest.approx(np.full(B, n - round(n * (1 - ratios[m]))))
        unmasked = [c for c in st if c is not mk][0]  # the local branch: all local views, unmasked
        assert np.array_equal(unmasked["args"][0], local) and unmasked["out"]["mask"].sum() == 0
        te = rec[f"teacher.{m}_encoder"]
        assert len(te) == 1 and te[0]["out"]["mask"].sum() == 0 and "attn" in te[0]["out"]
        want = glob if teacher_input == "global" else np64(v[f"{m}_local"][0])
        assert te[0]["args"][0].shape == want.shape and np.array_equal(te[0]["args"][0], want), (
            f"{m} teacher does not see the {teacher_input} view"
        )


def test_student_global_branch_pools_the_visible_patch_tokens_of_the_masked_pass(monkeypatch):
    _, model, views = make()
    rec, _, _ = step(model, batch(views), monkeypatch)
    for m in ("video", "audio"):
        st = rec[f"student.{m}_encoder"]
        mk = masked_call(st)
        loc = [c for c in st if c is not mk][0]
        heads = rec[f"student.{m}_head"]
        assert len(heads) == 2
        inputs = [h["args"][0] for h in heads]
        tok = mk["out"]["tokens"]
        assert tok.shape[1] - 1 < mk["out"]["mask"].shape[1]  # visible tokens only
        want_global = tok[:, 1:].mean(1)
        want_local = loc["out"]["tokens"][:, 1:].mean(1)
        assert not close(want_global, tok[:, 0], rtol=1e-3, atol=1e-3)  # CLS would be told apart
        assert any(close(x, want_global) for x in inputs), f"{m}: global head input is not the visible-patch mean"
        assert any(close(x, want_local) for x in inputs), f"{m}: local head input is not the local patch mean"
        assert close(inputs[0], want_global)  # Alg. 1 line 14: Concat(head(global), head(local))


@pytest.mark.parametrize(
    "opts",
    [{}, {"refine_omega": "paper"}, {"use_cls_attention": False}, {"refine": False}],
    ids=["refine_code", "refine_paper_omega", "refine_no_cls", "no_refine"],
)
def test_teacher_targets_are_refined_by_the_cross_modal_attention(monkeypatch, opts):
    _, model, views = make(**opts)
    rec, _, _ = step(model, batch(views), monkeypatch)
    te = {m: rec[f"teacher.{m}_encoder"][0]["out"] for m in ("video", "audio")}
    for m, o in (("video", "audio"), ("audio", "video")):
        got = rec[f"teacher.{m}_head"][0]["args"][0]
        plain = te[m]["tokens"][:, 1:].mean(1)
        if opts.get("refine", True):
            want = refine_expected(
                te[m]["tokens"],
                te[m]["attn"],
                te[o]["tokens"],
                te[o]["attn"],
                omega=opts.get("refine_omega", "code"),
                use_cls=opts.get("use_cls_attention", True),
            )
            assert not close(want, plain, rtol=1e-3, atol=1e-4)  # refine changes the target: the check can tell
            assert close(got, want, rtol=1e-4, atol=1e-5), f"{m} teacher head input is not refine(...) (Eq. 4-6)"
        else:
            assert close(got, plain), f"{m} teacher head input is not the plain patch mean"


def test_each_student_is_distilled_from_the_other_modalitys_teacher(monkeypatch):
    """Eq. 11: loss_kd_v2a = -P(t_v) log P(s_a), loss_kd_a2v = -P(t_a) log P(s_v); the criterion holding the video
    centre receives the video teacher's outputs (and moves its centre towards their mean)."""
    cfg, model, views = make()
    rec, c, out = step(model, batch(views), monkeypatch)
    s, t = facts(rec)
    logs = {k: float(x) for k, x in out["logs"].items()}
    for crit, teacher, student in (("kd_video_teacher", "video", "audio"), ("kd_audio_teacher", "audio", "video")):
        (call,) = rec[crit]
        assert np.array_equal(call["args"][1], t[teacher]), f"{crit} is not given the {teacher} teacher outputs"
        assert np.array_equal(call["args"][0], s[student]), f"{crit} does not teach the {student} student"
    v2a = kd_ce(s["audio"], t["video"], c["video"], TAU_S, TAU_V)
    a2v = kd_ce(s["video"], t["audio"], c["audio"], TAU_S, TAU_A)
    within_v = kd_ce(s["video"], t["video"], c["video"], TAU_S, TAU_V)
    assert abs(within_v - a2v) > 1e-2 * a2v  # distillation within a modality would be told apart
    assert logs["loss_kd_v2a"] == pytest.approx(v2a, rel=1e-5)
    assert logs["loss_kd_a2v"] == pytest.approx(a2v, rel=1e-5)
    m = cfg.xkd.center_momentum
    for crit, teacher in ((model.kd_video_teacher, "video"), (model.kd_audio_teacher, "audio")):
        want = m * c[teacher] + (1 - m) * t[teacher].mean(0, keepdims=True)
        assert close(np64(crit.center), want), f"the {teacher} centre does not track the {teacher} teacher"


def test_teacher_temperatures_reach_their_own_softmax(monkeypatch):
    """tau_t^v sharpens the video teacher (the audio student's target), tau_t^a the audio teacher; the students
    use tau_s; the collapse logs (Supp. B.5) use the same temperature and centre as the loss."""
    _, model, views = make()
    rec, c, out = step(model, batch(views), monkeypatch)
    s, t = facts(rec)
    logs = {k: float(x) for k, x in out["logs"].items()}
    for crit, tau in (("kd_video_teacher", TAU_V), ("kd_audio_teacher", TAU_A)):
        (call,) = rec[crit]
        taus = [a for a in call["args"][2:4]] + [call["kwargs"].get(k) for k in ("student_temp", "teacher_temp")]
        taus = [x for x in taus if x is not None]
        assert taus == [TAU_S, tau], f"{crit} got temperatures {taus}, expected student {TAU_S}, teacher {tau}"
    swapped = kd_ce(s["audio"], t["video"], c["video"], TAU_S, TAU_A)
    right = kd_ce(s["audio"], t["video"], c["video"], TAU_S, TAU_V)
    assert abs(swapped - right) > 1e-2 * right  # a swap is visible in the value
    assert logs["loss_kd_v2a"] == pytest.approx(right, rel=1e-5)
    assert logs["loss_kd_a2v"] == pytest.approx(kd_ce(s["video"], t["audio"], c["audio"], TAU_S, TAU_A), rel=1e-5)
    for m, tau in (("video", TAU_V), ("audio", TAU_A)):
        lp = log_softmax((t[m] - c[m]) / tau)
        p = np.exp(lp)
        assert logs[f"teacher_entropy_{m}"] == pytest.approx(float(-(p * lp).sum(-1).mean()), rel=1e-4, abs=1e-6)


def test_schedule_step_inputs_keep_the_video_and_audio_teacher_temperatures_apart():
    _, model, _ = make(
        teacher_temp_video={"kind": "constant", "value": 0.11},
        teacher_temp_audio={"kind": "constant", "value": 0.03},
    )
    model.setup(total_steps=4, iters_per_epoch=2)
    assert model.step_inputs(3) == pytest.approx({"teacher_temp_video": 0.11, "teacher_temp_audio": 0.03})


PAIRS = {
    "within": {("s_v", "s_a"), ("t_v", "t_a")},  # Eq. 9
    "cross": {("t_a", "s_v"), ("t_v", "s_a")},  # Eq. S1
}
PAIRS["both"] = PAIRS["within"] | PAIRS["cross"]  # Eq. S2


@pytest.mark.parametrize(
    "da_pairs,kind", [("within", "multi_gaussian"), ("cross", "multi_gaussian"), ("both", "single_sigma")]
)
def test_domain_alignment_mmd_compares_the_specified_pairs(monkeypatch, da_pairs, kind):
    sigma = 12.0
    _, model, views = make(da_pairs=da_pairs, mmd_kernel=kind, mmd_sigma=sigma, da_teacher_term="add")
    rec, _, out = step(model, batch(views), monkeypatch)
    s, t = facts(rec)
    named = {"s_v": s["video"], "s_a": s["audio"], "t_v": t["video"], "t_a": t["audio"]}

    def label(x):
        hits = [k for k, val in named.items() if val.shape == x.shape and np.array_equal(val, x)]
        assert len(hits) == 1, "an MMD input is none of the projector outputs"
        return hits[0]

    seen = {frozenset((label(x), label(y))) for x, y in rec.mmd_calls}
    assert all(len(p) == 2 for p in seen), f"an MMD compares a set with itself: {seen}"
    assert seen == {frozenset(p) for p in PAIRS[da_pairs]}
    logs = {k: float(x) for k, x in out["logs"].items()}

    def m(a, b):
        return mmd(named[a], named[b], kind, sigma)

    assert m("s_v", "s_v") == pytest.approx(0.0, abs=1e-9) and m("s_v", "s_a") > 1e-4  # a self-MMD is visible
    want_da = 0.0
    if da_pairs in ("within", "both"):
        assert logs["loss_da_student"] == pytest.approx(m("s_v", "s_a"), rel=1e-4)
        assert logs["loss_da_teacher"] == pytest.approx(m("t_v", "t_a"), rel=1e-4)
        want_da += 0.5 * (m("s_v", "s_a") + m("t_v", "t_a"))
    else:
        assert "loss_da_student" not in logs and "loss_da_teacher" not in logs
    if da_pairs in ("cross", "both"):
        assert logs["loss_da_cross"] == pytest.approx(m("t_a", "s_v") + m("t_v", "s_a"), rel=1e-4)
        want_da += 0.5 * (m("t_a", "s_v") + m("t_v", "s_a"))
    else:
        assert "loss_da_cross" not in logs
    assert logs["loss_da"] == pytest.approx(want_da, rel=1e-4)  # code reduction: each sum halved


def _recon(rec, v, cfg):
    out = {}
    for m, patchify, patch in (
        ("video", patchify_video, cfg.model.video_patch),
        ("audio", patchify_audio, cfg.model.audio_patch),
    ):
        mk = masked_call(rec[f"student.{m}_encoder"])
        (dec,) = rec[f"decoder.{m}"]
        assert np.array_equal(dec["args"][0], mk["out"]["tokens"])  # the decoder reconstructs the masked pass
        out[m] = masked_mse(dec["out"], patchify(np64(v[f"{m}_global"]), patch), mk["out"]["mask"])
    return out


@pytest.mark.parametrize("reduction", ["code", "paper"])
@pytest.mark.parametrize("teacher_term", ["log", "add"])
def test_loss_combination_eq12_from_independent_terms(monkeypatch, reduction, teacher_term):
    """Eq. 12 rebuilt from Eq. 1 (recon on the captured decoder outputs and masks), Eq. 7-9 and Eq. 11 in NumPy:
    the code's reduction is (5 mean(recon) + 1 (MMD_s [+ MMD_t]) / 2 + 1 mean(CE)) / 7, the paper's the sums."""
    cfg, model, views = make(loss_reduction=reduction, da_teacher_term=teacher_term)
    v = batch(views)
    rec, c, out = step(model, v, monkeypatch)
    s, t = facts(rec)
    r = _recon(rec, v, cfg)
    mmd_s, mmd_t = mmd(s["video"], s["audio"]), mmd(t["video"], t["audio"])
    ce_v2a = kd_ce(s["audio"], t["video"], c["video"], TAU_S, TAU_V)
    ce_a2v = kd_ce(s["video"], t["audio"], c["audio"], TAU_S, TAU_A)
    da = mmd_s + (mmd_t if teacher_term == "add" else 0.0)
    if reduction == "code":
        ae, da, kd = (r["video"] + r["audio"]) / 2, da / 2, (ce_v2a + ce_a2v) / 2
        want = (5 * ae + 1 * da + 1 * kd) / 7
    else:
        ae, kd = r["video"] + r["audio"], ce_v2a + ce_a2v
        want = 5 * ae + 1 * da + 1 * kd
    logs = {k: float(x) for k, x in out["logs"].items()}
    assert logs["loss_recon_video"] == pytest.approx(r["video"], rel=1e-5)
    assert logs["loss_recon_audio"] == pytest.approx(r["audio"], rel=1e-5)
    assert logs["loss_ae"] == pytest.approx(ae, rel=1e-5)
    assert logs["loss_da"] == pytest.approx(da, rel=1e-4)
    assert logs["loss_kd"] == pytest.approx(kd, rel=1e-5)
    assert float(out["loss"].detach()) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("reduction", ["code", "paper"])
@pytest.mark.parametrize("teacher_term", ["log", "add"])
def test_student_output_gradient_matches_the_hand_derived_gradient(monkeypatch, reduction, teacher_term):
    """The gradient reaching the student projector outputs is that of lambda_kd * CE + lambda_da * MMD(s_v, s_a)
    only (times 1/2 per group mean and 1/7 under the code's reduction): the teacher MMD ('add') adds nothing,
    dropping it ('log') leaves the student term's weight unchanged, and no teacher parameter gets a gradient."""
    _, model, views = make(loss_reduction=reduction, da_teacher_term=teacher_term)
    rec, c, _ = step(model, batch(views), monkeypatch, grads=True, backward=True)
    s, t = facts(rec)
    half, norm = (0.5, 7.0) if reduction == "code" else (1.0, 1.0)
    want = {
        "video": (
            half * mmd_grad_x(s["video"], s["audio"])
            + half * kd_ce_grad(s["video"], t["audio"], c["audio"], TAU_S, TAU_A)
        )
        / norm,
        "audio": (
            half * mmd_grad_x(s["audio"], s["video"])
            + half * kd_ce_grad(s["audio"], t["video"], c["video"], TAU_S, TAU_V)
        )
        / norm,
    }
    for m in ("video", "audio"):
        got = np.concatenate(rec.grads[f"{m}_head"])
        scale = np.abs(want[m]).max()
        assert np.abs(got - want[m]).max() <= 1e-4 * scale, f"{m}: {np.abs(got - want[m]).max()} vs {scale}"
    assert all(p.grad is None for p in model.teacher.parameters())
