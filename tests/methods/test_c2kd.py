"""C2KD's wiring: which network sees which modality, which outputs reach which term, which teacher stages train,
and a tiny two-stage run (teacher CE, then the student) whose student loss falls."""

import pytest
import torch

import avlib.methods.c2kd as c2kd_mod
from avlib.config import PretrainConfig
from avlib.methods.c2kd import C2KD, C2KDConfig, C2KDPretrainConfig


def _cfg(**kw) -> C2KDPretrainConfig:
    return C2KDPretrainConfig(name="t", c2kd=C2KDConfig(**{"n_classes": 4, **kw}))


def _batch(B=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(B) % 4
    audio = torch.randn(B, 1, 32, 24, generator=g) + y[:, None, None, None].float()  # the class is audible
    video = torch.randn(B, 1, 3, 32, 32, generator=g) * 0.1  # and barely visible: the modality gap
    return {"audio": audio, "video": video, "label": y}


def _record(store: dict, key: str, what):
    """A forward hook that stores ``what(inputs, output)`` once and leaves the output alone."""

    def hook(module, inputs, output):
        store.setdefault(key, what(inputs, output))

    return hook


def test_the_teacher_sees_its_modality_and_the_student_the_other():
    for teacher in ("audio", "video"):
        m = C2KD(_cfg(teacher_modality=teacher))
        seen = {}
        m.teacher.stem.register_forward_hook(_record(seen, "teacher", lambda i, o: i[0].shape))
        m.student.stem.register_forward_hook(_record(seen, "student", lambda i, o: i[0].shape))
        m(_batch())
        audio, frames = (8, 1, 32, 24), (8, 3, 32, 32)  # frames flattened into the batch by the shared network
        assert seen == (
            {"teacher": audio, "student": frames} if teacher == "audio" else {"teacher": frames, "student": audio}
        )
        assert m.student_modality != teacher and m.modalities() == {"audio", "video"}
    stage1 = C2KD(_cfg(stage="teacher", teacher_modality="video"))
    assert stage1.student is None and stage1.modalities() == {"video"} and not stage1.use_audio


def test_c2kd_terms_get_the_backbone_logits_and_each_proxy_on_its_own_layer3(monkeypatch):
    m = C2KD(_cfg(lambda1=0.2, lambda2=0.3, lambda3=0.4, krc_threshold=0.1, non_target="zero", ntkl_reduction="batch"))
    got, outs = {}, {}
    m.teacher.register_forward_hook(_record(outs, "t", lambda i, o: o))
    m.student.register_forward_hook(_record(outs, "s", lambda i, o: o))
    m.proxy_teacher.register_forward_hook(_record(outs, "pt", lambda i, o: (i[0], o)))
    m.proxy_student.register_forward_hook(_record(outs, "ps", lambda i, o: (i[0], o)))
    real = c2kd_mod.c2kd_terms

    def spy(*args, **kw):
        got["args"], got["kw"] = args, kw
        return real(*args, **kw)

    monkeypatch.setattr(c2kd_mod, "c2kd_terms", spy)
    m(_batch())
    z_t, p_t, z_s, p_s, y = got["args"]
    assert z_t is outs["t"]["logits"] and z_s is outs["s"]["logits"]
    assert outs["pt"][0] is outs["t"]["layer3"] and p_t is outs["pt"][1]  # the teacher's proxy on the teacher
    assert outs["ps"][0] is outs["s"]["layer3"] and p_s is outs["ps"][1]
    assert got["kw"] == dict(lambda1=0.2, lambda2=0.3, lambda3=0.4, threshold=0.1, target="zero", reduction="batch")


def test_partial_teacher_trains_exactly_its_top_two_stages_and_baselines_freeze_it():
    m = C2KD(_cfg(teacher_trainable="top2"))
    m.train()
    m(_batch())["loss"].backward()
    stem, l1, l2, l3, l4, fc = m.teacher.stages()
    for frozen in (stem, l1, l2):
        assert all(p.grad is None and not p.requires_grad for p in frozen.parameters())
    for live in (l3, l4, fc):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in live.parameters() if p.dim() > 1)
    assert all(p.grad is not None for p in m.student.parameters() if p.dim() > 1)
    full = C2KD(_cfg())
    full(_batch())["loss"].backward()
    assert all(p.grad is not None for p in full.teacher.stem.parameters())  # the dagger variant: all of it
    for loss in ("none", "kd", "dkd", "fitnet"):
        b = C2KD(_cfg(loss=loss)).train()
        assert b.teacher_frozen() and not b.teacher.training  # BN statistics of a frozen teacher stay put
        b(_batch())["loss"].backward()
        assert all(p.grad is None for p in b.teacher.parameters())
        assert all(p.grad is not None for p in b.student.parameters() if p.dim() > 1)
    with pytest.raises(ValueError, match="teacher_trainable applies to loss c2kd"):
        C2KD(_cfg(loss="kd", teacher_trainable="top2"))


def test_each_baseline_adds_its_own_term_with_its_settings(monkeypatch):
    calls = {}
    for name in ("hinton_kd", "dkd"):
        real = getattr(c2kd_mod, name)
        monkeypatch.setattr(c2kd_mod, name, lambda *a, _r=real, _n=name: calls.setdefault(_n, a) is None or _r(*a))
    C2KD(_cfg(loss="kd", kd_temperature=2.5))(_batch())
    C2KD(_cfg(loss="dkd", dkd_alpha=0.5, dkd_beta=3.0, kd_temperature=1.5))(_batch())
    assert calls["hinton_kd"][2] == 2.5 and not calls["hinton_kd"][1].requires_grad  # teacher logits detached
    assert calls["dkd"][3:] == (0.5, 3.0, 1.5)
    out = C2KD(_cfg(loss="none"))(_batch())
    assert float(out["logs"]["kd"]) == 0.0
    assert float(out["loss"].detach()) == pytest.approx(float(out["logs"]["ce_student"]))


def test_a_tiny_two_stage_run_the_student_loss_falls():
    torch.manual_seed(0)
    batch = _batch(16)
    teacher = C2KD(_cfg(stage="teacher")).train()
    opt = torch.optim.SGD(teacher.parameters(), lr=0.05, momentum=0.9)
    for _ in range(8):
        opt.zero_grad()
        teacher(batch)["loss"].backward()
        opt.step()
    student = C2KD(_cfg(stage="student")).train()
    student.teacher.load_state_dict(teacher.teacher.state_dict())
    opt = torch.optim.SGD([p for p in student.parameters() if p.requires_grad], lr=0.02, momentum=0.9)
    ce = []
    for _ in range(12):
        opt.zero_grad()
        out = student(batch)
        out["loss"].backward()
        opt.step()
        ce.append(float(out["logs"]["ce_student"]))
    assert ce[-1] < 0.7 * ce[0], ce
    assert isinstance(student.cfg, PretrainConfig)
    logits = student.eval().predict(batch)
    assert logits.shape == (16, 4)
