"""The domain-free kit the apps build their report pages from (see apps/tissue/report.py and apps/stars/report.py).
It holds the pieces both reports share beyond pages and plots: flag columns of a summary table as booleans
(`bool_column`) and the model's recoverability table with its verdicts in words (`recoverability_html`).  For the
apps' convenience it also gathers, under one import, the HTML blocks and the page (invert.core.pages), the plots and
the figure style (invert.core.plots) and the words for a width ratio (invert.core.recoverability).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .diagnostics import OOD_QUANTILE
from .pages import counted, escape, html_cards, html_figure, html_footer, html_kv, html_list, html_page, html_table
from .plots import (
    BLUE,
    DARK,
    DPI,
    FLAG_COLORS,
    GRAY,
    figure_to_data_uri,
    figure_to_png,
    interval_plot,
    map_plot,
    marginal_plot,
    new_figure,
    pair_plot,
    plot_text,
    style,
    width_ratio_plot,
)
from .recoverability import NOT_RECOVERABLE, RECOVERABLE, UNCONSTRAINED_RATIO, WELL_CONSTRAINED_RATIO, constraint_label

__all__ = [
    "bool_column",
    "ood_threshold",
    "recoverability_html",
    # gathered from invert.core.pages
    "escape",
    "counted",
    "html_table",
    "html_kv",
    "html_cards",
    "html_list",
    "html_figure",
    "html_footer",
    "html_page",
    # gathered from invert.core.plots
    "DPI",
    "BLUE",
    "DARK",
    "GRAY",
    "FLAG_COLORS",
    "plot_text",
    "style",
    "new_figure",
    "figure_to_png",
    "figure_to_data_uri",
    "marginal_plot",
    "pair_plot",
    "interval_plot",
    "map_plot",
    "width_ratio_plot",
    # gathered from invert.core.recoverability
    "constraint_label",
    "UNCONSTRAINED_RATIO",
    "WELL_CONSTRAINED_RATIO",
]


def bool_column(table: pd.DataFrame, column: str) -> np.ndarray:
    """A flag column as booleans (missing column or cell: False)."""
    if column not in table:
        return np.zeros(len(table), bool)
    return table[column].astype(object).where(table[column].notna(), False).to_numpy(bool)


def recoverability_html(
    table: pd.DataFrame | None, n_obs: int | None = None, labels: Mapping[str, str] | None = None
) -> str:
    """The model's recoverability table (measured at training time) with its verdicts in words."""
    if table is None:
        return (
            '<p class="muted">This model was trained before recoverability was recorded; retrain it to see which '
            "parameters the measurements can recover.</p>"
        )
    labels = labels or {}
    named = table.rename(index=lambda p: labels.get(p, p))
    text = (
        f"<p>What this model recovers over the whole prior, measured on {n_obs or 'held-out'} simulations held "
        "out when it was trained: <b>contraction</b> = 1 − posterior variance / prior variance (0: the "
        "measurement leaves the prior unchanged, 1: exact) and <b>corr</b>, the correlation of the posterior "
        f"medians with the true values. Recoverable: contraction ≥ {RECOVERABLE['contraction']:g} and corr ≥ "
        f"{RECOVERABLE['corr']:g}; not recoverable: contraction &lt; {NOT_RECOVERABLE['contraction']:g} or "
        f"corr &lt; {NOT_RECOVERABLE['corr']:g}.</p>"
    )
    verdicts = [
        (v, [str(p) for p in named.index[named["verdict"] == v]]) for v in ("recoverable", "partly", "not recoverable")
    ]
    lines = [f"<b>{v}</b>: {escape(', '.join(ps))}" for v, ps in verdicts if ps]
    text += '<p class="note">' + "<br>".join(lines) + "</p>"
    return text + html_table(named.reset_index(), float_format="{:.2f}")


def ood_threshold(thresholds: Mapping[str, float]) -> tuple[str, float]:
    """The out-of-distribution threshold of a report as words ("6.60, the model's threshold") and its quantile of the
    training scores (thresholds: 'ood' and 'ood_quantile'; the quantile defaults to OODScorer.fit's)."""
    quantile = float(thresholds.get("ood_quantile", OOD_QUANTILE))
    if "ood" in thresholds:
        return f"{float(thresholds['ood']):.2f}, the model's threshold", quantile
    return "the model's threshold (not passed to this report)", quantile
