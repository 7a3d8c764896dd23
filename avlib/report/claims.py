"""A paper's directional claim, measured, and the one place where its verdict is decided.

Every artifact that checks a claim builds a :class:`Claim` from the measurements of the two sides (the
claimed-better side and the other, one value per seed, or per clip for within-run analyses) and reads its
verdict from :meth:`Claim.judge`. The verdict is a **one-sided t-test at level** ``alpha`` (0.05 by default)
in each direction:

* **paired** over seeds when both sides were measured on the same seeds (the configurations share the seed,
  so the same initialisation, data order and evaluation clips: common random numbers), with ``n - 1``
  degrees of freedom;
* **Welch** otherwise, with the Welch-Satterthwaite degrees of freedom.

"supports" when the test of ``diff > 0`` rejects at ``alpha``, "contradicts" when the test of ``diff < 0``
rejects at ``alpha``, otherwise "not resolved" (at this profile's seeds and evaluation sets). Each judgement
also reports the difference, its ``1 - 2 alpha`` confidence interval (its lower bound is above 0 exactly when
the verdict is "supports"), the one-sided p-value, and the **minimum detectable difference**: the true
difference this test detects with probability ``power`` (0.8) at ``alpha``, ``(t_{1-alpha} + t_{power}) * SE``.

Under the null the false "supports" rate is at most ``alpha`` (``tests/test_claims.py`` simulates it and
checks the p-values against SciPy); :func:`null_rates` simulates the rule for the sample sizes of a page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = ["ALPHA", "POWER", "VERDICTS", "Claim", "Judgement", "null_rates", "t_test"]

ALPHA = 0.05
POWER = 0.8
VERDICTS = ("supports", "contradicts", "not resolved")


def _as_samples(values) -> tuple[tuple | None, np.ndarray]:
    """(keys or None, finite float64 values); a mapping keeps its keys (seeds) so the sides can be paired."""
    if isinstance(values, Mapping):
        items = [(k, float(v)) for k, v in values.items() if v is not None and math.isfinite(float(v))]
        items.sort(key=lambda kv: str(kv[0]))
        return tuple(k for k, _ in items), np.asarray([v for _, v in items], dtype=np.float64)
    v = np.asarray([float(x) for x in values if x is not None and math.isfinite(float(x))], dtype=np.float64)
    return None, v


def t_test(a: np.ndarray, b: np.ndarray, paired: bool, alpha: float = ALPHA, power: float = POWER) -> dict:
    """The statistics of the one-sided tests of ``mean(a) - mean(b)``, vectorised over leading axes.

    ``a`` and ``b`` hold samples on their last axis (equal lengths when ``paired``). Returns arrays ``diff``,
    ``se``, ``df``, ``t``, ``p_greater`` (p of H1: diff > 0), ``p_less``, ``ci_low``/``ci_high`` (the
    ``1 - 2 alpha`` interval) and ``mdd``. Degenerate cases: fewer than 2 samples (a side, or pairs) gives NaN
    statistics; a zero standard error with a non-zero difference gives p = 0 in its direction."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if paired:
        if a.shape[-1] != b.shape[-1]:
            raise ValueError(f"a paired test needs as many values on both sides, got {a.shape[-1]} and {b.shape[-1]}")
        d = a - b
        n = d.shape[-1]
        diff = d.mean(-1)
        if n < 2:
            nan = np.full(diff.shape, np.nan)
            se, df = nan, nan
        else:
            se = d.std(-1, ddof=1) / math.sqrt(n)
            df = np.full(diff.shape, float(n - 1))
    else:
        na, nb = a.shape[-1], b.shape[-1]
        diff = a.mean(-1) - b.mean(-1) if na and nb else np.full(a.shape[:-1], np.nan)
        if na < 2 or nb < 2:
            nan = np.full(np.shape(diff), np.nan)
            se, df = nan, nan
        else:
            va, vb = a.var(-1, ddof=1) / na, b.var(-1, ddof=1) / nb
            se = np.sqrt(va + vb)
            with np.errstate(invalid="ignore", divide="ignore"):
                df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
            # one side without spread: the other side's n - 1 (the formula's limit); both: no degrees of freedom
            df = np.where(np.isfinite(df), df, np.where(va + vb > 0, np.maximum(na, nb) - 1.0, np.nan))
    diff, se, df = np.broadcast_arrays(np.asarray(diff, float), np.asarray(se, float), np.asarray(df, float))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = diff / se
        t = np.where(se == 0, np.sign(diff) * np.inf, t)
        dof = np.where(np.isfinite(df), df, 1.0)  # placeholder where undefined; masked to NaN below
        p_greater = np.where(np.isfinite(df) | (se == 0), stats.t.sf(t, dof), np.nan)
        p_less = np.where(np.isfinite(df) | (se == 0), stats.t.cdf(t, dof), np.nan)
        zero = (se == 0) & (diff == 0)
        p_greater, p_less = np.where(zero, 0.5, p_greater), np.where(zero, 0.5, p_less)
        crit = np.where(np.isfinite(df), stats.t.ppf(1 - alpha, dof), np.nan)
        ci_low, ci_high = diff - crit * se, diff + crit * se
        mdd = (crit + np.where(np.isfinite(df), stats.t.ppf(power, dof), np.nan)) * se
    undefined = ~np.isfinite(se)
    for arr in (p_greater, p_less):
        arr[undefined] = np.nan
    return {
        "diff": diff,
        "se": se,
        "df": df,
        "t": t,
        "p_greater": p_greater,
        "p_less": p_less,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "mdd": mdd,
    }


