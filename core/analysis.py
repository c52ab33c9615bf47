"""Posterior analysis of many observations in batches, with bounded memory.

Samples of one batch (`draw` of a PosteriorLike, e.g. a Posterior or an ImportancePosterior, whose diagnostics
become columns) are summarized (`summaries.summarize`) and dropped; only the first `max_detailed`
observations keep theirs (for a report), and a `sink` (e.g. `outputs.NpyRows`) may receive every batch
with its row numbers to stream all samples to disk. Whatever else an application computes from the samples
(re-simulation errors, predictive checks) comes from its `extra` function, called on each batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .posterior import PosteriorLike
from .progress import Progress
from .summaries import summarize

__all__ = ["Analysis", "analyse", "width_ratio"]

Extra = Callable[[np.ndarray, np.ndarray], Mapping[str, np.ndarray]]


@dataclass
class Analysis:
    """One summary row per observation, a few observations' samples and the posterior/prior widths."""

    summary: pd.DataFrame  # summarize() columns, then those of `extra`
    detailed: np.ndarray  # (k, n_samples, dx) samples of the first k observations
    ratios: np.ndarray  # (n, dx) posterior std / prior std of each observation
    names: Sequence[str]
    rows: np.ndarray  # (n,) row number of each observation in the input (`detailed` are those of rows[:k])

    @property
    def width_ratio(self) -> dict[str, float]:
        """Per parameter: median over observations of posterior std / prior std."""
        return width_ratio(self.ratios, self.names)


def width_ratio(ratios: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Per parameter: median over observations (rows of ratios) of posterior std / prior std."""
    width = np.median(ratios, axis=0) if len(ratios) else np.full(len(names), np.nan)
    return dict(zip(names, width.round(3).tolist()))


def analyse(
    post: PosteriorLike,
    y: np.ndarray,
    names: Sequence[str],
    prior_sd: np.ndarray,
    n_samples: int = 4096,
    seed: int = 0,
    extra: Extra | None = None,
    n_modes: int = 0,
    batch: int = 256,
    max_detailed: int = 20,
    sink: Callable[[np.ndarray, np.ndarray], None] | None = None,
    progress: bool | Progress = True,
    what: str = "rows",
    rows: np.ndarray | None = None,
) -> Analysis:
    """Samples, summaries and extra(samples, y) columns for observations y (B, dy), `batch` rows at a time.

    Observation i is sampled with the noise of row number rows[i] (default i; Posterior.sample), so a long
    input analysed in chunks (rows = the observations' rows in the whole input) gives the results of one call.
    progress: True for a progress line of this call, or a Progress shared by the calls of a stream."""
    y = np.asarray(y, dtype=np.float32)
    rows = np.arange(len(y)) if rows is None else np.asarray(rows)
    own_meter = not isinstance(progress, Progress)
    meter = Progress("posteriors", len(y), what, bool(progress and len(y))) if own_meter else progress
    blocks, detailed, ratios = [], [], []
    for start in range(0, max(len(y), 1), batch):
        y_b = y[start : start + batch]
        s, diagnostics = post.draw(y_b, n_samples, seed=seed, rows=rows[start : start + batch])
        block = summarize(s, names, n_modes=n_modes)
        for key, value in diagnostics.items():
            block[key] = value
        for key, value in (extra(s, y_b) if extra is not None else {}).items():
            block[key] = value
        blocks.append(block)
        ratios.append((s.std(axis=1) / prior_sd).astype(np.float32))
        if len(detailed) < max_detailed:
            detailed.extend(s[: max_detailed - len(detailed)])
        if sink is not None:
            sink(s, rows[start : start + batch])
        meter.advance(len(y_b))
    if own_meter:
        meter.close()
    samples = np.stack(detailed) if detailed else np.empty((0, n_samples, len(names)), dtype=np.float32)
    return Analysis(pd.concat(blocks, ignore_index=True), samples, np.concatenate(ratios), list(names), rows)
