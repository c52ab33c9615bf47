"""report.html of `invert stars`: cluster parameters with honest uncertainty per object, the measured lines
against the posterior-predictive model, pairwise posteriors, the spectrum fits, parameter maps of cubes,
what the data cannot constrain (docs/stars.md), every assumed unit, and the flagged objects. Every check (bad fit,
out of distribution, too few effective draws) is counted in the overview, named in every table, marked on the maps
and beside each object, and its number always stands beside the threshold that flags an object.

Self-contained (figures embedded), built from invert.core.report blocks, which escape every user string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Mapping

import numpy as np
import pandas as pd

from invert.core.importance import MIN_ESS
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
    map_plot,
    ood_threshold,
    pair_plot,
    recoverability_html,
    width_ratio_plot,
)

from ..io.observations import LineObservations
from ..model.linelist import NAMES
from ..model.predictive import BAD_FIT_P, BAD_FIT_RATE, value_labels
from ..model.problem import StarsProblem
from ..results.analysis import CHECKS, StarsAnalysis
from .plots import lines_plot, residuals_plot, spectrum_plot

__all__ = ["stars_report", "report_thresholds", "ReportInfo", "LIMITS"]

MAX_TABLE_ROWS = 200
PAIR_PANEL = 1.1  # inches per parameter in the pairwise plots
LABELS = {
    "logM": "log M [M\u2609]",
    "logt": "log age [yr]",
    "logZ": "log Z/Z\u2609",
    "logU": "log U",
    "A_V": "A_V [mag]",
}
OOD_LABEL = "out of distribution"
CHECK_LABELS = {"bad_fit": "bad fit", "ood": OOD_LABEL, "low_ess": "too few effective draws"}  # by failed check
MULTIMODAL_LABEL = "multimodal logZ"

# what emission lines cannot tell (docs/stars.md, "Assumptions and limits"), stated in every report
LIMITS = [
    "Model class: one coeval star cluster ionizing a spherical, dust-free nebula of n_H = 100 cm\u207b\u00b3 that "
    "absorbs every ionizing photon, behind a foreground dust screen (CCM89 or Calzetti). HII regions with several "
    "stellar generations, leaking photons, shocks, diffuse ionized gas or an AGN are outside the model: they should "
    "be flagged (bad fit or out of distribution), and their numbers are not a confident answer.",
    "Mass and age are degenerate: the lines fix mostly L(H\u03b2) \u221d M \u00b7 q(t), and the lines fade by about "
    "2 dex between 3 and 10 Myr, so a young light cluster and an older heavy one look alike; only the hardness-"
    "sensitive ratios ([OIII]/H\u03b2, HeI/H\u03b2) break this, weakly.",
    "Ages above about 10 Myr (log age > 7) are not recoverable from emission lines: the lines have faded.",
    "logM needs a distance: it is not inferred in ratios-only mode; a distance error \u03b4D adds "
    "\u00b12\u00b7log10(1 + \u03b4D/D) dex to logM (e.g. \u00b10.08 dex for 10 %).",
    "logZ may be bimodal (an upper and a lower branch of [OIII]/H\u03b2 against Z), mainly when [NII] is weak or "
    "noisy; the modes and their weights are listed. Metallicities above solar are not modelled (grid defects).",
    "Below about 10\u2074 M\u2609 the random sampling of massive stars makes the ionizing flux scatter by \u2273 0.3 "
    "dex; that is not modelled, so posteriors of low-mass clusters are too narrow.",
    "Photon escape (f_esc) is assumed zero; it would be fully degenerate with mass (only M\u00b7(1 \u2212 f_esc) "
    "is measured). H\u03b2 stellar absorption is not corrected: it biases H\u03b1/H\u03b2 and hence A_V upwards.",
]


@dataclass
class ReportInfo:
    """What the report says about the run besides the analysis."""

    input: str
    model: Mapping[str, object]  # shown as given
    notes: list[str] = field(default_factory=list)  # every unit, medium, redshift or distance that was assumed
    warnings: list[str] = field(default_factory=list)
    recoverability: pd.DataFrame | None = None  # the model's table from training time (None for older models)
    n_validation: int | None = None  # simulations it was measured on


def report_thresholds(post: object) -> dict[str, float]:
    """What the report compares its checks with, for stars_report(thresholds=...): the model's OOD score threshold
    and its quantile of the training scores (when the model has an OOD scorer), the bad-fit p-value and the
    effective draws below which the weights are tempered (low_ess)."""
    found = {"bad_fit_p": BAD_FIT_P, "min_ess": MIN_ESS}
    ood = getattr(post, "ood", None)
    if ood is not None:
        found |= {"ood": float(ood.threshold), "ood_quantile": float(ood.quantile)}
    return found


def stars_report(
    analysis: StarsAnalysis,
    obs: LineObservations,
    problem: StarsProblem,
    info: ReportInfo,
    thresholds: Mapping[str, float] | None = None,
    footer: str = "",
) -> str:
    """The HTML report of one input file (footer: HTML of what produced it, core.pages.html_footer).

    thresholds: what the checks are read against (report_thresholds builds them from the model): 'ood' the OOD
    score threshold and 'ood_quantile' its quantile of the training scores, 'bad_fit_p' the p-value of a bad fit
    (default BAD_FIT_P), 'min_ess' the effective draws of the reweighting (default MIN_ESS); a missing OOD threshold
    is described in words."""
    limits = {"bad_fit_p": BAD_FIT_P, "min_ess": MIN_ESS} | dict(thresholds or {})
    summary = analysis.summary
    names = list(problem.x_names)
    flags = _flags(summary)
    has_post = summary[f"{names[-1]}_median"].notna().to_numpy()
    sections = [
        ("Input and model", _header(summary, has_post, obs, info, limits)),
        ("Parameters per object", _table_section(summary, names)),
    ]
    if obs.pixel is not None and len(obs) > 1:
        sections.append(("Parameter maps", _maps_section(summary, names, obs.cube_shape)))
    sections += [
        ("What the data constrain", _constraint_section(names, analysis.width_ratio, problem, info)),
        ("Per-object posteriors", _detail_section(analysis, obs, problem, flags, limits)),
        ("Flagged objects", _flagged_section(summary, flags, limits)),
    ]
    subtitle = " \u00b7 ".join([PurePath(info.input).name, counted(len(summary), "object"), obs.layout_name])
    return html_page("Star-cluster parameters from emission lines", sections, subtitle=subtitle, footer=footer)


def _flags(summary: pd.DataFrame) -> np.ndarray:
    """Per object the most important flag: its status when not ok (a failed check in words), multimodal logZ, or ''."""
    status = summary["status"].astype(str).to_numpy()
    flags = np.where(bool_column(summary, "logZ_multimodal"), MULTIMODAL_LABEL, "").astype(object)
    return np.where(status != "ok", [CHECK_LABELS.get(s, s) for s in status], flags)


def _failed(summary: pd.DataFrame) -> np.ndarray:
    """Per object the checks it failed, in words, comma-separated ('' when it passed them or has no posterior)."""
    failed = np.stack([bool_column(summary, c) for c in CHECKS], axis=1)
    return np.array([", ".join(CHECK_LABELS[c] for c, f in zip(CHECKS, row) if f) for row in failed], dtype=object)


def _ood_level(limits: Mapping[str, float]) -> str:
    """The OOD score threshold as text."""
    return f"{float(limits['ood']):.2f}" if "ood" in limits else "the model's threshold"


def _checks(limits: Mapping[str, float]) -> str:
    """How an object comes to fail each check, with the thresholds."""
    level, quantile = ood_threshold(limits)
    items = [
        f"<b>{CHECK_LABELS['bad_fit']}</b> (status <i>bad_fit</i>): the model cannot reproduce the measured lines. "
        "Each line's <b>residual</b> is (measured \u2212 predicted flux) / \u221a(error\u00b2 + spread\u00b2) in "
        "\u03c3, against the lines the posterior predicts (the model pushed through the posterior draws, with the 0.02 "
        "dex model scatter); <b>\u03c7\u00b2</b> is the sum of their squares and <b>p</b> the share of measurements "
        "replicated from the posterior predictive with at least this \u03c7\u00b2. An object is a bad fit when p < "
        f"{float(limits['bad_fit_p']):g}"
        + (
            f"; of objects simulated from the model itself, {BAD_FIT_RATE * 100:.1f} % are flagged by chance."
            if float(limits["bad_fit_p"]) == BAD_FIT_P
            else "."
        ),
        f"<b>{OOD_LABEL}</b> (status <i>ood</i>): the <b>OOD score</b> (the Mahalanobis distance of the object's "
        f"observation from the training simulations, in whitened feature space) is above {escape(level)}, the "
        f"{quantile * 100:.1f} % quantile of the scores of the training simulations (about "
        f"{(1 - quantile) * 100:.1f} % of objects like them are flagged by chance).",
        f"<b>{CHECK_LABELS['low_ess']}</b> (status <i>low_ess</i>): the reweighting by the likelihood ended with "
        f"fewer than {float(limits['min_ess']):g} <b>effective draws</b>, too few to trust, so the object's "
        f"draws were resampled by weights tempered to {float(limits['min_ess']):g} effective draws: an "
        "approximation, between the proposals and the posterior the reweighting targets.",
    ]
    return (
        "<p><b>Checks behind the flags.</b> An object with a posterior has status <i>ok</i> only when it passes all "
        "three; otherwise its status names the first it fails, in this order, and the columns <i>bad_fit</i>, "
        "<i>ood</i> and <i>low_ess</i> of summary.csv give each.</p><ul>"
        + "".join(f"<li>{i}</li>" for i in items)
        + "</ul>"
    )


def _overview(summary: pd.DataFrame, has_post: np.ndarray, limits: Mapping[str, float]) -> str:
    """One sentence per failed check, with its count, or that every object with a posterior passed."""
    n = {c: int(bool_column(summary, c).sum()) for c in CHECKS}
    lines = []
    if n["low_ess"]:
        lines.append(
            f"{counted(n['low_ess'], 'object')} ended with too few effective draws (fewer than "
            f"{float(limits['min_ess']):g}): an approximation, between the proposals and the posterior the "
            "reweighting targets."
        )
    if n["bad_fit"]:
        verb = "is a bad fit" if n["bad_fit"] == 1 else "are bad fits"
        lines.append(f"{counted(n['bad_fit'], 'object')} {verb}: the model cannot reproduce the lines.")
    if n["ood"]:
        verb = "is" if n["ood"] == 1 else "are"
        lines.append(f"{counted(n['ood'], 'object')} {verb} out of distribution.")
    if not lines and has_post.any():
        lines.append("Every object with a posterior passed every check.")
    return "".join(f'<p class="note">{escape(line)}</p>' for line in lines)


def _header(
    summary: pd.DataFrame, has_post: np.ndarray, obs: LineObservations, info: ReportInfo, limits: Mapping[str, float]
) -> str:
    cards = html_cards(
        [
            ("objects in the file", len(summary), False),
            ("with a posterior", int(has_post.sum()), False),
            ("no posterior (see status)", int((~has_post).sum()), True),
            (CHECK_LABELS["bad_fit"], int(bool_column(summary, "bad_fit").sum()), True),
            (OOD_LABEL, int(bool_column(summary, "ood").sum()), True),
            (CHECK_LABELS["low_ess"], int(bool_column(summary, "low_ess").sum()), True),
            (MULTIMODAL_LABEL, int(bool_column(summary, "logZ_multimodal").sum()), True),
        ]
    )
    facts = {
        "input": info.input,
        "layout": f"{obs.layout} \u2013 {obs.layout_name}",
        "redshift": _redshift_text(obs),
        **info.model,
    }
    text = _overview(summary, has_post, limits) + html_kv(facts) + _checks(limits)
    text += "<h3>Units, media and values that were assumed</h3>"
    text += html_list(info.notes) if info.notes else "<p>None: every unit came from the file.</p>"
    if info.warnings:
        text += "<h3>Warnings</h3>" + html_list(info.warnings)
    return cards + text


def _redshift_text(obs: LineObservations) -> str:
    z = obs.redshift[np.isfinite(obs.redshift)]
    if z.size == 0:
        return "unknown"
    value = f"{z[0]:.5g}" if np.ptp(z) == 0 else f"{z.min():.5g} \u2013 {z.max():.5g}"
    return f"{value} ({obs.redshift_source})"


def _interval_text(row: pd.Series, p: str) -> str:
    """'median [q16, q84]' with no-break spaces (the table stays one line per object), * when multimodal."""
    if not np.isfinite(row[f"{p}_median"]):
        return "\u2013"
    text = f"{row[f'{p}_median']:.2f}\u00a0[{row[f'{p}_q16']:.2f},\u00a0{row[f'{p}_q84']:.2f}]"
    return text + "\u00a0*" if bool(row[f"{p}_multimodal"]) else text


def _table_section(summary: pd.DataFrame, names: list[str]) -> str:
    shown = summary.head(MAX_TABLE_ROWS)
    table = pd.DataFrame({"id": shown["id"], "status": shown["status"], "checks failed": _failed(shown)})
    for p in names:
        table[LABELS.get(p, p)] = [_interval_text(row, p) for _, row in shown.iterrows()]
    text = (
        "<p>Posterior median and central 68 % interval [16 %, 84 %] of each parameter; * marks a posterior with "
        "several modes (the median may fall between them; see the object's section). The full statistics (mean, "
        "MAP, std, 2.5/97.5 % quantiles, modes and their weights) are in summary.csv and summary.fits. The status "
        "is <i>ok</i> only for objects that passed every check (above); <i>checks failed</i> lists all they failed.</p>"
    )
    more = f'<p class="muted">First {len(shown)} of {len(summary)} objects.</p>' if len(shown) < len(summary) else ""
    return text + html_table(table) + more


def _maps_section(summary: pd.DataFrame, names: list[str], shape: tuple[int, int] | None) -> str:
    """Maps over the whole image plane of the cube: spaxels without an object stay grey."""
    pixel = summary[["row", "col"]].to_numpy()
    if shape is not None:
        rows, cols = np.mgrid[: shape[0], : shape[1]]
        pixel = np.concatenate([pixel, np.column_stack([rows.ravel(), cols.ravel()])])
    pad = len(pixel) - len(summary)

    def values(v: np.ndarray) -> np.ndarray:
        return np.concatenate([v, np.full(pad, np.nan)])

    failed = np.any([bool_column(summary, c) for c in CHECKS], axis=0)
    marks = np.concatenate([failed, np.zeros(pad, bool)])
    figs = [
        html_figure(
            map_plot(
                pixel,
                values(summary[f"{p}_median"].to_numpy(float)),
                f"median {p}",
                label=LABELS.get(p, p),
                marks=marks,
            ),
            alt=f"map of median {p}",
        )
        for p in names
    ]
    width = summary["logZ_q84"].to_numpy(float) - summary["logZ_q16"].to_numpy(float)
    figs.append(
        html_figure(
            map_plot(
                pixel,
                values(width),
                "width of the 68 % interval of logZ",
                cmap="magma_r",
                label="dex",
                vmin=0.0,
                marks=marks,
            ),
            alt="map of the logZ uncertainty",
        )
    )
    return (
        f'<div class="row">{"".join(figs)}</div><p class="muted">One pixel per spaxel with a posterior; grey: no '
        "estimate (no line fit with H\u03b1 S/N \u2265 5, or no posterior). \u00d7: failed a check (bad fit, out of "
        "distribution or too few effective draws; see the status column).</p>"
    )


def _constraint_section(
    names: list[str], width_ratio: Mapping[str, float], problem: StarsProblem, info: ReportInfo
) -> str:
    ratios = np.array([float(width_ratio.get(p, np.nan)) for p in names])
    table = pd.DataFrame(
        {
            "parameter": [LABELS.get(p, p) for p in names],
            "prior range": [f"{lo:.3g} \u2013 {hi:.3g}" for lo, hi in problem.x_bounds],
            "width ratio (posterior / prior std)": ratios,
            "what the data say": [constraint_label(r) for r in ratios],
        }
    )
    unconstrained = [LABELS.get(p, p) for p, r in zip(names, ratios) if r > UNCONSTRAINED_RATIO]
    text = (
        "<h3>What emission lines can recover</h3>"
        + recoverability_html(info.recoverability, info.n_validation, LABELS)
        + "<h3>What these objects constrain</h3>"
        "<p>Ratio of the posterior's standard deviation to the prior's, median over the objects with a posterior: "
        f"near 1 the lines leave the prior almost unchanged (above {UNCONSTRAINED_RATIO:g}: <b>not constrained by "
        "data</b>; the reported values then mostly restate the prior).</p>"
    )
    if unconstrained:
        text += f'<p class="note">Not constrained by these data: <b>{escape(", ".join(unconstrained))}</b>.</p>'
    if problem.ratios_only:
        text += (
            '<p class="note">Ratios-only model: no distance was used, so the cluster mass (logM) is not '
            "inferred; line ratios do not depend on it.</p>"
        )
    figure = (
        html_figure(width_ratio_plot(names, ratios), alt="posterior to prior width per parameter")
        if np.isfinite(ratios).any()
        else ""
    )
    return (
        text
        + html_table(table, float_format="{:.2f}")
        + figure
        + "<p><b>What emission lines cannot tell</b>, whatever the data quality (docs/stars.md):</p>"
        + html_list(LIMITS)
    )


def _detail_section(
    analysis: StarsAnalysis,
    obs: LineObservations,
    problem: StarsProblem,
    flags: np.ndarray,
    limits: Mapping[str, float],
) -> str:
    rows = analysis.detailed_rows
    if rows.size == 0:
        return "<p>No object has a posterior.</p>"
    summary, names = analysis.summary, list(problem.x_names)
    spectra = {str(s.id): s for s in obs.spectra}
    labels = value_labels(problem)
    n_post = int(summary[f"{names[-1]}_median"].notna().sum())
    shown = (
        f"All {n_post} objects with a posterior"
        if rows.size == n_post and n_post > 1
        else "The object with a posterior"
        if n_post == 1
        else f"The first {rows.size} of {n_post} objects with a posterior"
    )
    parts = [
        f"<p>{shown}. For each: the measured lines against "
        "the lines the posterior predicts (the model pushed through every posterior sample: 68 % and 95 % "
        "bands), beside them each line's residual in \u03c3 (the posterior-predictive check: red beyond 3 \u03c3, "
        "open triangles for upper limits), the pairwise posteriors (zoomed to the samples), and for spectra the "
        "fitted lines.</p>"
    ]
    for k, r in enumerate(rows):
        row = analysis.detailed_summary.iloc[k]
        tag = f'<span class="tag">{escape(flags[r])}</span>' if flags[r] else ""
        figs = html_figure(
            lines_plot(labels, analysis.observed, analysis.bands, k), alt=f"measured and predicted lines of {row['id']}"
        )
        residuals = row[[f"resid_{line}" for line in NAMES]].to_numpy(float)
        fit = (float(row["fit_chi2"]), float(row["fit_p"]), bool(row["bad_fit"]))
        figs += html_figure(
            residuals_plot(residuals, analysis.upper_limit[k], *fit), alt=f"line residuals of {row['id']}"
        )
        figs += html_figure(
            pair_plot(analysis.detailed[k], [LABELS.get(p, p) for p in names], problem.x_bounds, panel=PAIR_PANEL),
            alt=f"pairwise posteriors of {row['id']}",
        )
        spectrum = spectra.get(str(row["id"]))
        plot = (
            html_figure(spectrum_plot(spectrum), alt=f"spectrum of {row['id']} with the fitted lines")
            if spectrum
            else ""
        )
        parts.append(
            f'<div class="sample"><h3>{escape(row["id"])}{tag}</h3><p>{escape(_object_line(row, names, limits))}</p>'
            f'{_modes_note(row, names)}<div class="row">{figs}</div>{plot}</div>'
        )
    return "".join(parts)


def _object_line(row: pd.Series, names: list[str], limits: Mapping[str, float]) -> str:
    parts = [
        f"{p} {row[f'{p}_median']:.2f} (MAP {row[f'{p}_map']:.2f}, 68 % [{row[f'{p}_q16']:.2f}, {row[f'{p}_q84']:.2f}])"
        for p in names
    ]
    text = "; ".join(parts) + "."
    chi2, p, score = _finite(row.get("fit_chi2")), _finite(row.get("fit_p")), _finite(row.get("ood_score"))
    if p is not None:
        n_lines = int(np.isfinite(row[[f"resid_{line}" for line in NAMES]].to_numpy(float)).sum())
        text += (
            f" Fit of the lines: \u03c7\u00b2 {chi2:.1f} over {n_lines} lines, p = {p:.3f} (a bad fit below "
            f"{float(limits['bad_fit_p']):g})."
        )
    if score is not None:
        text += f" OOD score {score:.2f} (out of distribution above {_ood_level(limits)})."
    ess = _finite(row.get("ess"))
    if ess is None:
        return text
    text += f" Effective draws of the reweighting: {ess:.0f}"
    if bool(row.get("low_ess")):
        limit = float(limits["min_ess"])
        return text + f", below {limit:g}: the draws were resampled by weights tempered to {limit:g}, an approximation."
    return text + "."


def _finite(value: object) -> float | None:
    """A finite number, or None (missing, NaN or not a number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _modes_note(row: pd.Series, names: list[str]) -> str:
    modal = [p for p in names if bool(row[f"{p}_multimodal"])]
    if not modal:
        return ""
    items = []
    for p in modal:
        found = [(row[f"{p}_mode{i}"], row[f"{p}_weight{i}"]) for i in (1, 2) if np.isfinite(row[f"{p}_mode{i}"])]
        modes = ", ".join(f"{m:.2f} (weight {w:.2f})" for m, w in found)
        more = f" and {int(row[f'{p}_n_modes']) - 2} smaller" if row[f"{p}_n_modes"] > 2 else ""
        items.append(f"{p}: modes at {modes}{more}")
    return (
        '<p class="note">Several solutions fit these lines; the median can fall between them. '
        + escape("; ".join(items))
        + ".</p>"
    )


def _flagged_section(summary: pd.DataFrame, flags: np.ndarray, limits: Mapping[str, float]) -> str:
    rows = np.flatnonzero(flags != "")
    if rows.size == 0:
        return "<p>No object was flagged: every object has a posterior and passed every check.</p>"
    sub = summary.iloc[rows]
    table = pd.DataFrame(
        {
            "id": sub["id"].to_numpy(),
            "status": sub["status"].astype(str).to_numpy(),
            "checks failed": _failed(sub),
            f"OOD score (ood above {_ood_level(limits)})": sub["ood_score"].to_numpy(),
            f"fit p (bad fit below {float(limits['bad_fit_p']):g})": sub["fit_p"].to_numpy(),
            f"effective draws (low below {float(limits['min_ess']):g})": sub["ess"].to_numpy(),
        }
    )
    text = (
        f"<p>{counted(rows.size, 'object')} {'needs' if rows.size == 1 else 'need'} attention. "
        "Statuses of objects with a posterior that failed a check (the first one failed, in this order): "
        f"<i>bad_fit</i> (the model cannot reproduce the lines: fit p-value below {float(limits['bad_fit_p']):g}; "
        f"do not trust those numbers), <i>ood</i> (the lines are unlike the training simulations: OOD score above "
        f"{escape(_ood_level(limits))}), <i>low_ess</i> (fewer than {float(limits['min_ess']):g} effective draws: the "
        "draws were resampled by weights tempered to it: an approximation). Statuses of objects without a "
        "posterior: "
        "<i>no_hbeta</i> (H\u03b2 missing or below 3\u03c3), <i>all_masked</i> (no line measured), <i>bad_values</i> "
        "(H\u03b2, or every line, infinite or beyond 1e60 erg/s/cm\u00b2, or with an error below 1e-60), "
        "<i>bad_redshift</i> (outside the optical range of the model), <i>no_distance</i> (absolute mode without a "
        f"distance). An object listed with status <i>ok</i> has a {MULTIMODAL_LABEL}: two metallicity branches fit.</p>"
    )
    return text + html_table(table, max_rows=MAX_TABLE_ROWS)
