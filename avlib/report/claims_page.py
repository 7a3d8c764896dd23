"""The page a reader opens first: every directional claim of a paper, one row each, gathered from the
``metrics.json`` of the artifacts that check them (``xkd_claims``, ``xdc_claims``)."""

from __future__ import annotations

import json
import time

import pandas as pd

from avlib.paths import resolve
from avlib.profiles import active_profile_name
from avlib.report.artifact import Result, overall_verdict
from avlib.report.figures import save_figure
from avlib.report.provenance import write_provenance
from avlib.report.tables import fmt_diff, markdown_table, write_outputs

__all__ = ["run_claims_page"]


def run_claims_page(
    *,
    sources: dict,
    results_dir: str = "results",
    out_dir: str = "results/xkd_claims",
    artifact_id: str = "xkd_claims",
    paper: str = "XKD",
    citation: str = "Sarkar & Etemad (AAAI'24)",
    root: str | None = None,
) -> Result:
    """The page a reader looks at first: every directional claim checked by a paper's artifacts, one row each.

    ``sources`` maps an artifact id to the paper statement it checks; each artifact's ``metrics.json``
    holds its ``claims`` (claim, diff, spread, verdict) and ``claim/overall``. ``paper`` and ``citation``
    name the paper (XKD by default; XDC: ``"XDC"``, ``"Alwassel et al. (NeurIPS'20)"``)."""
    t0 = time.time()
    res_dir, out = resolve(results_dir, root), resolve(out_dir, root)
    profile = active_profile_name(root)
    rows, overall, overall_by_artifact = [], [], {}
    for aid, statement in sources.items():
        path = res_dir / aid / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{artifact_id}: missing {path}: run `dvc repro {aid}`")
        m = json.loads(path.read_text())
        if "claims" not in m:
            raise KeyError(f"{artifact_id}: {path} has no 'claims' list")
        for c in m["claims"]:
            rows.append(
                {
                    "artifact": aid,
                    "statement": statement,
                    "claim": c["claim"],
                    "diff": c["diff"],
                    "spread": c["spread"],
                    "verdict": c["verdict"],
                }
            )
        overall_by_artifact[aid] = m.get("claim/overall", "n/a")
        per_verdict = overall_verdict(m["claims"])[1]
        overall.append(
            [
                f"`{aid}`",
                statement,
                overall_by_artifact[aid],
                ", ".join(f"{k}: {v}" for k, v in sorted(per_verdict.items())),
            ]
        )
    tidy = pd.DataFrame(rows)
    counts = tidy.verdict.value_counts().to_dict()
    md = [
        f"# {paper}: the paper's claims checked against the measurement (profile `{profile}`)",
        "",
        f"Each row is a directional claim of {citation} tested by one artifact of this project. "
        "*supports*: the measured difference has the claimed sign and exceeds its spread over seeds; "
        "*contradicts*: the opposite sign beyond the spread; *cannot resolve*: within the spread. "
        f"Totals: {', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}.",
        "",
        markdown_table(["artifact", "paper statement", "overall", "verdicts"], overall),
        "",
        markdown_table(
            ["artifact", "claim", "measured diff", "spread", "verdict"],
            [
                [f"`{r.artifact}`", r.claim, fmt_diff(r.diff), fmt_diff(r.spread, sign=False), r.verdict]
                for r in tidy.itertuples()
            ],
        ),
    ]
    metrics = {"counts": counts, "overall": overall_by_artifact}
    write_outputs(out, tidy=tidy, markdown="\n".join(md), metrics=metrics)
    from avlib.report.figures import claims_forest

    fig = claims_forest(tidy, title=f"{paper} claims (profile {profile}): measured difference per claim")
    save_figure(fig, out / "fig.png")
    tidy.to_csv(out / "fig_data.csv", index=False)
    write_provenance(out, profile=profile, started=t0, root=root, extra={"artifact": artifact_id, "sources": sources})
    return Result(tidy=tidy, markdown="\n".join(md), metrics=metrics, figure=fig, claims=rows)
