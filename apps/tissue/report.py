"""report.html of `invert tissue`: sO2 with honest uncertainty for every row, what the data constrain,
per-row posteriors and the flagged rows (docs/tissue.md: the model and its limits).

The page is self-contained (figures embedded), built from the blocks of invert.core.report; every
user string (ids, file names, statuses) is escaped there.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from invert.core.report import (
    UNCONSTRAINED_RATIO,
    bool_column,
    constraint_label,
    escape,
    html_cards,
    html_figure,
    html_kv,
    html_list,
    html_page,
    html_table,
    interval_plot,
    map_plot,
    marginal_plot,
    new_figure,
    pair_plot,
    recoverability_html,
    width_ratio_plot,
)

from .problem import TissueProblem

__all__ = ["tissue_report", "UNCONSTRAINED_RATIO", "constraint_label"]

MAX_PAIR = 5  # parameters in the per-row pair plot
MAX_TABLE_ROWS = 500  # rows listed in the flagged-rows table
TARGET = "sO2"
OOD_LABEL = "out of distribution"
MULTIMODAL_LABEL = "multimodal posterior"
FLAG_COLORS = {OOD_LABEL: "#d9480f", MULTIMODAL_LABEL: "#7048e8"}

ASSUMPTIONS = [
    "Haemoglobin (oxy- and deoxy-) is the only absorber: no melanin, bile, water or fat.",
    "Tissue is a flat, laterally homogeneous slab of 3 layers with air below; sO2 is the same in all layers.",
    "Illumination is normal to the surface and detection diffuse; each camera band is a 10 nm box filter "
    "(a camera with other filter curves needs its own model).",
    "Spectra the model cannot produce (other tissue types, specular highlights, motion blur) should be flagged "
    "out of distribution; treat their sO2 as unreliable rather than as a confident estimate.",
]


def _unit(unit: str) -> str:
    """A unit for display: dimensionless '1' as a dash, '^-1' as a superscript."""
    return "\u2013" if unit in ("", "1") else unit.replace("^-1", "\u207b\u00b9")


def _row_flags(summary: pd.DataFrame) -> np.ndarray:
    """Per row the most important flag: out of distribution, another status, multimodal sO2, or ''."""
    status = summary["status"].astype(str).to_numpy()
    ood = bool_column(summary, "ood")
    flags = np.where(bool_column(summary, f"{TARGET}_multimodal"), MULTIMODAL_LABEL, "").astype(object)
    flags = np.where(status != "ok", status, flags)
    return np.where(ood, OOD_LABEL, flags)


def _header_section(summary: pd.DataFrame, has_post: np.ndarray, model_info: Mapping) -> str:
    status = summary["status"].astype(str)
    cards = html_cards(
        [
            ("rows in the input", len(summary), False),
            ("status ok", int((status == "ok").sum()), False),
            ("rows with a posterior", int(has_post.sum()), False),
            ("flagged (status not ok)", int((status != "ok").sum()), True),
            ("out of distribution", int(bool_column(summary, "ood").sum()), True),
            (f"multimodal {TARGET}", int(bool_column(summary, f"{TARGET}_multimodal").sum()), True),
        ]
    )
    info = {str(k): v for k, v in model_info.items()}
    return cards + html_kv(info) if info else cards


def _overview_section(summary: pd.DataFrame, ids: np.ndarray, flags: np.ndarray, has_post: np.ndarray) -> str:
    col = {k: summary[f"{TARGET}_{k}"].to_numpy(np.float64) for k in ("median", "q16", "q84", "q2.5", "q97.5")}
    fig = interval_plot(
        ids,
        col["median"],
        col["q16"],
        col["q84"],
        col["q2.5"],
        col["q97.5"],
        TARGET,
        flags=flags,
        value_range=(0.0, 1.0),
        colors=FLAG_COLORS,
    )
    text = (
        f"<p>Each input row's {TARGET} posterior: median (dot or line) with the central 68 % interval (thick, dark) "
        "and the 95 % interval (thin, light); with many rows they are sorted by median and drawn as bands. "
        f"Coloured rows are flagged: <b>{OOD_LABEL}</b> (the spectrum is unlike anything the model was trained on; "
        f"do not trust its {TARGET}) or <b>{MULTIMODAL_LABEL}</b> (several {TARGET} values fit the data; "
        "the median can fall between them).</p>"
    )
    if has_post.any():
        width = np.nanmedian(col["q84"][has_post] - col["q16"][has_post])
        text += (
            f"<p>Across the {int(has_post.sum())} rows with a posterior, the median {TARGET} ranges "
            f"{np.nanmin(col['median']):.2f}\u2013{np.nanmax(col['median']):.2f}; the typical (median) width "
            f"of the 68 % interval is {width:.3f}.</p>"
        )
    return text + html_figure(fig, alt=f"{TARGET} estimates with intervals across rows")


def _maps_section(summary: pd.DataFrame, pixel: np.ndarray, flags: np.ndarray) -> str:
    median = summary[f"{TARGET}_median"].to_numpy(np.float64)
    width = summary[f"{TARGET}_q84"].to_numpy(np.float64) - summary[f"{TARGET}_q16"].to_numpy(np.float64)
    marks = flags == OOD_LABEL
    figs = [
        html_figure(
            map_plot(pixel, median, f"median {TARGET}", cmap="viridis", label=TARGET, vmin=0.0, vmax=1.0, marks=marks),
            alt=f"map of median {TARGET}",
        ),
        html_figure(
            map_plot(
                pixel,
                width,
                "width of the 68 % interval",
                cmap="magma_r",
                label=f"{TARGET} interval width",
                vmin=0.0,
                marks=marks,
            ),
            alt=f"map of the {TARGET} uncertainty",
        ),
    ]
    return (
        f'<div class="row">{"".join(figs)}</div>'
        f'<p class="muted">Grey: no estimate (flagged input). \u00d7: out of distribution. '
        f"The uncertainty map shows the width of the central 68 % interval of {TARGET} "
        "(about two standard deviations for a Gaussian posterior).</p>"
    )


def _constraint_section(
    names: Sequence[str], width_ratio: Mapping[str, float], recoverability: pd.DataFrame | None, n_obs: object
) -> str:
    units = dict(zip(TissueProblem.x_names, TissueProblem.x_units))
    bounds = dict(zip(TissueProblem.x_names, TissueProblem.x_bounds))
    ratios = np.array([float(width_ratio.get(p, np.nan)) for p in names])
    table = pd.DataFrame(
        {
            "parameter": list(names),
            "unit": [_unit(units.get(p, "")) for p in names],
            "prior range": [f"{bounds[p][0]:g} \u2013 {bounds[p][1]:g}" if p in bounds else "\u2013" for p in names],
            "width ratio (posterior / prior std)": ratios,
            "what the data say": [constraint_label(r) for r in ratios],
        }
    )
    model = (
        "<h3>What 8 bands can recover</h3>"
        "<p>Each spectrum is normalized, so absolute intensity (illumination, camera gain) cancels and total blood "
        "content trades off against scattering. Which parameters this leaves recoverable was measured for the model "
        "in use:</p>" + recoverability_html(recoverability, n_obs)
    )
    scan = (
        "<h3>What this scan constrains</h3>"
        "<p>For each parameter, the ratio of the posterior's standard deviation to the prior's (median over the rows "
        f"with a posterior). A ratio near 1 means the measurement leaves the prior almost unchanged: above "
        f"{UNCONSTRAINED_RATIO:g} the parameter is <b>not constrained by data</b>, and its reported values "
        "mostly restate the prior.</p>"
    )
    return (
        model
        + scan
        + html_table(table, float_format="{:.2f}")
        + _ratio_figure(names, ratios)
        + "<p><b>Model assumptions</b> behind every estimate:</p>"
        + html_list(ASSUMPTIONS)
    )


def _ratio_figure(names: Sequence[str], ratios: np.ndarray) -> str:
    if not np.isfinite(ratios).any():
        return ""
    return html_figure(width_ratio_plot(names, ratios), alt="posterior to prior width ratio per parameter")


def _pair_names(names: Sequence[str], width_ratio: Mapping[str, float]) -> list[str]:
    """sO2 and the most constrained other parameters with ratio <= UNCONSTRAINED_RATIO, at most MAX_PAIR."""
    others = sorted((float(width_ratio.get(p, np.nan)), p) for p in names if p != TARGET)
    chosen = [p for r, p in others if r <= UNCONSTRAINED_RATIO]
    return ([TARGET] + chosen)[:MAX_PAIR]


def _row_line(row: pd.Series) -> str:
    """sO2 numbers of one row, as text."""

    def g(k: str) -> float:
        return float(row[f"{TARGET}_{k}"])

    text = (
        f"{TARGET} median {g('median'):.3f}, MAP {g('map'):.3f}; 68 % interval [{g('q16'):.3f}, {g('q84'):.3f}], "
        f"95 % interval [{g('q2.5'):.3f}, {g('q97.5'):.3f}]"
    )
    resim = row.get("resim_error", np.nan)
    if resim is not None and np.isfinite(resim):
        text += f"; re-simulation error {float(resim):.3g}"
    return text + "."


def _detail_section(
    summary: pd.DataFrame,
    samples: np.ndarray | None,
    detailed_rows: np.ndarray,
    ids: np.ndarray,
    flags: np.ndarray,
    has_post: np.ndarray,
    names: Sequence[str],
    width_ratio: Mapping[str, float],
    max_detailed: int,
) -> str:
    rows = np.flatnonzero(has_post)
    if rows.size == 0:
        return "<p>No row has a posterior.</p>"
    if samples is None:
        k = min(max_detailed, rows.size)
        cols = [f"{TARGET}_{s}" for s in ("median", "map", "q2.5", "q16", "q84", "q97.5")]
        table = summary.iloc[rows[:k]][cols].copy()
        table.insert(0, "id", ids[rows[:k]])
        return (
            f"<p>Posterior samples were not kept, so only the numbers are shown: first {k} of {rows.size} rows "
            "with a posterior.</p>" + html_table(table)
        )
    index = {p: i for i, p in enumerate(TissueProblem.x_names)}
    bounds = dict(zip(TissueProblem.x_names, TissueProblem.x_bounds))
    pair = _pair_names(names, width_ratio)
    k = min(max_detailed, samples.shape[0])
    parts = [
        f"<p>Showing {k} of {rows.size} rows with a posterior (the first in the input). Left: the {TARGET} "
        f"posterior on its full prior range [0, 1], with the 68 % and 95 % central intervals shaded. "
    ]
    if len(pair) > 1:
        parts.append(
            f"Right: joint posterior of the parameters the data constrain (width ratio \u2264 "
            f"{UNCONSTRAINED_RATIO:g}: {', '.join(pair)}), zoomed to the samples.</p>"
        )
    else:
        parts.append(f"No parameter other than {TARGET} is constrained by the data, so no joint plot is shown.</p>")
    for r, s in zip(detailed_rows[:k], samples[:k]):
        tag = f'<span class="tag">{escape(flags[r])}</span>' if flags[r] else ""
        fig = new_figure(4.8, 2.3)
        marginal_plot(
            fig.subplots(),
            s[:, index[TARGET]],
            bounds[TARGET],
            label=TARGET,
            mode=float(summary.iloc[r][f"{TARGET}_map"]),
            annotate=False,
        )
        figs = html_figure(fig, alt=f"{TARGET} posterior of row {ids[r]}")
        if len(pair) > 1:
            figs += html_figure(
                pair_plot(s[:, [index[p] for p in pair]], pair, [bounds[p] for p in pair]),
                alt=f"joint posterior of row {ids[r]}",
            )
        note = ""
        if flags[r] == MULTIMODAL_LABEL:
            note = (
                f'<p class="note">The {TARGET} posterior has more than one mode: several oxygenations explain this '
                "spectrum. The median can lie between the modes; the MAP is the highest one.</p>"
            )
        elif flags[r] == OOD_LABEL:
            note = (
                '<p class="note">This spectrum is out of distribution: the model was not trained on anything like '
                "it, so its posterior (however narrow) is not reliable.</p>"
            )
        parts.append(
            f'<div class="sample"><h3>{escape(ids[r])}{tag}</h3><p>{escape(_row_line(summary.iloc[r]))}</p>'
            f'{note}<div class="row">{figs}</div></div>'
        )
    return "".join(parts)


def _flagged_section(summary: pd.DataFrame, ids: np.ndarray, flags: np.ndarray) -> str:
    rows = np.flatnonzero(flags != "")
    if rows.size == 0:
        return "<p>No row was flagged.</p>"
    sub = summary.iloc[rows]
    table = pd.DataFrame({"id": ids[rows], "status": sub["status"].astype(str).to_numpy(), "flag": flags[rows]})
    for col, title in (
        ("ood", "OOD"),
        ("ood_score", "OOD score"),
        ("saturated", "saturated"),
        (f"{TARGET}_median", f"{TARGET} median"),
        ("resim_error", "re-simulation error"),
    ):
        if col in sub:
            table[title] = sub[col].to_numpy()
    text = (
        f"<p>{rows.size} row{'s' * (rows.size != 1)} need attention. A status other than <i>ok</i> or <i>ood</i> "
        f"means no posterior was computed (the status gives the reason); out-of-distribution rows have a posterior "
        f"that should not be trusted; multimodal rows have a {TARGET} posterior with more than one mode.</p>"
    )
    return text + html_table(table, max_rows=MAX_TABLE_ROWS)


def tissue_report(
    summary: pd.DataFrame,
    samples: np.ndarray | None,
    ids: Sequence | None,
    pixel: np.ndarray | None,
    width_ratio: Mapping[str, float],
    model_info: Mapping[str, object],
    max_detailed: int = 20,
    recoverability: pd.DataFrame | None = None,
    n_validation: int | None = None,
    detailed_rows: Sequence[int] | None = None,
) -> str:
    """The HTML report of one scan.

    summary: one row per input row: id, status ('ok' or a reason), ood, resim_error, multimodal and the
    columns of invert.core.summaries.summarize for each parameter (NaN for rows without a posterior).
    samples: (k, n_samples, 13) posterior samples of the rows detailed_rows (row numbers of summary; default:
    the first k rows that have a posterior), or None.  ids: row ids (default: summary's id column).  pixel: (n_rows, 2)
    integer row/col
    coordinates, or None (no maps).  width_ratio: posterior std / prior std per parameter (median over
    rows).  model_info: shown as given (the key 'input' names the input file in the subtitle).
    recoverability: the model's table from training time (invert.core.recoverability), measured on
    n_validation held-out simulations; None for models that predate it."""
    ids = np.asarray(list(summary["id"] if ids is None else ids), dtype=object)
    if len(ids) != len(summary):
        raise ValueError(f"{len(ids)} ids for {len(summary)} summary rows")
    names = [p for p in TissueProblem.x_names if f"{p}_median" in summary]
    if TARGET not in names:
        raise ValueError(f"the summary has no {TARGET}_* columns")
    has_post = summary[f"{TARGET}_median"].notna().to_numpy()
    if samples is not None:
        samples = np.asarray(samples)
        if samples.ndim != 3 or samples.shape[0] > has_post.sum() or samples.shape[2] != len(TissueProblem.x_names):
            raise ValueError(f"samples {samples.shape} do not fit the {int(has_post.sum())} rows with a posterior")
        detailed_rows = np.flatnonzero(has_post)[: len(samples)] if detailed_rows is None else np.asarray(detailed_rows)
        if len(detailed_rows) != len(samples) or not has_post[detailed_rows].all():
            raise ValueError(
                f"{len(detailed_rows)} detailed rows for {len(samples)} sample sets, or a row without a "
                "posterior among them"
            )
    flags = _row_flags(summary)
    sections = [
        ("Scan and model", _header_section(summary, has_post, model_info)),
        (f"{TARGET} across rows", _overview_section(summary, ids, flags, has_post)),
    ]
    if pixel is not None:
        pixel = np.asarray(pixel)
        if len(pixel) != len(summary):
            raise ValueError(f"{len(pixel)} pixel coordinates for {len(summary)} summary rows")
        sections.append((f"{TARGET} maps", _maps_section(summary, pixel, flags)))
    sections += [
        ("What the data constrain", _constraint_section(names, width_ratio, recoverability, n_validation)),
        (
            "Per-row posteriors",
            _detail_section(summary, samples, detailed_rows, ids, flags, has_post, names, width_ratio, max_detailed),
        ),
        ("Flagged rows", _flagged_section(summary, ids, flags)),
    ]
    source = model_info.get("input")
    subtitle = " \u00b7 ".join(
        filter(
            None,
            [
                PurePath(str(source)).name if source else "",
                f"{len(summary)} row{'s' * (len(summary) != 1)}",
                f"model {PurePath(str(model_info['model'])).name}" if model_info.get("model") else "",
            ],
        )
    )
    return html_page("Tissue oxygenation (sO2) report", sections, subtitle=subtitle)
