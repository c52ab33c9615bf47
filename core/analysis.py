"""Posterior analysis of many observations in batches, with bounded memory.

Samples of one batch are summarized (`summaries.summarize`) and dropped; only the first `max_detailed`
observations keep theirs (for a report), and a `sink` (e.g. `report.NpyRows`) may receive every batch
to stream all samples to disk. Whatever else an application computes from the samples (re-simulation
errors, predictive checks) comes from its `extra` function, called on each batch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .estimator import Posterior
from .summaries import summarize

__all__ = ["Analysis", "analyse"]

Extra = Callable[[np.ndarray, np.ndarray], Mapping[str, np.ndarray]]


@dataclass
class Analysis:
    """One summary row per observation, a few observations' samples and the posterior/prior widths."""

    summary: pd.DataFrame  # summarize() columns, then those of `extra`
    detailed: np.ndarray  # (k, n_samples, dx) samples of the first k observations
    width_ratio: dict[str, float]  # per parameter: median over observations of posterior std / prior std


def analyse(
    post: Posterior,
    y: np.ndarray,
    names: Sequence[str],
    prior_sd: np.ndarray,
    n_samples: int = 4096,
    seed: int = 0,
    extra: Extra | None = None,
    n_modes: int = 0,
    batch: int = 256,
    max_detailed: int = 20,
    sink: Callable[[np.ndarray], None] | None = None,
    progress: bool = True,
    what: str = "rows",
) -> Analysis:
    """Samples, summaries and extra(samples, y) columns for observations y (B, dy), `batch` rows at a time;
    batch k is sampled with seed + k * batch, so results do not depend on how many rows follow."""
    y = np.asarray(y, dtype=np.float32)
    blocks, detailed, ratios = [], [], []
    for start in range(0, max(len(y), 1), batch):
        y_b = y[start : start + batch]
        s = post.sample(y_b, n_samples, seed=seed + start)
        block = summarize(s, names, n_modes=n_modes)
        for key, value in (extra(s, y_b) if extra is not None else {}).items():
            block[key] = value
        blocks.append(block)
        ratios.append(s.std(axis=1) / prior_sd)
        if len(detailed) < max_detailed:
            detailed.extend(s[: max_detailed - len(detailed)])
        if sink is not None:
            sink(s)
        if progress and len(y):
            print(f"\rposteriors {min(start + batch, len(y))}/{len(y)} {what}", end="", file=sys.stderr, flush=True)
    if progress and len(y):
        print(file=sys.stderr)
    ratio = np.concatenate(ratios)
    width = np.median(ratio, axis=0) if len(ratio) else np.full(len(names), np.nan)
    samples = np.stack(detailed) if detailed else np.empty((0, n_samples, len(names)), dtype=np.float32)
    return Analysis(pd.concat(blocks, ignore_index=True), samples, dict(zip(names, width.round(3).tolist())))
