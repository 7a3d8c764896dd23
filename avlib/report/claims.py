"""A paper's directional claim, measured, and the one place where its verdict is decided.

Every artifact that checks a claim builds a :class:`Claim` (``diff``: the claimed-better side minus the other,
so a positive value is in the claim's direction; ``spread``: the standard error of ``diff`` over seeds) and
reads its verdict from :meth:`Claim.judge`. Changing how verdicts are decided (a calibrated test, issue 16)
changes this module only; ``tests/test_report.py`` pins the current rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Claim", "VERDICTS"]

VERDICTS = ("supports", "contradicts", "cannot resolve")


@dataclass(frozen=True)
class Claim:
    """``text`` (the claim as the paper states it), the ``task`` it is measured on, ``diff`` and ``spread``."""

    text: str
    task: str | None
    diff: float
    spread: float

    def judge(self) -> str:
        """'supports' when ``diff`` is positive and larger than ``spread``, 'contradicts' when negative beyond
        it, otherwise (or when either is not finite) 'cannot resolve'.

        This is the rule the committed pages were rendered with; it is not a calibrated test (two seeds per
        side give a verdict under the null about 42 % of the time, issue 16)."""
        d, s = float(self.diff), float(self.spread)
        if not (math.isfinite(d) and math.isfinite(s)):
            return "cannot resolve"
        if d > s and d > 0:
            return "supports"
        if d < -s and d < 0:
            return "contradicts"
        return "cannot resolve"

    def to_dict(self) -> dict:
        """The row the artifacts write: ``claim``, ``task``, ``diff``, ``spread``, ``verdict``."""
        return {
            "claim": self.text,
            "task": self.task,
            "diff": self.diff,
            "spread": self.spread,
            "verdict": self.judge(),
        }
