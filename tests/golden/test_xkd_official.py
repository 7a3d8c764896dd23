"""Golden equivalence with the official XKD code (``pritamqu/XKD`` at 806c75d).

``../shared/fixtures/xkd_official/small.pt`` holds what the official implementation computed in float64 at
a small configuration: its weights (every tensor perturbed away from its init), the inputs, the masks it
drew, every loss term, every gradient, the KD centres after the update and the teacher path on the local
views. Here the weights are imported with :mod:`avlib.methods.xkd_official`, the masks are fed through
the public ``mask_noise`` argument, and one float64 forward and backward of :class:`avlib.methods.xkd.XKD`
must reproduce all of it to 1e-9 (relative, max-norm per tensor). This pins the whole XKD function: which
encoder sees which view, which teacher teaches which student, which temperature reaches which loss.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
import yaml

from avlib.methods import build_method, logmel_from_config
from avlib.methods.xkd_official import (
    OfficialImportError,
    avlib_key,
    config_from_official,
    load_official,
    read_official,
)

ROOT = Path(__file__).resolve().parents[2]
SHA256 = "c286fc09dad2e59057cf91024b92f878ce1bbd4602823de6944dcdf1c8ed384b"
RTOL = 1e-9
# official loss names -> avlib's logged terms (audio student <- video teacher is vt2as)
LOSS_NAMES = {
    "vid_recon_loss": "loss_recon_video",
    "aud_recon_loss": "loss_recon_audio",
    "as2vs_align_loss": "loss_da_student",
    "vt2at_align_loss": "loss_da_teacher",
    "vt2as_kd_loss": "loss_kd_v2a",
    "at2vs_kd_loss": "loss_kd_a2v",
    "recon_loss": "loss_ae",
    "cmkd_loss": "loss_kd",
    "alignment_loss": "loss_da",
    "loss": "loss",
}
TEACHER_ITEMS = {
    "last_block_attention": "attn",
    "tokens": "tokens",
    "cls_attention": "cls_attn",
    "cross_modal_attention": "cross_attn",
    "refined_tokens": "refined",
    "head_output": "",
}


def fixture_path() -> Path | None:
    cands = [os.environ.get("AVLIB_FIXTURES", "")]
    if os.environ.get("AVLIB_REAL_DATA"):
        cands.append(str(Path(os.environ["AVLIB_REAL_DATA"]).parent / "fixtures"))
    cands += [str(ROOT.parent / "shared" / "fixtures"), "/work/shared/fixtures"]
    for c in cands:
        if c and (Path(c) / "xkd_official" / "small.pt").is_file():
            return Path(c) / "xkd_official" / "small.pt"
    return None


@pytest.fixture(scope="module")
def golden() -> dict:
    path = fixture_path()
    if path is None:
        pytest.skip(
            "official XKD fixture not found (../shared/fixtures/xkd_official/small.pt, or set "
            "AVLIB_FIXTURES): golden-equivalence tests skipped"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == SHA256, f"{path}: sha256 {digest} is not the documented fixture's {SHA256}"
    return torch.load(path, weights_only=True)


def official_config(g: dict, **projector):
    cfg = config_from_official(
        g["model_kwargs"],
        g["encoder"],
        g["decoder"],
        {**g["projector"]},
        g["fwd_kwargs"],
        local_views={"video_frames": 4, "video_size": 48, "audio_frames": 48},
    )
    if projector:
        import dataclasses

        cfg.model.projector = dataclasses.replace(cfg.model.projector, **projector)
    return cfg


def imported_model(g: dict, **projector):
    cfg = official_config(g, **projector)
    model = build_method(cfg, logmel_from_config(cfg)).double().train()
    sd, kind = read_official(g["state_dict"])
    report = load_official(model, sd, kind)
    return model, report


def run_step(model, g: dict) -> dict:
    f, s = g["inputs"]["frames"], g["inputs"]["specs"]
    views = {"video_global": f[0], "video_local": [f[1]], "audio_global": s[0], "audio_local": [s[1]]}
    tt = g["fwd_kwargs"]["teacher_temp"]
    out = model(
        views,
        {"teacher_temp_video": tt["video"], "teacher_temp_audio": tt["audio"]},
        mask_noise={"video": g["masks"]["vid"]["ids_restore"], "audio": g["masks"]["aud"]["ids_restore"]},
    )
    out["loss"].backward()
    return out


def rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    """max |a - ref| / max |ref| (0 when both are 0)."""
    a, ref = a.detach().double(), ref.detach().double()
    assert a.shape == ref.shape, f"shape {tuple(a.shape)} vs official {tuple(ref.shape)}"
    scale = ref.abs().max().item()
    return (a - ref).abs().max().item() / (scale if scale > 0 else 1.0)


@pytest.fixture(scope="module")
def step(golden):
    model, report = imported_model(golden)
    teacher = model.teacher_outputs(golden["inputs"]["frames"][1], golden["inputs"]["specs"][1], details=True)
    out = run_step(model, golden)
    return model, report, out, teacher


def test_import_covers_every_official_key(golden, step):
    _, report, _, _ = step
    print(report)
    assert report.ok and report.n_official == len(golden["state_dict"]) == 252
    assert not report.unmatched and not report.missing and not report.shape_mismatch and not report.alias_conflicts
    # the 56 {vid,aud}_ae.encoder.* keys are the student backbones; in the 4 heads mlp.4 is mlp.1 (weight, bias)
    assert len(report.aliases) == 56
    for a, b in report.aliases:
        ae, student = sorted((a, b))
        assert ae.replace("_ae.encoder.", "_student.backbone.", 1) == student, (a, b)
    assert len(report.tied) == 8 and all(
        t.endswith(
            (
                "mlp.1.weight = " + t.split(" = ")[0][: -len("mlp.1.weight")] + "mlp.4.weight",
                "mlp.1.bias = " + t.split(" = ")[0][: -len("mlp.1.bias")] + "mlp.4.bias",
            )
        )
        for t in report.tied
    ), report.tied


@pytest.mark.parametrize("name", sorted(LOSS_NAMES))
def test_loss_terms_match_official(golden, step, name):
    _, _, out, _ = step
    got, ref = out["logs"][LOSS_NAMES[name]], golden["losses"][name]
    assert got.dtype == torch.float64
    assert rel_err(got, ref) < RTOL, f"{name}: avlib {got.item():.15g} vs official {ref.item():.15g}"


def test_every_gradient_matches_official(golden, step):
    model, _, _, _ = step
    params = dict(model.named_parameters())  # tied tensors once, like the official parameters()
    with_grad = {n for n, p in params.items() if p.grad is not None}
    mapped = {avlib_key(k): k for k in golden["grads"]}
    assert with_grad == set(mapped), (
        f"parameters with a gradient differ from the official ones: avlib-only "
        f"{sorted(with_grad - set(mapped))[:5]}, official-only {sorted(set(mapped) - with_grad)[:5]}"
    )
    bad = {}
    for ak, ok in mapped.items():
        e = rel_err(params[ak].grad, golden["grads"][ok])
        if not e < RTOL:
            bad[ok] = e
    assert not bad, f"{len(bad)} of {len(mapped)} gradients differ (rel. error): {dict(list(bad.items())[:8])}"


def test_centres_after_the_update_match_official(golden, step):
    model, _, _, _ = step
    after = golden["centres_after"]
    for off, mine in (("vt2as_ce_loss", model.kd_video_teacher), ("at2vs_ce_loss", model.kd_audio_teacher)):
        ref = after[off]["center"] if off in after else after[f"{off}.center"]
        assert rel_err(mine.center, ref) < RTOL, off


@pytest.mark.parametrize("modality", ["vid", "aud"])
@pytest.mark.parametrize("item", sorted(TEACHER_ITEMS))
def test_teacher_path_on_local_views_matches_official(golden, step, modality, item):
    _, _, _, teacher = step
    m = {"vid": "video", "aud": "audio"}[modality]
    got = teacher[f"{TEACHER_ITEMS[item]}_{m}" if TEACHER_ITEMS[item] else m]
    assert rel_err(got, golden["teacher_local"][modality][item]) < RTOL, f"{modality}.{item}"


def test_untied_projector_norms_take_the_official_norm_and_sum_its_gradient(golden):
    """Loading the official shared LayerNorm into two independent ones: same forward, and the two
    gradients add up to the official gradient of the one tensor."""
    model, report = imported_model(golden, shared_hidden_norm=False)
    assert report.ok and any("copied to both" in n for n in report.notes)
    out = run_step(model, golden)
    assert rel_err(out["logs"]["loss"], golden["losses"]["loss"]) < RTOL
    params = dict(model.named_parameters())
    for head in ("vid_student", "aud_student"):
        m = {"vid_student": "student.video_head", "aud_student": "student.audio_head"}[head]
        for leaf in ("weight", "bias"):
            total = params[f"{m}.mlp.1.{leaf}"].grad + params[f"{m}.mlp.4.{leaf}"].grad
            assert rel_err(total, golden["grads"][f"{head}.head.mlp.1.{leaf}"]) < RTOL
            # and each use alone is not the official gradient (the tie matters for training)
            assert rel_err(params[f"{m}.mlp.1.{leaf}"].grad, golden["grads"][f"{head}.head.mlp.1.{leaf}"]) > 1e-3


def test_import_refuses_a_partial_or_mismatched_checkpoint(golden):
    cfg = official_config(golden)
    model = build_method(cfg, logmel_from_config(cfg)).double()
    sd = dict(golden["state_dict"])
    del sd["vid_teacher.head.mlp.0.bias"]  # missing
    sd["vid_teacher.extra.weight"] = torch.zeros(3)  # unmatched
    sd["aud_student.head.mlp.6.weight"] = torch.zeros(5, 5)  # wrong shape
    sd["vid_ae.encoder.cls_token"] = sd["vid_ae.encoder.cls_token"] + 1.0  # alias that disagrees
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(OfficialImportError) as e:
        load_official(model, sd)
    msg = str(e.value)
    for needle in (
        "teacher.video_head.mlp.0.bias",
        "vid_teacher.extra.weight",
        "aud_student.head.mlp.6.weight",
        "vid_ae.encoder.cls_token differs",
    ):
        assert needle in msg, needle
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "a failed import changed the model"


def test_checkpoint_shapes_are_read(golden, tmp_path):
    """checkpoint.pth.tar (model/optimizer/epoch, DDP ``module.`` prefix), backbone-only files, bare dicts."""
    sd = golden["state_dict"]
    full = tmp_path / "checkpoint.pth.tar"
    torch.save({"model": {f"module.{k}": v for k, v in sd.items()}, "optimizer": {"state": {}}, "epoch": 3}, full)
    got, kind = read_official(full)
    assert kind == "checkpoint" and set(got) == set(sd)
    back = tmp_path / "run_vid_teacher.pth.tar"
    torch.save(
        {k[len("vid_teacher.backbone.") :]: v for k, v in sd.items() if k.startswith("vid_teacher.backbone.")}, back
    )
    got, kind = read_official(back)
    assert kind == "backbone" and all(k.startswith("vid_teacher.backbone.") for k in got) and len(got) == 28
    anon = tmp_path / "weights.pth"
    torch.save(
        {k[len("aud_teacher.backbone.") :]: v for k, v in sd.items() if k.startswith("aud_teacher.backbone.")}, anon
    )
    with pytest.raises(OfficialImportError, match="give its role"):
        read_official(anon)
    got, _ = read_official(anon, role="aud_teacher")
    assert all(k.startswith("aud_teacher.backbone.") for k in got)
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(OfficialImportError, match="junk.pth.tar"):
        read_official(junk)


def assert_encoders_compute_official_teacher_tokens(model, golden) -> None:
    """The run's evaluated encoders, in float32, reproduce the official teachers' tokens on the local views."""
    for m, x in (("video", golden["inputs"]["frames"][1]), ("audio", golden["inputs"]["specs"][1])):
        with torch.no_grad():
            tokens = model.encoder_for_eval(m, "teacher")(x.float())["tokens"]
        assert rel_err(tokens, golden["teacher_local"][m[:3]]["tokens"]) < 1e-5, m


def _settings_file(golden, tmp_path) -> Path:
    s = {k: golden[k] for k in ("model_kwargs", "encoder", "decoder", "projector", "fwd_kwargs")}
    s["local_views"] = {"video_frames": 4, "video_size": 48, "audio_frames": 48}
    path = tmp_path / "official_small.yaml"
    path.write_text(yaml.safe_dump(s))
    return path


def test_cli_imports_a_full_checkpoint_into_a_run_that_evaluation_loads(golden, tmp_path, capsys):
    """``avlib import-official checkpoint.pth.tar`` -> ``final.pt`` that ``load_pretrained`` (used by evaluate,
    finetune and fusion) rebuilds; its teacher encoders compute the official teacher tokens."""
    from avlib.cli import main
    from avlib.eval.protocol import load_pretrained

    ckpt = tmp_path / "checkpoint.pth.tar"
    torch.save(
        {
            "model": {f"module.{k}": v.float() for k, v in golden["state_dict"].items()},
            "optimizer": {"state": {}, "param_groups": []},
            "epoch": 7,
        },
        ckpt,
    )
    run = tmp_path / "runs" / "xkd_official_small"
    argv = [
        "import-official",
        str(ckpt),
        "--official-settings",
        str(_settings_file(golden, tmp_path)),
        "--out",
        str(run),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "252 official keys" in printed and "0 unmatched, 0 missing, 0 shape mismatches" in printed
    assert (run / "import_report.txt").read_text().strip() == printed.strip()
    cfg, model, _ = load_pretrained(run)
    assert (
        cfg.xkd.teacher_input == "local" and cfg.xkd.da_teacher_term == "add" and cfg.model.projector.shared_hidden_norm
    )
    assert model.encoder_for_eval("video") is model.teacher["video_encoder"]
    assert model.encoder_for_eval("audio") is model.teacher["audio_encoder"]
    assert_encoders_compute_official_teacher_tokens(model, golden)
    assert yaml.safe_load((run / "config.yaml").read_text())["xkd"]["teacher_input"] == "local"
    assert main(argv) == 2  # an existing run is not overwritten without --force


def test_backbone_files_combine_into_an_encoders_only_run(golden, tmp_path):
    from avlib.eval.protocol import load_pretrained
    from avlib.methods.xkd_official import import_official

    sd = golden["state_dict"]
    files = []
    for role in ("vid_teacher", "aud_teacher"):
        f = tmp_path / f"ckpt_{role}.pth.tar"
        torch.save(
            {k[len(role) + len(".backbone.") :]: v for k, v in sd.items() if k.startswith(f"{role}.backbone.")}, f
        )
        files.append(f)
    report = import_official(files, tmp_path / "run", official_config(golden))
    assert report.ok and not report.missing and report.left_at_init  # the decoders, said in the report
    assert "left at initialisation" in str(report)
    _, model, _ = load_pretrained(tmp_path / "run")
    assert not hasattr(model, "teacher")  # the imported teacher backbones are the run's evaluated encoders
    assert_encoders_compute_official_teacher_tokens(model, golden)


def test_cli_names_every_mismatch_when_the_avlib_config_does_not_fit(golden, tmp_path, capsys):
    """The avlib-config route (``--config/--profile/--set``): a model of other sizes is refused with the
    mismatched keys named and exit code 2, and no run is written."""
    from avlib.cli import main

    ckpt = tmp_path / "checkpoint.pth.tar"
    torch.save({"model": golden["state_dict"], "epoch": 1}, ckpt)
    rc = main(
        [
            "import-official",
            str(ckpt),
            "--config",
            str(ROOT / "params/pretrain/xkd.yaml"),
            "--profile",
            "smoke",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 2 and not (tmp_path / "run" / "final.pt").exists()
    captured = capsys.readouterr()
    msg = captured.err + captured.out
    assert "shape mismatches" in msg and "vid_student.backbone.enc_pos_embed (1, 33, 64)" in msg
