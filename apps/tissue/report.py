"""report.html of `invert tissue`: sO2 with honest uncertainty for every row, what each parameter means, what
the data constrain, per-row posteriors and the flagged rows, each check beside its threshold (docs/tissue.md: the
model and its limits).

sO2 is shown in percent throughout the page, as clinicians read it; summary.csv (and the .npy maps) keep the
fraction 0-1.  The page is self-contained (figures embedded), built from the blocks of invert.core.report; every
user string (ids, file names, statuses) is escaped there.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from invert.core.report import (
    UNCONSTRAINED_RATIO,
    bool_column,
    constraint_label,
    counted,
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
    ood_threshold,
    pair_plot,
    recoverability_html,
    width_ratio_plot,
)

from .camera import add_noise, preprocess_reflectance
from .problem import TissueProblem

__all__ = [
    "tissue_report",
    "report_thresholds",
    "resim_noise_level",
    "noise_distance",
    "UNCONSTRAINED_RATIO",
    "constraint_label",
]

MAX_PAIR = 5  # parameters in the per-row pair plot
MAX_TABLE_ROWS = 500  # rows listed in the flagged-rows table
TARGET = "sO2"
PERCENT = 100.0  # sO2 is shown in %, stored as a fraction
TARGET_LABEL = f"{TARGET} (%)"
PP = "percentage points"  # unit of a width of an sO2 interval in %
DOCS = "docs/tissue.md in the invert repository"
DEFAULT_BANDS = 8  # the default camera's, for reports made without a model's thresholds
# Median Euclidean distance between noisy and noise-free features y at SNR 1 for the default camera: noise alone moves
# y by about NOISE_DISTANCE / SNR (measured on 256 prior spectra x 8 noise draws at SNR 5, 10, 20 and 40:
# 0.357-0.369 / SNR; linear in 1 / SNR for small noise). A model's own camera is measured by `noise_distance`.
NOISE_DISTANCE = 0.36
NOISE_SPECTRA, NOISE_DRAWS = 16, 8  # prior spectra and noise draws per spectrum behind noise_distance
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


# what each parameter means (docs/tissue.md, section 1); units from TissueProblem.x_units
MEANINGS = {
    "sO2": "blood oxygen saturation, HbO2 / (HbO2 + Hb): the fraction of haemoglobin that carries oxygen, the same "
    "in all three layers",
    "vhb": "blood volume fraction of {layer}: the fraction of the layer's volume that is blood",
    "amie": "Mie scattering amplitude a_mie of {layer}: its reduced scattering coefficient \u03bcs' at 500 nm; "
    "\u03bcs'(\u03bb) = a_mie \u00b7 (\u03bb / 500 nm)^\u22121.286",
    "g": "scattering anisotropy of {layer}: the mean cosine of the scattering angle (Henyey-Greenstein phase "
    "function); 0 scatters evenly in all directions, near 1 mostly forward",
    "d": "thickness of {layer}",
}
LAYERS = {"1": "the top layer, facing the camera", "2": "the middle layer", "3": "the bottom layer"}


def resim_noise_level(snr: float) -> float:
    """The typical re-simulation error that noise alone gives with the default camera at an SNR per band: the median
    distance between noisy and noise-free features y (NOISE_DISTANCE / snr)."""
    return NOISE_DISTANCE / float(snr)


def noise_distance(problem: TissueProblem, seed: int = 0) -> tuple[float, float, float]:
    """Median and 5 / 95 % quantiles of the distance between noisy and noise-free features y that the camera's noise
    alone gives, over NOISE_SPECTRA prior spectra x NOISE_DRAWS noise draws (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    r = problem.reflectance(problem.sample_prior(NOISE_SPECTRA, generator)).repeat(NOISE_DRAWS, 1)
    clean = preprocess_reflectance(r)
    noisy = preprocess_reflectance(add_noise(r, torch.tensor(problem.camera.snr), generator))
    d = torch.linalg.vector_norm(noisy - clean, dim=-1).numpy()
    return tuple(float(v) for v in np.quantile(d, [0.5, 0.05, 0.95]))


def report_thresholds(post: object, problem: TissueProblem) -> dict[str, float]:
    """What the report compares its checks with, for tissue_report(thresholds=...): the OOD score threshold of the
    model and its quantile of the training scores (when the model has an OOD scorer), the re-simulation error of
    noise alone with the model's camera (median, 5 and 95 %), and the camera's number of bands."""
    median, low, high = noise_distance(problem)
    found = {"resim_noise": median, "resim_noise_q05": low, "resim_noise_q95": high, "bands": len(problem.y_names)}
    ood = getattr(post, "ood", None)
    if ood is not None:
        found |= {"ood": float(ood.threshold), "ood_quantile": float(ood.quantile)}
    return found


def _pct(values: np.ndarray | float) -> np.ndarray | float:
    """sO2 fractions as percent."""
    return values * PERCENT


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


def _ood_rule(thresholds: Mapping[str, float]) -> str:
    """How a row comes to be flagged out of distribution, with the model's threshold."""
    level, quantile = ood_threshold(thresholds)
    return (
        "the OOD score of the row's spectrum (its Mahalanobis distance from the training spectra, in whitened "
        f"feature space) is above {level}: the {quantile * 100:.1f} % quantile of the scores of the training "
        f"spectra, so about {(1 - quantile) * 100:.1f} % of spectra like the training data are flagged by chance"
    )


def _resim_rule(thresholds: Mapping[str, float], n_resim: object) -> str:
    """What the re-simulation error measures and the noise level to read it against."""
    draws = f"{n_resim} posterior draws" if n_resim else "the first posterior draws (8 by default)"
    bands = int(thresholds.get("bands", DEFAULT_BANDS))
    if "resim_noise" in thresholds:
        noise = float(thresholds["resim_noise"])
        spread = (
            f"; 90 % of them between {thresholds['resim_noise_q05']:.3f} and {thresholds['resim_noise_q95']:.3f}"
            if "resim_noise_q05" in thresholds
            else ""
        )
        level = (
            f"noise alone moves the features of a spectrum by about {noise:.3f} with this model's camera "
            f"(median over simulated spectra{spread})"
        )
    else:
        noise = resim_noise_level(10.0)
        level = f"with the default camera (SNR 10 per band) noise alone moves them by about {noise:.3f}"
    return (
        f"the mean, over {draws}, of the Euclidean distance between the noise-free features the model computes "
        f"for a draw and the row's measured features. The features are the {bands} band values normalized to a unit "
        f"vector (docs/tissue.md, section 5), so the distance is dimensionless, between 0 and 2; {level}. A posterior "
        "that explains the spectrum gives values of about that size; values several times larger mean the model "
        "does not reproduce the spectrum, whether or not the row is flagged. The re-simulation error sets no "
        "flag: there is no threshold."
    )


def _resim_note(thresholds: Mapping[str, float]) -> str:
    """The noise level beside a re-simulation error, or ''."""
    return f"noise alone \u2248 {float(thresholds['resim_noise']):.3f}" if "resim_noise" in thresholds else ""


def _header_section(
    summary: pd.DataFrame, has_post: np.ndarray, model_info: Mapping, thresholds: Mapping[str, float]
) -> str:
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
    checks = (
        "<p><b>Checks behind the flags.</b> A row is <b>out of distribution</b> when "
        + escape(_ood_rule(thresholds))
        + ". The <b>re-simulation error</b> is "
        + escape(_resim_rule(thresholds, model_info.get("re-simulated samples per row")))
        + "</p>"
    )
    resim = summary["resim_error"].to_numpy(np.float64) if "resim_error" in summary else np.array([])
    resim = resim[np.isfinite(resim)]
    if resim.size:
        checks += (
            f"<p>In this scan the re-simulation error of the {resim.size:,} re-simulated rows is "
            f"{np.median(resim):.3f} (median), "
            f"{resim.min():.3f} to {resim.max():.3f}"
            + (f"; noise alone \u2248 {float(thresholds['resim_noise']):.3f}" if "resim_noise" in thresholds else "")
            + ".</p>"
        )
    return cards + (html_kv(info) if info else "") + checks


def _glossary_section(names: Sequence[str]) -> str:
    """Every parameter with its unit and meaning (docs/tissue.md)."""
    units = dict(zip(TissueProblem.x_names, TissueProblem.x_units))
    rows = []
    for p in names:
        layered = re.fullmatch(r"(vhb|amie|g|d)(\d+)", p)
        if layered:
            stem, k = layered.groups()
            meaning = MEANINGS[stem].format(layer=f"layer {k} ({LAYERS[k]})" if k in LAYERS else f"layer {k}")
        else:
            meaning = MEANINGS.get(p, "")
        unit = units.get(p, "")
        if p == TARGET:
            unit = "% in this report (a fraction 0\u20131 in summary.csv)"
        elif unit in ("", "1"):
            unit = "1 (dimensionless)"
        else:
            unit = _unit(unit)
        rows.append((p, unit, meaning))
    table = pd.DataFrame(rows, columns=["parameter", "unit", "meaning"])
    return (
        f"<p>The model infers {len(names)} parameters of a flat slab of three tissue layers. Layer 1 is the top "
        "layer (facing the camera), layer 3 the bottom one; parameter names end in their layer's number. sO2 is one "
        "value for "
        f"all layers and the parameter of interest. The model, its priors and its limits are described in {DOCS} "
        "(sections 1 and 2).</p>" + html_table(table)
    )


def _overview_section(summary: pd.DataFrame, ids: np.ndarray, flags: np.ndarray, has_post: np.ndarray) -> str:
    col = {k: _pct(summary[f"{TARGET}_{k}"].to_numpy(np.float64)) for k in ("median", "q16", "q84", "q2.5", "q97.5")}
    fig = interval_plot(
        ids,
        col["median"],
        col["q16"],
        col["q84"],
        col["q2.5"],
        col["q97.5"],
        TARGET_LABEL,
        flags=flags,
        value_range=(0.0, PERCENT),
        colors=FLAG_COLORS,
    )
    text = (
        f"<p>Each input row's {TARGET} posterior, in %: median (dot or line) with the central 68 % interval "
        "(thick, dark) and the 95 % interval (thin, light); with many rows they are sorted by median and drawn as "
        "bands. "
        f"Coloured rows are flagged: <b>{OOD_LABEL}</b> (the spectrum is unlike anything the model was trained on; "
        f"do not trust its {TARGET}) or <b>{MULTIMODAL_LABEL}</b> (several {TARGET} values fit the data; "
        "the median can fall between them).</p>"
    )
    if has_post.any():
        width = np.nanmedian(col["q84"][has_post] - col["q16"][has_post])
        text += (
            f"<p>Across the {counted(int(has_post.sum()), 'row')} with a posterior, the median {TARGET} ranges from "
            f"{np.nanmin(col['median']):.0f} % to {np.nanmax(col['median']):.0f} %; the typical (median) width "
            f"of the 68 % interval is {width:.1f} {PP}.</p>"
        )
    return text + html_figure(fig, alt=f"{TARGET} estimates with intervals across rows")


def _maps_section(summary: pd.DataFrame, pixel: np.ndarray, flags: np.ndarray) -> str:
    median = _pct(summary[f"{TARGET}_median"].to_numpy(np.float64))
    width = _pct(summary[f"{TARGET}_q84"].to_numpy(np.float64) - summary[f"{TARGET}_q16"].to_numpy(np.float64))
    marks = flags == OOD_LABEL
    figs = [
        html_figure(
            map_plot(
                pixel,
                median,
                f"median {TARGET_LABEL}",
                cmap="viridis",
                label=TARGET_LABEL,
                vmin=0.0,
                vmax=PERCENT,
                marks=marks,
            ),
            alt=f"map of median {TARGET}",
        ),
        html_figure(
            map_plot(
                pixel,
                width,
                f"width of the 68 % interval of {TARGET}",
                cmap="magma_r",
                label=f"{TARGET} width ({PP})",
                vmin=0.0,
                marks=marks,
            ),
            alt=f"map of the {TARGET} uncertainty",
        ),
    ]
    return (
        f'<div class="row">{"".join(figs)}</div>'
        f'<p class="muted">Grey: no estimate (flagged input). \u00d7: out of distribution. '
        f"Left: the median {TARGET} in % (colour scale 0\u2013100 %). Right: the width of the central 68 % interval "
        f"of {TARGET} in {PP} (about two standard deviations for a Gaussian posterior).</p>"
    )


def _constraint_section(
    names: Sequence[str],
    width_ratio: Mapping[str, float],
    recoverability: pd.DataFrame | None,
    n_obs: object,
    bands: int,
) -> str:
    units = dict(zip(TissueProblem.x_names, TissueProblem.x_units))
    bounds = dict(zip(TissueProblem.x_names, TissueProblem.x_bounds))
    ratios = np.array([float(width_ratio.get(p, np.nan)) for p in names])
    table = pd.DataFrame(
        {
            "parameter": list(names),
            "unit": ["%" if p == TARGET else _unit(units.get(p, "")) for p in names],
            "prior range": [_range_text(p, bounds) for p in names],
            "width ratio (posterior / prior std)": ratios,
            "what the data say": [constraint_label(r) for r in ratios],
        }
    )
    model = (
        f"<h3>What {bands} bands can recover</h3>"
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


def _range_text(p: str, bounds: Mapping[str, tuple[float, float]]) -> str:
    """A prior range as text, sO2 in %."""
    if p not in bounds:
        return "\u2013"
    lo, hi = (_pct(b) for b in bounds[p]) if p == TARGET else bounds[p]
    return f"{lo:g} \u2013 {hi:g}"


def _ratio_figure(names: Sequence[str], ratios: np.ndarray) -> str:
    if not np.isfinite(ratios).any():
        return ""
    return html_figure(width_ratio_plot(names, ratios), alt="posterior to prior width ratio per parameter")


def _pair_names(names: Sequence[str], width_ratio: Mapping[str, float]) -> list[str]:
    """sO2 and the most constrained other parameters with ratio <= UNCONSTRAINED_RATIO, at most MAX_PAIR."""
    others = sorted((float(width_ratio.get(p, np.nan)), p) for p in names if p != TARGET)
    chosen = [p for r, p in others if r <= UNCONSTRAINED_RATIO]
    return ([TARGET] + chosen)[:MAX_PAIR]


def _row_line(row: pd.Series, thresholds: Mapping[str, float]) -> str:
    """sO2 numbers of one row in %, and its checks beside their thresholds, as text."""

    def g(k: str) -> float:
        return _pct(float(row[f"{TARGET}_{k}"]))

    text = (
        f"{TARGET} median {g('median'):.1f} %, MAP {g('map'):.1f} %; 68 % interval [{g('q16'):.1f}, "
        f"{g('q84'):.1f}] %, 95 % interval [{g('q2.5'):.1f}, {g('q97.5'):.1f}] %"
    )
    checks = []
    score = _finite(row.get("ood_score"))
    if score is not None:
        limit = (
            f"flagged above {float(thresholds['ood']):.2f}"
            if "ood" in thresholds
            else "flagged above the model's threshold"
        )
        checks.append(f"OOD score {score:.2f} ({limit})")
    resim = _finite(row.get("resim_error"))
    if resim is not None:
        note = _resim_note(thresholds)
        checks.append(f"re-simulation error {resim:.3f}" + (f" ({note})" if note else ""))
    return text + "".join(f"; {c}" for c in checks) + "."


def _finite(value: object) -> float | None:
    """A finite number, or None (missing, NaN or not a number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


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
    thresholds: Mapping[str, float],
) -> str:
    rows = np.flatnonzero(has_post)
    if rows.size == 0:
        return "<p>No row has a posterior.</p>"
    if samples is None:
        k = min(max_detailed, rows.size)
        stats = ("median", "map", "q2.5", "q16", "q84", "q97.5")
        table = pd.DataFrame({"id": ids[rows[:k]]})
        for s in stats:
            table[f"{TARGET} {'MAP' if s == 'map' else s} (%)"] = _pct(
                summary[f"{TARGET}_{s}"].to_numpy(float)[rows[:k]]
            )
        return (
            f"<p>Posterior samples were not kept, so only the numbers are shown: first {k} of "
            f"{counted(rows.size, 'row')} with a posterior.</p>" + html_table(table, float_format="{:.1f}")
        )
    index = {p: i for i, p in enumerate(TissueProblem.x_names)}
    bounds = dict(zip(TissueProblem.x_names, TissueProblem.x_bounds))
    pair = _pair_names(names, width_ratio)
    k = min(max_detailed, samples.shape[0])
    scale = np.array([PERCENT if p == TARGET else 1.0 for p in pair])
    parts = [
        f"<p>Showing {k} of {counted(rows.size, 'row')} with a posterior (the first in the input). Left: the "
        f"{TARGET} posterior in % on its full prior range [0, 100] %, with the 68 % and 95 % central intervals shaded. "
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
            _pct(s[:, index[TARGET]]),
            (0.0, PERCENT),
            label=TARGET_LABEL,
            mode=_pct(float(summary.iloc[r][f"{TARGET}_map"])),
            annotate=False,
        )
        figs = html_figure(fig, alt=f"{TARGET} posterior of row {ids[r]}")
        if len(pair) > 1:
            figs += html_figure(
                pair_plot(
                    s[:, [index[p] for p in pair]] * scale,
                    [TARGET_LABEL if p == TARGET else p for p in pair],
                    [tuple(np.multiply(bounds[p], c)) for p, c in zip(pair, scale)],
                ),
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
            f'<div class="sample"><h3>{escape(ids[r])}{tag}</h3><p>{escape(_row_line(summary.iloc[r], thresholds))}</p>'
            f'{note}<div class="row">{figs}</div></div>'
        )
    return "".join(parts)


def _flagged_section(summary: pd.DataFrame, ids: np.ndarray, flags: np.ndarray, thresholds: Mapping[str, float]) -> str:
    rows = np.flatnonzero(flags != "")
    if rows.size == 0:
        return "<p>No row was flagged.</p>"
    sub = summary.iloc[rows]
    table = pd.DataFrame({"id": ids[rows], "status": sub["status"].astype(str).to_numpy(), "flag": flags[rows]})
    ood = f"OOD score (flagged above {float(thresholds['ood']):.2f})" if "ood" in thresholds else "OOD score"
    note = _resim_note(thresholds)
    checked = sub[f"{TARGET}_median"].notna().to_numpy()  # the OOD check runs on rows with a posterior
    columns = {
        "ood": ("out of distribution", lambda v: np.where(checked, bool_column(sub, "ood"), None)),
        "ood_score": (ood, None),
        "saturated": ("saturated", lambda v: bool_column(sub, "saturated")),
        f"{TARGET}_median": (f"{TARGET} median (%)", _pct),
        "resim_error": (f"re-simulation error ({note})" if note else "re-simulation error", None),
    }
    for col, (title, convert) in columns.items():
        if col in sub:
            values = sub[col].to_numpy()
            table[title] = convert(values) if convert else values
    text = (
        f"<p>{counted(rows.size, 'row')} {'needs' if rows.size == 1 else 'need'} attention. "
        "A status other than <i>ok</i> or <i>ood</i> "
        f"means no posterior was computed (the status gives the reason); out-of-distribution rows have a posterior "
        f"that should not be trusted; multimodal rows have a {TARGET} posterior with more than one mode.</p>"
    )
    return text + html_table(table, float_format=_flagged_number, max_rows=MAX_TABLE_ROWS)


def _flagged_number(v: float) -> str:
    """Numbers of the flagged-rows table: one decimal from 10 (sO2 in %), two from 1 (OOD scores, as their
    threshold), else three significant digits (re-simulation errors)."""
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3g}"


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
    thresholds: Mapping[str, float] | None = None,
    footer: str = "",
) -> str:
    """The HTML report of one scan (footer: HTML of what produced it, core.pages.html_footer).

    summary: one row per input row: id, status ('ok' or a reason), ood, resim_error, multimodal and the
    columns of invert.core.summaries.summarize for each parameter (NaN for rows without a posterior).
    samples: (k, n_samples, 13) posterior samples of the rows detailed_rows (row numbers of summary; default:
    the first k rows that have a posterior), or None.  ids: row ids (default: summary's id column).  pixel: (n_rows, 2)
    integer row/col
    coordinates, or None (no maps).  width_ratio: posterior std / prior std per parameter (median over
    rows).  model_info: shown as given (the key 'input' names the input file in the subtitle).
    recoverability: the model's table from training time (invert.core.recoverability), measured on
    n_validation held-out simulations; None for models that predate it.  thresholds: what the checks are read
    against (report_thresholds builds them from the model): 'ood' the OOD score threshold and 'ood_quantile' its
    quantile of the training scores, 'resim_noise' the re-simulation error of noise alone (resim_noise_level);
    each one missing is described in words.

    sO2 is shown in % throughout; the summary stays a fraction."""
    thresholds = dict(thresholds or {})
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
        ("Scan and model", _header_section(summary, has_post, model_info, thresholds)),
        ("Parameters and units", _glossary_section(TissueProblem.x_names)),
        (f"{TARGET} across rows", _overview_section(summary, ids, flags, has_post)),
    ]
    if pixel is not None:
        pixel = np.asarray(pixel)
        if len(pixel) != len(summary):
            raise ValueError(f"{len(pixel)} pixel coordinates for {len(summary)} summary rows")
        sections.append((f"{TARGET} maps", _maps_section(summary, pixel, flags)))
    sections += [
        (
            "What the data constrain",
            _constraint_section(
                names, width_ratio, recoverability, n_validation, int(thresholds.get("bands", DEFAULT_BANDS))
            ),
        ),
        (
            "Per-row posteriors",
            _detail_section(
                summary, samples, detailed_rows, ids, flags, has_post, names, width_ratio, max_detailed, thresholds
            ),
        ),
        ("Flagged rows", _flagged_section(summary, ids, flags, thresholds)),
    ]
    source = model_info.get("input")
    subtitle = " \u00b7 ".join(
        filter(
            None,
            [
                PurePath(str(source)).name if source else "",
                counted(len(summary), "row"),
                f"model {PurePath(str(model_info['model'])).name}" if model_info.get("model") else "",
            ],
        )
    )
    return html_page("Tissue oxygenation (sO2) report", sections, subtitle=subtitle, footer=footer)
