"""The page of a reconstruction figure (XKD Fig. 5, MAViL Fig. 3): masked-patch error against the mask ratio per
modality, the claim that the model beats its all-zero baseline at the highlighted ratios, and the picture."""

from __future__ import annotations

import numpy as np
import pandas as pd

from avlib.report.artifact import Result, claims_block, finish_artifact, overall_verdict
from avlib.report.claims import Claim
from avlib.report.figures_models import reconstruction_figure
from avlib.report.tables import by_seed, markdown_table

__all__ = ["reconstruction_artifact"]


def reconstruction_artifact(
    *,
    tidy: pd.DataFrame,
    examples: dict,
    show: dict,
    claim_text: str,
    header: str,
    lead: str,
    statement: str,
    figure_title: str,
    out,
    profile: str,
    started: float,
    root,
    extra: dict,
    artifact_id: str,
) -> Result:
    """Judge, per ``show`` item ``{modality: ratio}``, "error below the all-zero baseline" paired over the runs
    (``claim_text`` formatted with ``modality`` and ``ratio``), tabulate ``tidy`` (rows: run, seed, modality,
    mask_ratio, masked_error, zero_baseline) and write the artifact's files."""
    claims = []
    for modality, ratio in show.items():
        sel = tidy[(tidy.modality == modality) & np.isclose(tidy.mask_ratio, ratio)].sort_values("seed")
        if not len(sel):
            raise ValueError(f"{artifact_id}: {modality} ratio {ratio} is not in the measured ratios")
        claims.append(
            Claim(
                claim_text.format(modality=modality, ratio=ratio),
                modality,
                by_seed(sel, "zero_baseline"),
                by_seed(sel, "masked_error"),
                paired=True,
            ).to_dict()
        )
    overall, counts = overall_verdict(claims)
    piv = (
        tidy.groupby(["modality", "mask_ratio"])
        .agg(mean=("masked_error", "mean"), std=("masked_error", "std"), base=("zero_baseline", "mean"))
        .reset_index()
    )
    md = [
        header,
        "",
        lead,
        "",
        markdown_table(
            ["modality", "mask ratio", "masked-patch error", "all-zero baseline"],
            [
                [
                    r.modality,
                    f"{r.mask_ratio:.0%}",
                    f"{r.mean:.3f} ± {r.std:.3f}" if np.isfinite(r.std) else f"{r.mean:.3f}",
                    f"{r.base:.3f}",
                ]
                for r in piv.itertuples()
            ],
        ),
        "",
        *claims_block(statement, overall, counts, claims, "measured diff (baseline - error)"),
    ]
    metrics = {f"{r.modality}/{r.mask_ratio:.2f}/error": r.mean for r in piv.itertuples()}
    return finish_artifact(
        out,
        tidy=tidy,
        md=md,
        metrics=metrics,
        claims=claims,
        fig=reconstruction_figure(examples, tidy, title=figure_title),
        fig_data=tidy,
        profile=profile,
        started=started,
        root=root,
        extra=extra,
    )
