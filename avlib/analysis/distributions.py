"""How sharp are the audio and video teachers' output distributions? (XKD Fig. 2, Section 4.3)

The paper argues that the audio teacher's distribution is sharper than the video teacher's, which is
why video-to-audio distillation helps less. We measure it on the exact distributions used for
distillation: the teachers' projector outputs of paired clips (with refine, as in training), centred
by the training centre, softmax at a temperature. Comparing the two modalities at their *trained*
temperatures (video 0.1, audio 0.07 by default) would build the answer in, so :func:`teacher_sharpness`
also reports them at one common temperature."""

from __future__ import annotations

import numpy as np
import torch


def final_temperature(spec: dict) -> float:
    """The value a teacher-temperature schedule (``avlib.train.schedules``) ends at."""
    kind = spec.get("kind")
    key = {"constant": "value", "cosine": "final", "linear_warmup": "end"}.get(kind)
    if key is None or key not in spec:
        raise ValueError(f"cannot read the final temperature of schedule {spec!r}")
    return float(spec[key])


@torch.no_grad()
def teacher_logits(model, video: torch.Tensor, audio: torch.Tensor, batch_size: int = 32) -> dict:
    """Teacher projector outputs ``{'video': [B, K], 'audio': [B, K]}`` (float64 NumPy) of paired clips,
    computed as in training (refined teacher features when ``xkd.refine``)."""
    if not getattr(model, "distill", False):
        raise ValueError(f"{model.cfg.name}: the run has no teachers (neither kd nor da is on)")
    out = {"video": [], "audio": []}
    for i in range(0, len(video), batch_size):
        t = model.teacher_outputs(video[i : i + batch_size], audio[i : i + batch_size])
        out["video"].append(t["video"].double().cpu().numpy())
        out["audio"].append(t["audio"].double().cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def softmax_stats(logits: np.ndarray, center: np.ndarray | None, tau: float) -> dict:
    """``P = softmax((logits - center) / tau)`` per row (float64) and its summaries: ``entropy`` per row
    (nats), ``max_prob`` per row, and ``rank_curve`` (the row-wise sorted probabilities, averaged)."""
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    z = logits - (0.0 if center is None else np.asarray(center, dtype=np.float64).reshape(1, -1))
    logp = torch.log_softmax(torch.from_numpy(z / tau), dim=-1).numpy()
    p = np.exp(logp)
    return {"entropy": -(p * logp).sum(-1), "max_prob": p.max(-1), "rank_curve": -np.sort(-p, axis=-1).mean(0)}


def teacher_sharpness(model, video: torch.Tensor, audio: torch.Tensor, common_tau: float = 0.1) -> dict:
    """Entropy and peak probability of both teachers' (centred) output distributions, at each teacher's
    trained final temperature and at ``common_tau``. Returns ``{modality: {'trained': stats,
    'common': stats, 'tau': trained_tau}}`` with :func:`softmax_stats` entries."""
    x = model.cfg.xkd
    logits = teacher_logits(model, video, audio)
    crit = {"video": model.kd_video_teacher, "audio": model.kd_audio_teacher}
    taus = {"video": final_temperature(x.teacher_temp_video), "audio": final_temperature(x.teacher_temp_audio)}
    out = {}
    for m in ("video", "audio"):
        c = crit[m].center.double().cpu().numpy()
        out[m] = {
            "tau": taus[m],
            "trained": softmax_stats(logits[m], c, taus[m]),
            "common": softmax_stats(logits[m], c, common_tau),
        }
    return out


__all__ = ["final_temperature", "teacher_logits", "softmax_stats", "teacher_sharpness"]
