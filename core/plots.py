"""Posterior plots for reports: marginal histograms, corner plots, interval plots across rows, pixel maps and
posterior/prior width bars, plus the report's matplotlib style and rendering of figures to PNG.  Figures are plain
`matplotlib.figure.Figure` objects rendered by the Agg canvas: no pyplot state, no change of the global backend,
safe in scripts and notebooks alike.  Every plot helper applies the report style (`style`) itself.  Text from users
goes through `plot_text`, which disables matplotlib's mathtext (`$...$`) and shortens long strings.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import math
import sys
import warnings
from typing import Iterator, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, MaxNLocator
from scipy.ndimage import gaussian_filter

from .recoverability import UNCONSTRAINED_RATIO, WELL_CONSTRAINED_RATIO
from .summaries import central_interval

__all__ = [
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
]


DPI = 100  # pixels per inch of embedded figures: sharp enough on screen, small files
BLUE, DARK, GRAY = "#1f5fa8", "#102a43", "#9aa5b1"
FLAG_COLORS = ("#d9480f", "#7048e8", "#c2255c", "#2b8a3e", "#e67700")  # one per flag category
MISSING_COLOR = "#d9d9d9"  # map pixels without a value
STYLE = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#52606d",
    "axes.titlelocation": "left",
    "savefig.dpi": DPI,
    "image.interpolation": "nearest",
}


def plot_text(text: object, max_chars: int = 24) -> str:
    """User text for matplotlib: dollar signs escaped (no mathtext), shortened to max_chars with an ellipsis."""
    s = " ".join(str(text).split())
    if len(s) > max_chars:
        s = s[: max_chars - 1] + "\u2026"
    return s.replace("$", r"\$")


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The report's matplotlib style (small fonts, light axes); the plot helpers apply it themselves."""
    with matplotlib.rc_context(STYLE):
        yield


