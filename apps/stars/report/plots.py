"""Figures of the stars report: measured lines against the posterior-predictive bands, the lines' residuals of the
posterior-predictive check, and a spectrum with its fitted lines."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from invert.core.report import BLUE, DARK, FLAG_COLORS, GRAY, new_figure, plot_text, style

from ..io.linefit import rest_wavelengths
from ..io.observations import PlotSpectrum
from ..model.linelist import NAMES
from ..model.predictive import LineValues

__all__ = ["lines_plot", "residuals_plot", "spectrum_plot", "LINE_LABELS", "ZOOMS"]

LINE_LABELS = {
    "OII3726": "[OII] 3726",
    "OII3729": "[OII] 3729",
    "Hbeta": "H\u03b2",
    "OIII4959": "[OIII] 4959",
    "OIII5007": "[OIII] 5007",
    "HeI5876": "HeI 5876",
    "OI6300": "[OI] 6300",
    "NII6548": "[NII] 6548",
    "Halpha": "H\u03b1",
    "NII6583": "[NII] 6583",
    "SII6716": "[SII] 6716",
    "SII6731": "[SII] 6731",
}
ZOOMS = (("H\u03b2 + [OIII]", 4830.0, 5030.0), ("[NII] + H\u03b1 + [SII]", 6530.0, 6750.0))  # rest-frame Angstrom


def _bands(ax, x: np.ndarray, q: np.ndarray) -> None:
    """Predictive bands at positions x: q (5, m) = quantiles 2.5, 16, 50, 84, 97.5 %."""
    ax.bar(x, q[4] - q[0], bottom=q[0], width=0.6, color=BLUE, alpha=0.18, lw=0, label="model, 95 %")
    ax.bar(x, q[3] - q[1], bottom=q[1], width=0.6, color=BLUE, alpha=0.40, lw=0, label="model, 68 %")
    ax.hlines(q[2], x - 0.3, x + 0.3, color=BLUE, lw=1.2)


def _measured(ax, x: np.ndarray, obs: LineValues, k: int, cols: slice) -> np.ndarray:
    """Detections with 1-sigma error bars, upper limits as arrows; returns which lines were not measured
    (labelled by _not_measured once the axis limits are final)."""
    v, s = obs.value[k, cols], obs.sigma[k, cols]
    det, lim = obs.detected[k, cols], obs.limit[k, cols]
    ax.errorbar(x[det], v[det], yerr=s[det], fmt="o", color=DARK, ms=4, lw=1.2, capsize=2, label="measured (1\u03c3)")
    if lim.any():
        ax.errorbar(
            x[lim],
            v[lim],
            yerr=0.25,
            uplims=True,
            fmt="_",
            color=FLAG_COLORS[0],
            ms=8,
            lw=1.2,
            label="3\u03c3 upper limit",
        )
    return ~(det | lim)


def _not_measured(ax, x: np.ndarray, median: np.ndarray) -> None:
    """A grey 'not measured' at each position x, at the end of the axis away from the model's band there
    (median: the predicted value), so the label never covers the band."""
    lo, hi = ax.get_ylim()
    for xi, m in zip(x, median):
        top = (m - lo) < 0.5 * (hi - lo)
        ax.annotate(
            "not\nmeasured",
            (xi, 0.98 if top else 0.02),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top" if top else "bottom",
            fontsize=6.5,
            color=GRAY,
        )


def lines_plot(labels: Sequence[str], obs: LineValues, bands: np.ndarray, k: int) -> Figure:
    """Object k's measured line values against its posterior-predictive bands: log L(Hbeta) on the left
    (absolute mode, labels[0] == 'Hbeta'), the log ratios to Hbeta on the right."""
    absolute = labels[0] == "Hbeta"
    with style():
        fig = new_figure(6.6, 3.0)
        axes = fig.subplots(1, 2, width_ratios=[1, 9]) if absolute else [None, fig.subplots()]
        if absolute:
            ax = axes[0]
            _bands(ax, np.zeros(1), bands[k][:, :1])
            missing = _measured(ax, np.zeros(1), obs, k, slice(0, 1))
            _not_measured(ax, np.zeros(1)[missing], bands[k][2, :1][missing])
            ax.set_xticks([0], ["H\u03b2"])
            ax.set_xlim(-0.7, 0.7)
            ax.set_ylabel("log L(H\u03b2) [erg/s]")
            ax.yaxis.get_major_formatter().set_useOffset(False)
        ax = axes[1]
        cols = slice(1 if absolute else 0, None)
        x = np.arange(len(labels[cols]))
        _bands(ax, x, bands[k][:, cols])
        missing = _measured(ax, x, obs, k, cols)
        _not_measured(ax, x[missing], bands[k][2, cols][missing])
        ax.set_xticks(
            x,
            [LINE_LABELS.get(n, plot_text(n, 12)) for n in labels[cols]],
            rotation=45,
            ha="right",
            rotation_mode="anchor",
        )
        ax.set_ylabel("log (line / H\u03b2)")
        ax.grid(axis="y", color="#e4e7eb", lw=0.7)
        ax.set_axisbelow(True)
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles))
        fig.legend(unique.values(), unique.keys(), loc="outside upper center", ncols=len(unique))
    return fig


def residuals_plot(residual: np.ndarray, upper_limit: np.ndarray, chi2: float, p_value: float, bad_fit: bool) -> Figure:
    """An object's standardized residual per line (linelist order; NaN: not measured) in the 1, 2 and 3 sigma zones:
    detections as dots, upper limits as open triangles, beyond 3 sigma in red; chi2 and p-value in the title (red
    for a bad fit)."""
    r = np.asarray(residual, dtype=np.float64)
    x = np.arange(len(NAMES))
    measured = np.isfinite(r)
    far = measured & (np.abs(r) > 3.0)
    top = max(3.6, 1.12 * float(np.abs(r[measured]).max())) if measured.any() else 3.6
    with style():
        fig = new_figure(3.5, 3.0)
        ax = fig.subplots()
        for width, alpha in ((2.0, 0.10), (1.0, 0.16)):
            ax.axhspan(-width, width, color=BLUE, alpha=alpha, lw=0)
        for level in (-3.0, 3.0):
            ax.axhline(level, color=GRAY, lw=0.8, ls="--")
        ax.axhline(0.0, color=GRAY, lw=0.8)
        for sel, marker, label in ((~upper_limit, "o", "detection"), (upper_limit, "v", "3\u03c3 upper limit")):
            sel = sel & measured
            if sel.any():
                colors = np.where(far[sel], FLAG_COLORS[2], DARK)
                face = "none" if marker == "v" else colors
                ax.scatter(
                    x[sel],
                    r[sel],
                    s=22,
                    marker=marker,
                    facecolors=face,
                    edgecolors=colors,
                    lw=1.1,
                    label=label,
                    zorder=3,
                )
        for xi in x[~measured]:
            ax.annotate("not\nmeasured", (xi, 0.0), ha="center", va="center", fontsize=6, color=GRAY)
        ax.set_ylim(-top, top)
        ax.set_xlim(-0.6, len(NAMES) - 0.4)
        ax.set_xticks(x, [LINE_LABELS[n] for n in NAMES], rotation=45, ha="right", rotation_mode="anchor")
        ax.set_ylabel("residual [\u03c3]")
        verdict = ": bad fit" if bad_fit else ""
        ax.set_title(
            f"\u03c7\u00b2 = {chi2:.1f} over {int(measured.sum())} lines, p = {p_value:.3f}{verdict}",
            fontsize=9,
            color=FLAG_COLORS[2] if bad_fit else DARK,
        )
        if measured.any():
            ax.legend(loc="best", fontsize=7)
    return fig


def spectrum_plot(spectrum: PlotSpectrum) -> Figure:
    """The measured spectrum (observed frame) with the fitted lines + continuum, whole and zoomed on the
    strong lines; line positions marked."""
    good = np.isfinite(spectrum.flux)
    top = np.nanpercentile(np.abs(spectrum.flux[good]), 99) if good.any() else 1.0
    scale = 10.0 ** math.floor(math.log10(max(top, 1e-30)))
    z1 = 1.0 + spectrum.redshift
    lines = rest_wavelengths(spectrum.medium) * z1
    unit = f"F\u03bb [{scale:.0e} erg s\u207b\u00b9 cm\u207b\u00b2 \u00c5\u207b\u00b9]".replace("e-", "e\u2212")
    with style():
        fig = new_figure(9.6, 5.0)
        top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1])
        panels = [(top.subplots(), spectrum.wave.min(), spectrum.wave.max(), "whole spectrum")]
        for ax, (title, lo, hi) in zip(bottom.subplots(1, len(ZOOMS)), ZOOMS):
            panels.append((ax, lo * z1, hi * z1, title))
        for ax, lo, hi, title in panels:
            sel = (spectrum.wave >= lo) & (spectrum.wave <= hi)
            ax.step(spectrum.wave[sel], spectrum.flux[sel] / scale, where="mid", color=GRAY, lw=0.8, label="measured")
            ax.plot(
                spectrum.wave[sel],
                spectrum.model[sel] / scale,
                color=FLAG_COLORS[0],
                lw=1.1,
                label="fitted lines + continuum",
            )
            for w, name in zip(lines, NAMES):
                if lo <= w <= hi:
                    ax.axvline(w, color=BLUE, lw=0.6, alpha=0.35)
            ax.set_xlim(lo, hi)
            ax.set_title(f"{title} (z = {spectrum.redshift:.4f}, {spectrum.medium} wavelengths)", fontsize=8.5)
            ax.set_xlabel("observed wavelength [\u00c5]")
        panels[0][0].set_ylabel(unit)
        panels[1][0].set_ylabel(unit)
        panels[0][0].legend(loc="upper right")
    return fig
