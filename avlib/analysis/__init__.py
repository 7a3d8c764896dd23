"""Inspecting trained models. XKD: teacher output distributions (Fig. 2), masked reconstructions (Fig. 5,
Figs. S8-S12) and last-layer attention with and without refine (Fig. 3). XDC (:mod:`avlib.analysis.xdc`): the
learned clusters (Tables 5/6) and first-layer filters (Fig. 2).

Each function takes a model from :func:`avlib.eval.protocol.load_pretrained` and tensors from
:func:`avlib.analysis.inputs.paired_clips`, and returns NumPy arrays and numbers; drawing is in
``avlib.report``."""