def _styled(fn):
    """Run a plot helper under the report style."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """An Agg-rendered figure of width x height inches with constrained layout, outside pyplot."""
    with style():
        return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def figure_to_png(fig: Figure, dpi: float | None = None) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    with style(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")  # a user's id with odd characters
        fig.savefig(buffer, format="png", dpi=dpi or DPI, metadata={"Software": None})
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure made with pyplot must be released from pyplot's registry
        pyplot.close(fig)
    return buffer.getvalue()


def figure_to_data_uri(fig: Figure, dpi: float | None = None) -> str:
    """The figure as a base64 PNG data URI (`data:image/png;base64,...`); the figure is closed."""
    return "data:image/png;base64," + base64.b64encode(figure_to_png(fig, dpi)).decode("ascii")


def _fmt(v: float) -> str:
    """A number in a plot title, three significant digits."""
    return f"{v:.3g}"


@_styled
def marginal_plot(
    ax,
    samples_1d: np.ndarray,
    prior_range: tuple[float, float] | None,
    truth: float | None = None,
    label: str = "",
    mode: float | None = None,
    color: str = BLUE,
    annotate: bool = True,
    legend: bool = True,
) -> None:
    """Histogram of one parameter's posterior samples on the axes, with its intervals, median, MAP and truth.

    The 95 % and 68 % central intervals are shaded, the median is a line, the MAP (mode, if given) dotted,
    the true value (if known) dashed; the x axis spans prior_range (the sample range when None), so the
    width of the posterior reads against the prior's.  annotate: the numbers in the title; legend: below
    the figure when it has a constrained layout (as from new_figure), else inside the axes."""
    s = np.asarray(samples_1d, dtype=np.float64).ravel()
    s = s[np.isfinite(s)]
    if s.size < 2:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes, color=GRAY)
        ax.set_yticks([])
        ax.set_xlabel(plot_text(label, 40))
        return
    lo, hi = (float(s.min()), float(s.max())) if prior_range is None else map(float, prior_range)
    (l95, l68), (h95, h68) = (v[:, 0] for v in central_interval(s[:, None], [0.95, 0.68]))
    median = float(np.median(s))
    a, b = max(lo, float(s.min())), min(hi, float(s.max()))
    if not b > a:  # all samples equal, or outside the range
        half = max(abs(median), 1.0) * 1e-3
        a, b = median - half, median + half
    counts, edges = np.histogram(s, bins=int(np.clip(np.sqrt(s.size), 10, 50)), range=(a, b), density=True)
    ax.axvspan(l95, h95, color=color, alpha=0.10, lw=0, label="95 % interval")
    ax.axvspan(l68, h68, color=color, alpha=0.22, lw=0, label="68 % interval")
    ax.stairs(counts, edges, fill=True, color=color, alpha=0.35, lw=0)
    ax.stairs(counts, edges, color=color, lw=1.1)
    ax.axvline(median, color=DARK, lw=1.4, label="median")
    if mode is not None and np.isfinite(mode):
        ax.axvline(mode, color=DARK, lw=1.4, ls=":", label="MAP")
    if truth is not None and np.isfinite(truth):
        ax.axvline(truth, color=FLAG_COLORS[0], lw=1.4, ls="--", label="true value")
    if hi > lo:
        ax.set_xlim(lo, hi)
    ax.set_ylim(0, counts.max() * 1.12 if counts.max() > 0 else 1.0)
    ax.set_yticks([])
    ax.spines[["left", "top", "right"]].set_visible(False)  # set here: the axes may predate the report style
    ax.tick_params(axis="x", labelsize=STYLE["xtick.labelsize"])
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel(plot_text(label, 40))
    if annotate:
        ax.set_title(
            f"median {_fmt(median)}   68 %: [{_fmt(l68)}, {_fmt(h68)}]   95 %: [{_fmt(l95)}, {_fmt(h95)}]", fontsize=8.5
        )
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        ncols = len(labels) if len(labels) <= 4 else 3
        if isinstance(ax.figure.get_layout_engine(), ConstrainedLayoutEngine):
            ax.figure.legend(
                handles, labels, loc="outside lower center", ncols=ncols, handlelength=1.6, columnspacing=1.2
            )
        else:
            ax.legend(loc="best", handlelength=1.6)


@_styled
def width_ratio_plot(names: Sequence[str], ratios: np.ndarray) -> Figure:
    """Bars of the posterior/prior width ratio per parameter, coloured by constraint, with the UNCONSTRAINED_RATIO line.

    The colours follow invert.core.recoverability.constraint_label: well, partly, not constrained by data."""
    fig = new_figure(7.6, 2.4)
    ax = fig.subplots()
    x = np.arange(len(names))
    ratios = np.asarray(ratios, dtype=np.float64)
    shade = np.where(ratios <= WELL_CONSTRAINED_RATIO, BLUE, "#74a9cf")
    colors = np.where(ratios > UNCONSTRAINED_RATIO, "#adb5bd", shade)
    ax.bar(x, np.nan_to_num(ratios, nan=0.0), color=colors, width=0.7)
    ax.axhline(
        UNCONSTRAINED_RATIO,
        color=FLAG_COLORS[0],
        lw=1,
        ls="--",
        label=f"{UNCONSTRAINED_RATIO:g}: above, not constrained by data",
    )
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.1)
    ax.set_xticks(x, [plot_text(n) for n in names])
    ax.set_ylim(0, max(1.1, float(np.nanmax(ratios)) + 0.1) if np.isfinite(ratios).any() else 1.1)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("posterior / prior width")
    return fig


@_styled
def pair_plot(
    samples: np.ndarray,
    names: Sequence[str],
    ranges: Sequence[tuple[float, float]],
    truth: Sequence[float] | None = None,
    zoom: bool = True,
    bins: int | None = None,
    panel: float = 1.3,
) -> Figure:
    """Corner plot of (n, k) samples: 1-D histograms on the diagonal, 2-D histograms with contours below it.

    The diagonal shows 68/95 % intervals, the 2-D histograms the 68 % and 95 % highest-density contours.
    ranges bound the axes (the prior support); with zoom the axes close in on the 0.5-99.5 % quantiles of
    the samples (within ranges), so correlations stay visible.
    bins: of the 2-D histograms (default from the number of samples, 10-30)."""
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(names) or len(ranges) != len(names):
        raise ValueError(f"samples {s.shape} do not match {len(names)} names and {len(ranges)} ranges")
    k = s.shape[1]
    bins = bins or int(np.clip(np.sqrt(s.shape[0]) / 1.5, 10, 30))  # fewer samples, coarser 2-D bins
    limits = []
    for j in range(k):
        lo, hi = map(float, ranges[j])
        col = s[:, j][np.isfinite(s[:, j])]
        if (zoom or not np.isfinite([lo, hi]).all()) and col.size:  # an unbounded prior: the samples' range
            q0, q1 = np.quantile(col, [0.005, 0.995])
            pad = 0.08 * (q1 - q0) if q1 > q0 else max(abs(q0), 1.0) * 1e-3
            lo, hi = max(lo, q0 - pad), min(hi, q1 + pad)
        limits.append((lo, hi))
    ticks = [_inner_ticks(lo, hi) for lo, hi in limits]
    left, bottom, top, right = 0.62, 0.62, 0.08, 0.12  # inches; a fixed layout is much faster than a solver
    width, height = panel * k + left + right, panel * k + bottom + top
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=0.08,
        hspace=0.08,
    )
    grid = fig.add_gridspec(k, k)
    for i in range(k):
        for j in range(i + 1):  # lower triangle only
            ax = fig.add_subplot(grid[i, j])
            if i == j:
                marginal_plot(ax, s[:, i], limits[i], None if truth is None else truth[i], annotate=False, legend=False)
            else:
                h, xe, ye = np.histogram2d(s[:, j], s[:, i], bins=bins, range=[limits[j], limits[i]])
                ax.imshow(
                    np.where(h > 0, h, np.nan).T,
                    origin="lower",
                    extent=(xe[0], xe[-1], ye[0], ye[-1]),
                    aspect="auto",
                    cmap="Blues",
                )
                _credible_contours(ax, h, xe, ye)
                if truth is not None:
                    ax.plot(truth[j], truth[i], "x", color=FLAG_COLORS[0], ms=5, mew=1.5)
                ax.set_xlim(limits[j])
                ax.set_ylim(limits[i])
                ax.spines[["top", "right"]].set_visible(True)
            ax.xaxis.set_major_locator(FixedLocator(ticks[j]))
            if i != j:  # the diagonal's y axis is a density: no ticks
                ax.yaxis.set_major_locator(FixedLocator(ticks[i]))
            ax.tick_params(labelsize=7, length=2.5, pad=1.5)
            if i == k - 1:
                ax.set_xlabel(plot_text(names[j], 16))
                for text in ax.get_xticklabels():  # rotated, ending at the tick: clear of the next panel's labels
                    text.set(rotation=45, ha="right", rotation_mode="anchor")
            else:
                ax.set_xlabel("")
                ax.tick_params(labelbottom=False)
            if j == 0 and i > 0:
                ax.set_ylabel(plot_text(names[i], 16))
            else:
                ax.tick_params(labelleft=False)
    return fig


def _inner_ticks(lo: float, hi: float, margin: float = 0.15) -> np.ndarray:
    """Two to four round tick positions in [lo, hi], each at least margin x (hi - lo) from both ends, so the
    labels of neighbouring corner-plot panels cannot run into each other."""
    if not hi > lo:
        return np.array([lo])
    pad = margin * (hi - lo)
    inner = np.array([])
    for bins in (3, 4, 6):
        values = MaxNLocator(bins).tick_values(lo + pad, hi - pad)
        inner = values[(values >= lo + pad - 1e-9 * (hi - lo)) & (values <= hi - pad + 1e-9 * (hi - lo))]
        if inner.size >= 2:
            break
    return inner


def _credible_contours(ax, h: np.ndarray, xe: np.ndarray, ye: np.ndarray, fractions=(0.95, 0.68)) -> None:
    """Lines around the densest 68 % (thick) and 95 % (thin) of a 2-D histogram's samples, lightly smoothed."""
    smooth = gaussian_filter(h.astype(np.float64), 0.8)
    flat = np.sort(smooth.ravel())[::-1]
    if flat.sum() <= 0:
        return
    cum = np.cumsum(flat) / flat.sum()
    levels = [flat[min(int(np.searchsorted(cum, f)), flat.size - 1)] for f in fractions]
    if not 0 < levels[0] < levels[1]:
        return
    centers = (xe[:-1] + xe[1:]) / 2, (ye[:-1] + ye[1:]) / 2
    ax.contour(*centers, smooth.T, levels=levels, colors="#0b2545", linewidths=(0.6, 1.1))


