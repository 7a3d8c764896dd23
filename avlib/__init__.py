"""avlib: audio-visual self-supervised learning (XKD, MAViL, XDC, C2KD), reproducible end to end.

Public API kept stable for notebooks and users (DESIGN section 8):
``avlib.losses.mmd``, ``avlib.losses.info_nce``, ``avlib.cluster.kmeans``, ``avlib.eval.linear_svm``.
"""

__version__ = "0.1.0"
