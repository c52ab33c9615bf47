"""Figures of the comparison protocol (invert.core.evaluation): calibration curves of every method per target
parameter and the posterior correlation matrix averaged over the test set, on figures from invert.core.plots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from matplotlib.figure import Figure

from .diagnostics import calibration_curve
from .plots import new_figure
from .summaries import correlation

if TYPE_CHECKING:
    from .evaluation import MethodRun

__all__ = ["calibration_figure", "correlation_figure"]


def calibration_figure(
    runs: dict[str, MethodRun], x_test: np.ndarray, names: Sequence[str], targets: Sequence[str]
) -> Figure:
    """Calibration curves (coverage - confidence against confidence): a panel per target, a line per method."""
    fig = new_figure(min(4.2 * len(targets), 13.0), 3.4 * -(-len(targets) // 3))
    axes = np.atleast_1d(fig.subplots(-(-len(targets) // 3), min(len(targets), 3), squeeze=False)).ravel()
    for ax, target in zip(axes, targets):
        i = list(names).index(target)
        for method, run in runs.items():
            q, err = calibration_curve(run.samples[:, :, i : i + 1], x_test[:, i : i + 1])
            ax.plot(q, err[:, 0], label=method, lw=1.4)
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set(xlabel="confidence q", ylabel="coverage(q) \u2212 q", title=f"Calibration of {target}")
    for ax in axes[len(targets) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, ncol=2)
    return fig


def correlation_figure(samples: np.ndarray, names: Sequence[str], title: str) -> Figure:
    """Image of the posterior correlation matrix averaged over the test observations."""
    mean_corr = correlation(samples).mean(axis=0)
    k = len(names)
    fig = new_figure(max(4.6, 1.0 + 0.5 * k), 0.8 + 0.45 * k)
    ax = fig.subplots()
    im = ax.imshow(mean_corr, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(k), names, rotation=60, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    for i in range(k):
        for j in range(k):
            if i != j and abs(mean_corr[i, j]) >= 0.1:
                ax.text(j, i, f"{mean_corr[i, j]:.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, shrink=0.8, label="mean posterior correlation")
    ax.set_title(title, fontsize=9)
    return fig