def _flag_labels(flags, n: int) -> np.ndarray:
    """Flags as an array of category strings ('' = not flagged) from None, booleans or strings."""
    if flags is None:
        return np.full(n, "", dtype=object)
    f = np.asarray(flags)
    if f.dtype == bool:
        return np.where(f, "flagged", "").astype(object)
    return np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in f], dtype=object)


@_styled
def interval_plot(
    ids: Sequence,
    median: np.ndarray,
    lo68: np.ndarray,
    hi68: np.ndarray,
    lo95: np.ndarray,
    hi95: np.ndarray,
    name: str,
    flags: Sequence | None = None,
    value_range: tuple[float, float] | None = None,
    colors: Mapping[str, str] | None = None,
    max_rows: int = 50,
    max_points: int = 800,
) -> Figure:
    """Estimates with 68 % (thick) and 95 % (thin) intervals across rows; flagged rows in colour.

    flags: None, booleans, or a category string per row ('' = not flagged; each category gets a
    colour, from colors or else FLAG_COLORS, and a legend entry).  Up to max_rows rows: one labelled
    line per row.  More rows: a compact view with rows sorted by median and the intervals as bands,
    thinned to max_points positions; flagged rows stay visible as coloured points.  Rows with a NaN
    median are left out and counted in the title."""
    med = np.asarray(median, dtype=np.float64)
    lo68, hi68, lo95, hi95 = (np.asarray(a, dtype=np.float64) for a in (lo68, hi68, lo95, hi95))
    ids = np.asarray(list(ids), dtype=object)
    cat = _flag_labels(flags, med.size)
    keep = np.isfinite(med)
    missing = int((~keep).sum())
    ids, med, lo68, hi68, lo95, hi95, cat = (a[keep] for a in (ids, med, lo68, hi68, lo95, hi95, cat))
    m = med.size
    categories = [c for c in dict.fromkeys(cat) if c]
    palette = [c for c in FLAG_COLORS if c not in (colors or {}).values()] or list(FLAG_COLORS)
    colors = {c: (colors or {}).get(c) or palette[i % len(palette)] for i, c in enumerate(categories)}
    title = f"{plot_text(name)}: {m} row{'s' * (m != 1)} with an estimate"
    if missing:
        title += f" ({missing} without, not shown)"
    label = plot_text(name)
    if m <= max_rows:
        fig = new_figure(7.6, 0.9 + 0.18 * max(m, 3))
        ax = fig.subplots()
        y = np.arange(m)
        base = np.array([colors.get(c, BLUE) for c in cat], dtype=object)
        ax.hlines(y, lo95, hi95, colors=base, lw=1.2, alpha=0.75)
        ax.hlines(y, lo68, hi68, colors=base, lw=4.0, alpha=0.55)
        ax.scatter(med, y, s=16, c=DARK, zorder=3, label="median")
        for c in categories:
            sel = cat == c
            ax.scatter(med[sel], y[sel], s=26, c=colors[c], zorder=4, label=plot_text(c, 30))
        ax.set_yticks(y, [plot_text(i, 18) for i in ids])
        ax.set_ylim(m - 0.4, -0.6)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="x", color="#e4e7eb", lw=0.7)
        ax.set_axisbelow(True)
        ax.set_xlabel(label)
    else:
        fig = new_figure(7.6, 3.4)
        ax = fig.subplots()
        order = np.argsort(med, kind="stable")
        rank = np.arange(m)
        pick = np.unique(np.linspace(0, m - 1, min(m, max_points)).round().astype(int))
        o = order[pick]
        ax.fill_between(rank[pick], lo95[o], hi95[o], color=BLUE, alpha=0.14, lw=0, label="95 % interval")
        ax.fill_between(rank[pick], lo68[o], hi68[o], color=BLUE, alpha=0.30, lw=0, label="68 % interval")
        ax.plot(rank[pick], med[o], color=DARK, lw=1.2, label="median")
        position = np.empty(m, dtype=int)
        position[order] = rank
        for c in categories:
            sel = np.flatnonzero(cat == c)
            sel = sel[np.unique(np.linspace(0, sel.size - 1, min(sel.size, max_points)).round().astype(int))]
            ax.scatter(position[sel], med[sel], s=12, c=colors[c], zorder=4, label=plot_text(c, 30), lw=0)
        ax.set_xlim(-0.5, m - 0.5)
        ax.set_xlabel(f"rows, sorted by median {label}")
        ax.set_ylabel(label)
        ax.grid(axis="y", color="#e4e7eb", lw=0.7)
        ax.set_axisbelow(True)
    if value_range is not None:
        (ax.set_xlim if m <= max_rows else ax.set_ylim)(*value_range)
    ax.set_title(title)
    if m <= max_rows:
        handles = [
            Line2D([], [], color=BLUE, lw=4, alpha=0.55, label="68 % interval"),
            Line2D([], [], color=BLUE, lw=1.2, alpha=0.75, label="95 % interval"),
        ]
        handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig


