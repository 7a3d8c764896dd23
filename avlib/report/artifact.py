"""What every artifact writes and how its claims are summarised: the DESIGN section 6 files (table.csv/md,
metrics.json, fig.png + fig_data.csv, provenance.json) and the verdict block of its table.md. Shared by the
XKD, XDC and real-data report functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from avlib.report.figures import bar_compare, save_figure
from avlib.report.provenance import write_provenance
from avlib.report.tables import fmt_diff, markdown_table, write_outputs

__all__ = ["Result", "overall_verdict", "claims_block", "finish_artifact", "finish_bar_table"]


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
        if counts.get("cannot resolve", 0) == len(claims)
        else "mixed"
    )
    return overall, counts


def claims_block(
    statement: str,
    overall: str,
    counts: dict,
    claims: list,
    diff_header: str = "measured diff",
    spread_header: str = "spread (SE over seeds)",
) -> list:
    """Markdown lines: the overall verdict of ``statement`` and one table row per claim."""
    return [
        f"**Claim** ({statement}): **{overall}** by the measurement "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}).",
        "",
        markdown_table(
            ["claim", diff_header, spread_header, "verdict"],
            [[c["claim"], fmt_diff(c["diff"]), fmt_diff(c["spread"], sign=False), c["verdict"]] for c in claims],
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
