"""Posterior analysis of a scan: samples, summaries, OOD flags and re-simulation error, in batches of rows.

Memory stays bounded for any number of rows (invert.core.analysis): samples of one batch are summarized
and dropped; only the first `max_detailed` usable rows keep theirs (for the report), and `--save-samples`
streams every batch into a .npy file.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from invert.core import Posterior
from invert.core.analysis import Analysis, analyse
from invert.core.diagnostics import resimulation_error
from invert.core.problem import prior_std

from .io import Scan
from .problem import TissueProblem


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

    def resim(s: np.ndarray, y_b: np.ndarray) -> dict[str, np.ndarray]:
        error = resimulation_error(s[:, :resim_samples], y_b, problem.forward) if resim_samples else np.full(len(y_b), np.nan)
        return {"resim_error": error}

    result = analyse(post, y, names, prior_std(problem), n_samples, seed, resim, batch=rows_per_batch,
                     max_detailed=max_detailed, sink=sink, progress=progress)
    result.summary = _assemble(scan, ok, y, post, result.summary, names)
    return result


def _assemble(scan: Scan, ok: np.ndarray, y: np.ndarray, post: Posterior, stats: pd.DataFrame, names: list[str]) -> pd.DataFrame:
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
    stats.index = ok
    modal = [f"{p}_multimodal" for p in names if f"{p}_multimodal" in stats]
    table["multimodal"] = stats[modal].any(axis=1).reindex(range(n), fill_value=False).to_numpy(bool) if modal else False
    table["resim_error"] = stats["resim_error"].reindex(range(n))
    return pd.concat([table, stats.drop(columns="resim_error").reindex(range(n))], axis=1)