@_styled
def map_plot(
    pixel: np.ndarray,
    values: np.ndarray,
    title: str,
    cmap: str = "viridis",
    label: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    marks: np.ndarray | None = None,
    max_side: int = 800,
    max_marks: int = 2000,
) -> Figure:
    """An image from (row, col) pixel coordinates (n, 2) and values (n,), with a colorbar.

    Pixels without a row, or with a NaN value, are drawn grey; marks (n,) bool crosses out pixels
    (drawn when the image is not binned and there are at most max_marks of them).  Images larger than
    max_side pixels on a side are shown in blocks of f x f pixels (their mean), and the title says so."""
    p = np.asarray(pixel, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64).ravel()
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] != v.size:
        raise ValueError(f"pixel must be (n, 2) and values (n,), got {p.shape} and {v.shape}")
    placed = np.all(np.isfinite(p), axis=1)
    p, v = p[placed].astype(np.int64), v[placed]
    marked = np.zeros(v.size, bool) if marks is None else np.asarray(marks, dtype=bool).ravel()[placed]
    if p.size == 0:
        fig = new_figure(3.0, 1.0)
        ax = fig.subplots()
        ax.set_axis_off()
        ax.set_title(plot_text(title, 80) + ": no pixels")
        return fig
    r0, c0 = p.min(axis=0)
    nr, nc = p.max(axis=0) - (r0, c0) + 1
    f = max(1, math.ceil(max(nr, nc) / max_side))
    shape = (math.ceil(nr / f), math.ceil(nc / f))
    flat = ((p[:, 0] - r0) // f) * shape[1] + (p[:, 1] - c0) // f
    good = np.isfinite(v)
    sums = np.bincount(flat[good], weights=v[good], minlength=shape[0] * shape[1])
    counts = np.bincount(flat[good], minlength=shape[0] * shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        image = np.where(counts > 0, sums / counts, np.nan).reshape(shape)
    width = 4.4
    height = float(np.clip(width * 0.82 * nr / nc + 0.5, 1.6, 5.5))
    fig = new_figure(width, height)
    ax = fig.subplots()
    colors = matplotlib.colormaps[cmap].with_extremes(bad=MISSING_COLOR)
    extent = (c0 - 0.5, c0 - 0.5 + shape[1] * f, r0 - 0.5 + shape[0] * f, r0 - 0.5)
    im = ax.imshow(image, cmap=colors, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
    if f == 1 and 0 < marked.sum() <= max_marks:
        size = float(np.clip(160 / max(nr, nc), 3, 9))
        ax.plot(p[marked, 1], p[marked, 0], "x", color="#ffffff", ms=size + 1, mew=3)
        ax.plot(p[marked, 1], p[marked, 0], "x", color=FLAG_COLORS[0], ms=size, mew=1.6)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
    ax.xaxis.set_major_locator(MaxNLocator(6, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(6, integer=True))
    ax.set_xlabel("col")
    ax.set_ylabel("row")
    ax.spines[["top", "right"]].set_visible(True)
    ax.set_title(plot_text(title, 80) + (f" (blocks of {f}\u00d7{f} pixels)" if f > 1 else ""))
    bar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02, aspect=22)
    bar.set_label(plot_text(label, 40))
    bar.ax.tick_params(labelsize=7.5)
    return fig
