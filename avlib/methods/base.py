"""The method interface: what the training loops, the evaluation and the CLI may ask of a method.

A method is one module ``avlib/methods/<name>.py`` (found by :mod:`avlib.methods.build`, nothing to register)
that defines

* ``CONFIG``: its config dataclass, a :class:`~avlib.config.PretrainConfig` subclass that adds the method's
  own section (``xkd:``, ``xdc:``); the shared loops never read that section;
* ``build(cfg, logmel) -> Method``: the model;
* optionally ``pretrain(cfg, out_dir, *, resume, show_progress) -> summary``: its own training loop (XDC's
  clustering rounds); without it the step runner (:func:`avlib.train.runner.pretrain`) trains the method;
* optionally ``frontend(cfg) -> nn.Module``: its audio front end (``sample_rate``, ``n_frames(n_samples)``,
  ``forward(wave [B, S]) -> [B, 1, ., .]``), used by training, evaluation and fine-tuning alike through
  :func:`avlib.methods.build.logmel_from_config`; without it, XKD's log-mel of ``cfg.audio``;
* optionally ``view_config(cfg) -> avlib.data.views.ViewConfig``: its training and evaluation view recipe
  (:func:`avlib.methods.build.views_config`); without it, ``cfg.views`` with XKD's augmentation defaults.

The step runner drives a :class:`Method` through four calls per run and step, so that nothing in the loop
knows a method by name::

    model.setup(total_steps, iters_per_epoch)     # once: per-step schedules (EMA momentum, temperatures)
    out = model(views, model.step_inputs(step), generator)   # {"loss": Tensor, "logs": {name: 0-d Tensor}}
    clip_gradients(model.parameters_to_clip(), ...)          # the set the method's recipe clips
    model.after_step(step)                        # after the optimiser step (EMA teachers)

Evaluation asks only ``encoder_for_eval(modality, which)``; the runner checks ``use_video`` / ``use_audio``
against the cache.
"""

from __future__ import annotations

from torch import nn

__all__ = ["Method"]


class Method(nn.Module):
    """Base class of the methods: defaults for a method without schedules, hooks or teachers."""

    #: the modalities the method's forward reads (an audio-only cache can train a method without video)
    use_video: bool = True
    use_audio: bool = True

    def setup(self, total_steps: int, iters_per_epoch: int) -> None:
        """Called once by the step runner before the first step (and again on resume, with the same values)."""

    def step_inputs(self, step: int) -> dict:
        """This step's scheduled values, passed to ``forward`` (XKD: the teacher temperatures)."""
        return {}

    def schedule_logs(self, step: int) -> dict:
        """Scheduled values logged to ``metrics.jsonl`` at logging steps (XKD: ``ema``)."""
        return {}

    def after_step(self, step: int) -> None:
        """Called after the optimiser step (XKD: the EMA update of the teachers)."""

    def parameters_to_clip(self) -> list[nn.Parameter]:
        """The parameters gradient clipping applies to (``optim.clip_mode: per_param_students``); default: all
        trainable ones."""
        return [p for p in self.parameters() if p.requires_grad]

    def encoder_for_eval(self, modality: str, which: str = "teacher") -> nn.Module:  # pragma: no cover - abstract
        """The frozen encoder of ``modality`` that downstream evaluation probes (``which``: teacher or student)."""
        raise NotImplementedError(f"{type(self).__name__} must define encoder_for_eval")