def _verdict(p_greater: float, p_less: float, alpha: float) -> str:
    if math.isfinite(p_greater) and p_greater < alpha:
        return "supports"
    if math.isfinite(p_less) and p_less < alpha:
        return "contradicts"
    return "not resolved"


@dataclass(frozen=True)
class Judgement:
    """What :meth:`Claim.judge_full` reports: the test, its statistics and the verdict."""

    verdict: str
    test: str
    n_better: int
    n_other: int
    diff: float
    se: float
    df: float
    p: float
    ci_low: float
    ci_high: float
    mdd: float
    alpha: float


@dataclass(frozen=True)
class Claim:
    """``text`` (the claim as the paper states it), the ``task`` it is measured on, and the measurements of the
    claimed-better side (``better``) and of the other side (``other``).

    Each side is a mapping seed -> value (pairable) or a sequence (never paired); non-finite values are
    dropped. ``paired``: ``None`` (default) pairs exactly when both sides are mappings over the same seeds,
    ``True`` requires that (ValueError otherwise), ``False`` forces Welch."""

    text: str
    task: str | None
    better: Mapping | list = field(repr=False)
    other: Mapping | list = field(repr=False)
    paired: bool | None = None
    alpha: float = ALPHA
    power: float = POWER

    def __post_init__(self):
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"claim {self.text!r}: alpha must be in (0, 0.5), got {self.alpha}")
        if not 0 < self.power < 1:
            raise ValueError(f"claim {self.text!r}: power must be in (0, 1), got {self.power}")

    def _sides(self) -> tuple[np.ndarray, np.ndarray, bool]:
        ka, a = _as_samples(self.better)
        kb, b = _as_samples(self.other)
        same_seeds = ka is not None and kb is not None and ka == kb
        if self.paired and not same_seeds:
            raise ValueError(
                f"claim {self.text!r}: paired=True needs both sides measured on the same seeds, got {ka} and {kb}"
            )
        return a, b, same_seeds if self.paired is None else bool(self.paired)

    def judge_full(self) -> Judgement:
        """The one-sided tests (module docstring) and their verdict."""
        a, b, paired = self._sides()
        s = {k: float(v) for k, v in t_test(a, b, paired, self.alpha, self.power).items()}
        verdict = _verdict(s["p_greater"], s["p_less"], self.alpha)
        p = s["p_less"] if verdict == "contradicts" else s["p_greater"]
        return Judgement(
            verdict=verdict,
            test="paired t" if paired else "Welch t",
            n_better=len(a),
            n_other=len(b),
            diff=s["diff"],
            se=s["se"],
            df=s["df"],
            p=p,
            ci_low=s["ci_low"],
            ci_high=s["ci_high"],
            mdd=s["mdd"],
            alpha=self.alpha,
        )

    def judge(self) -> str:
        """'supports', 'contradicts' or 'not resolved' (see the module docstring)."""
        return self.judge_full().verdict

    def to_dict(self) -> dict:
        """The row the artifacts write: ``claim``, ``task``, ``diff``, ``spread`` (its standard error), ``ci``,
        ``p`` (one-sided, in the verdict's direction; the 'supports' direction when not resolved), ``mdd``,
        ``df``, ``test``, ``n`` (per side), ``alpha`` and ``verdict``."""
        j = self.judge_full()
        return {
            "claim": self.text,
            "task": self.task,
            "diff": j.diff,
            "spread": j.se,
            "ci": [j.ci_low, j.ci_high],
            "p": j.p,
            "mdd": j.mdd,
            "df": j.df,
            "test": j.test,
            "n": [j.n_better, j.n_other],
            "alpha": j.alpha,
            "verdict": j.verdict,
        }


def null_rates(
    n_better: int, n_other: int, paired: bool, alpha: float = ALPHA, n_sim: int = 20000, seed: int = 0
) -> dict:
    """The rule's verdict rates under the null (both sides drawn from one normal distribution) for these
    sample sizes, by simulation: ``supports``, ``contradicts`` (each at most ``alpha`` up to Monte Carlo
    error) and their Monte Carlo standard error ``mc_se``. Uses :func:`t_test`, the statistics
    :meth:`Claim.judge` decides on."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_sim, n_better))
    b = rng.standard_normal((n_sim, n_other))
    s = t_test(a, b, paired, alpha)
    sup = float(np.mean(s["p_greater"] < alpha))
    con = float(np.mean((s["p_less"] < alpha) & ~(s["p_greater"] < alpha)))
    return {
        "supports": sup,
        "contradicts": con,
        "mc_se": math.sqrt(alpha * (1 - alpha) / n_sim),
        "n_sim": n_sim,
        "n": [n_better, n_other],
        "test": "paired t" if paired else "Welch t",
        "alpha": alpha,
    }
