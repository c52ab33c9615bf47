"""Posterior analysis of a scan: samples, summaries, OOD flags and re-simulation error, in batches of rows.

Memory stays bounded for any number of rows: samples of one batch are summarized and dropped; only
the first `max_detailed` usable rows keep theirs (for the report), and `--save-samples` streams
every batch into a .npy file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from invert.core import Posterior
from invert.core.diagnostics import resimulation_error
from invert.core.summaries import summarize

from .io import Scan
from .problem import TissueProblem

@dataclass
class Analysis:
    """What the report needs: one summary row per input row, a few rows' samples, posterior/prior widths."""

    summary: pd.DataFrame
    detailed: np.ndarray  # (k, n_samples, dx) samples of the first k usable rows
    width_ratio: dict[str, float]  # median over usable rows of posterior std / prior std


def prior_std(problem: TissueProblem, n: int = 200_000, seed: int = 0) -> np.ndarray:
    """Standard deviation of each parameter under the prior (Monte Carlo)."""
    x = problem.sample_prior(n, torch.Generator().manual_seed(seed))
    return x.double().std(0).numpy()


def analyse_scan(
    scan: Scan,
    post: Posterior,
    problem: TissueProblem,
    n_samples: int = 4096,
    seed: int = 0,
    resim_samples: int = 8,
    rows_per_batch: int = 256,
    max_detailed: int = 20,
    sink: Callable[[np.ndarray], None] | None = None,
    progress: bool = True,
) -> Analysis:
    """Posterior summaries for every usable row of a scan; flagged rows keep their status and empty cells."""
    names = list(problem.x_names)
    ok = np.flatnonzero(scan.ok)
    y = problem.preprocess(scan.raw[ok]) if len(ok) else np.empty((0, len(problem.y_names)))
    blocks, detailed, ratios = [], [], []
    sd_prior = prior_std(problem)
    for start in range(0, len(ok), rows_per_batch):
        y_b = y[start : start + rows_per_batch]
        s = post.sample(y_b, n_samples, seed=seed + start)
        block = summarize(s, names)
        block["resim_error"] = (
            resimulation_error(s[:, :resim_samples], y_b, problem.forward) if resim_samples else np.nan
        )
        blocks.append(block)
        ratios.append(s.std(axis=1) / sd_prior)
        if len(detailed) < max_detailed:
            detailed.extend(s[: max_detailed - len(detailed)])
        if sink is not None:
            sink(s)
        if progress:
            done = min(start + rows_per_batch, len(ok))
            print(f"\rposteriors {done}/{len(ok)} rows", end="", file=sys.stderr, flush=True)
    if progress and len(ok):
        print(file=sys.stderr)
    summary = _assemble(scan, ok, y, post, blocks, names)
    ratio = np.median(np.concatenate(ratios), axis=0) if ratios else np.full(len(names), np.nan)
    samples = np.stack(detailed) if detailed else np.empty((0, n_samples, len(names)), dtype=np.float32)
    return Analysis(summary, samples, dict(zip(names, ratio.round(3).tolist())))


def _assemble(scan: Scan, ok: np.ndarray, y: np.ndarray, post: Posterior, blocks: list[pd.DataFrame], names: list[str]) -> pd.DataFrame:
    """One table row per input row: id, pixel, status, flags, then the per-parameter statistics."""
    n = len(scan.ids)
    table = pd.DataFrame({"id": scan.ids})
    if scan.pixel is not None:
        table["row"], table["col"] = scan.pixel[:, 0], scan.pixel[:, 1]
    status = scan.status.astype(object).copy()
    ood_score = np.full(n, np.nan)
    ood = np.zeros(n, dtype=bool)
    if len(ok):
        ood_score[ok] = post.ood_score(y)
        ood[ok] = post.is_ood(y)
    status[ok[ood[ok]]] = "ood"
    table["status"] = status
    table["ood"] = ood
    table["ood_score"] = ood_score.round(3)
    table["saturated"] = scan.saturated
    empty = summarize(np.empty((0, 2, len(names)), np.float32), names).assign(resim_error=np.nan)
    stats = pd.concat(blocks, ignore_index=True) if blocks else empty
    stats.index = ok
    modal = [f"{p}_multimodal" for p in names if f"{p}_multimodal" in stats]
    table["multimodal"] = stats[modal].any(axis=1).reindex(range(n), fill_value=False).to_numpy(bool) if modal else False
    table["resim_error"] = stats["resim_error"].reindex(range(n))
    return pd.concat([table, stats.drop(columns="resim_error").reindex(range(n))], axis=1)
