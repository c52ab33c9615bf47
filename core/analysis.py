"""Posterior analysis of many observations in batches, with bounded memory.

Samples of one batch (`draw` of a PosteriorLike, e.g. a Posterior or an ImportancePosterior, whose diagnostics
become columns) are summarized (`summaries.summarize`) and dropped; only the first `max_detailed`
observations keep theirs (for a report), and a `sink` (e.g. `outputs.NpyRows`) may receive every batch
with its row numbers to stream all samples to disk. Whatever else an application computes from the samples
(re-simulation errors, predictive checks) comes from its `extra` function, called on each batch.

Two options make large inputs fast without changing any row's result: `draws_per_pass` sends the draws of a
batch through the network a few rows at a time (`pass_draws`: on a CPU the activations of ~4,000 draws stay in
its caches, 2-3 times the speed of one pass of a whole batch; a row's draws are the same either way), and `kde`
limits the costly KDE columns of the summaries (MAP, multimodality) to some parameters, except for the
detailed observations, which get every column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .posterior import PosteriorLike
from .progress import Progress
from .summaries import summarize

__all__ = ["Analysis", "analyse", "width_ratio", "pass_draws", "CPU_PASS_DRAWS"]

CPU_PASS_DRAWS = 4096  # draws per network pass on a CPU: 2,048-4,096 ran fastest for the tissue cINN (hidden 128)

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


def pass_draws(device: object) -> int | None:
    """Draws per network pass on a device (a torch.device or its name): CPU_PASS_DRAWS on a CPU, None (a whole
    batch at once) on an accelerator."""
    return CPU_PASS_DRAWS if str(device).startswith("cpu") else None


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
    draws_per_pass: int | None = None,
    kde: Sequence[str] | None = None,
) -> Analysis:
    """Samples, summaries and extra(samples, y) columns for observations y (B, dy), `batch` rows at a time.

    Observation i is sampled with the noise of row number rows[i] (default i; Posterior.sample), so a long
    input analysed in chunks (rows = the observations' rows in the whole input) gives the results of one call.
    progress: True for a progress line of this call, or a Progress shared by the calls of a stream.
    draws_per_pass: at most this many draws per `draw` call (whole rows, at least one; None: a batch at once).
    kde: the parameters whose KDE summary columns every observation gets (summarize's kde; None: all); the
    first max_detailed observations get all."""
    y = np.asarray(y, dtype=np.float32)
    rows = np.arange(len(y)) if rows is None else np.asarray(rows)
    own_meter = not isinstance(progress, Progress)
    meter = Progress("posteriors", len(y), what, bool(progress and len(y))) if own_meter else progress
    blocks, detailed, ratios = [], [], []
    for start in range(0, max(len(y), 1), batch):
        y_b = y[start : start + batch]
        s, diagnostics = _draw(post, y_b, n_samples, seed, rows[start : start + batch], draws_per_pass)
        block = _summaries(s, names, n_modes, kde, max_detailed - len(detailed))
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


def _summaries(
    s: np.ndarray, names: Sequence[str], n_modes: int, kde: Sequence[str] | None, detailed: int
) -> pd.DataFrame:
    """summarize() of a batch's samples (B, n, dx): the KDE columns of the parameters kde only (None: all), but of
    every parameter for the first `detailed` observations."""
    k = min(len(s), max(detailed, 0)) if kde is not None else 0
    parts = [summarize(s[:k], names, n_modes=n_modes)] if k else []
    if k < len(s) or not parts:
        parts.append(summarize(s[k:], names, n_modes=n_modes, kde=kde))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _draw(
    post: PosteriorLike, y: np.ndarray, n: int, seed: int, rows: np.ndarray, draws_per_pass: int | None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """post.draw of observations y (B, dy), at most draws_per_pass draws (whole rows) per call."""
    step = len(y) if draws_per_pass is None else max(1, draws_per_pass // n)
    if step >= len(y):
        return post.draw(y, n, seed=seed, rows=rows)
    parts = [post.draw(y[i : i + step], n, seed=seed, rows=rows[i : i + step]) for i in range(0, len(y), step)]
    diagnostics = {key: np.concatenate([d[key] for _, d in parts]) for key in parts[0][1]}
    return np.concatenate([s for s, _ in parts]), diagnostics
