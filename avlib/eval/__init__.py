"""Evaluation protocols: linear SVM with a C sweep, FC probe, metrics, frozen features."""

from avlib.eval.metrics import mean_average_precision, top1
from avlib.eval.probe import fc_probe
from avlib.eval.svm import linear_svm

__all__ = ["linear_svm", "fc_probe", "mean_average_precision", "top1"]
