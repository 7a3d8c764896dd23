"""What every artifact writes and how its claims are summarised: the DESIGN section 6 files (table.csv/md,
metrics.json, fig.png + fig_data.csv, provenance.json) and the verdict block of its table.md. Shared by the
XKD, XDC and real-data report functions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from avlib.report.figures import bar_compare, save_figure
from avlib.report.provenance import write_provenance
from avlib.report.tables import fmt_diff, markdown_table, write_outputs

__all__ = [
    "Result",
    "overall_verdict",
    "claims_block",
    "claims_rows",
    "fmt_ci",
    "fmt_p",
    "rule_text",
    "finish_artifact",
    "finish_bar_table",
]


@dataclass
class Result:
    tidy: pd.DataFrame
    markdown: str
    metrics: dict
    figure: object = None
    claims: list = field(default_factory=list)


def overall_verdict(claims: list) -> tuple[str, dict]:
    """Overall verdict of a table's claims ('supported' / 'contradicted' / 'not resolved' only when all
    agree, else 'mixed') and the counts."""
    counts = pd.Series([c["verdict"] for c in claims]).value_counts().to_dict()
    overall = (
        "supported"
        if counts.get("supports", 0) == len(claims)
        else "contradicted"
        if counts.get("contradicts", 0) == len(claims)
        else "not resolved"
        if counts.get("not resolved", 0) == len(claims)
        else "mixed"
    )
    return overall, counts


def fmt_p(p) -> str:
    """A one-sided p-value: 3 significant digits, '< 0.001' below that, 'n/a' when undefined."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_ci(ci) -> str:
    """A confidence interval ``[lo, hi]`` with signs, 'n/a' when undefined."""
    if ci is None or not all(x is not None and math.isfinite(x) for x in ci):
        return "n/a"
    return f"[{fmt_diff(ci[0])}, {fmt_diff(ci[1])}]"


def rule_text(claims: list) -> str:
    """One sentence saying how the verdicts below were decided (their test, level and sample sizes)."""
    alpha = claims[0].get("alpha", 0.05) if claims else 0.05
    tests = sorted({c.get("test", "?") for c in claims})
    return (
        f"Verdicts: one-sided t-test at level {alpha:g} in each direction ({', '.join(tests)}; paired by seed "
        f"where both sides share their seeds, Welch otherwise). *supports*: the test of the claimed direction "
        f"rejects; *contradicts*: the test of the opposite direction rejects; *not resolved*: neither, at this "
        f"profile's seeds and evaluation sets. CI: the {1 - 2 * alpha:.0%} interval of the difference; "
        f"*detectable*: the true difference found with probability 0.8 (minimum detectable difference)."
    )


def claims_rows(claims: list) -> list[list[str]]:
    """The cells of one claim row: measured diff, CI, p, detectable diff, test (n per side), verdict."""
    rows = []
    for c in claims:
        n = c.get("n", ["?", "?"])
        rows.append(
            [
                fmt_diff(c["diff"]),
                fmt_ci(c.get("ci")),
                fmt_p(c.get("p")),
                fmt_diff(c.get("mdd", float("nan")), sign=False),
                f"{c.get('test', '?')} ({n[0]} vs {n[1]})",
                c["verdict"],
            ]
        )
    return rows


CLAIM_COLUMNS = ["CI", "p (one-sided)", "detectable", "test (n)", "verdict"]


def claims_block(
    statement: str,
    overall: str,
    counts: dict,
    claims: list,
    diff_header: str = "measured diff",
) -> list:
    """Markdown lines: the overall verdict of ``statement``, how verdicts are decided, and one table row per
    claim (measured difference, its CI, p-value, detectable difference, test and verdict)."""
    return [
        f"**Claim** ({statement}): **{overall}** by the measurement "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}).",
        "",
        rule_text(claims),
        "",
        markdown_table(
            ["claim", diff_header, *CLAIM_COLUMNS],
            [[c["claim"], *cells] for c, cells in zip(claims, claims_rows(claims))],
        ),
    ]


def finish_artifact(
    out: Path,
    *,
    tidy: pd.DataFrame,
    md: list,
    metrics: dict,
    claims: list,
    fig,
    fig_data: pd.DataFrame,
    profile: str,
    started: float,
    root,
    extra: dict,
) -> Result:
    """Write an artifact's DESIGN section 6 files: table.csv/md, metrics.json (with the claims and their
    overall verdict), fig.png + fig_data.csv and provenance.json."""
    metrics["claim/overall"] = overall_verdict(claims)[0] if claims else "n/a"
    metrics["claims"] = claims
    write_outputs(out, tidy=tidy, markdown="\n".join(md), metrics=metrics)
    save_figure(fig, Path(out) / "fig.png")
    fig_data.to_csv(Path(out) / "fig_data.csv", index=False)
    write_provenance(out, profile=profile, started=started, root=root, extra=extra)
    return Result(tidy=tidy, markdown="\n".join(md), metrics=metrics, figure=fig, claims=claims)


def finish_bar_table(
    out: Path,
    *,
    tidy: pd.DataFrame,
    md: list,
    metrics: dict,
    claims: list,
    plot: list,
    title: str,
    profile: str,
    started: float,
    root,
    extra: dict,
) -> Result:
    """:func:`finish_artifact` with the grouped-bar figure of ``plot`` (measured vs paper per task)."""
    data = pd.DataFrame(plot)
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=claims,
        fig=bar_compare(data, title=title),
        fig_data=data,
        profile=profile,
        started=started,
        root=root,
        extra=extra,
    )
