"""Posterior analysis of one chunk of a scan: samples, summaries, OOD flags and re-simulation error.

The kit's MainJob streams the scan through `analyse_chunk` chunk by chunk and keeps the `report_column`s
of every row; row i's posterior depends only on the seed and i (invert.core.noise). The network sees the
draws a few rows at a time on a CPU (core.analysis.pass_draws), which does not change them. An image's
pixels may get the KDE summaries (MAP, multimodality) of some parameters only (`kde`) and re-simulation for
the detailed rows only (`resim_everywhere=False`): the rows the report details get everything.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from invert.core import Posterior
from invert.core.analysis import analyse, pass_draws
from invert.core.diagnostics import resimulation_error
from invert.core.problem import prior_std
from invert.core.progress import Progress

from ..kit.job import ChunkResult
from .io import Scan
from .problem import TissueProblem

TARGET = "sO2"
NON_FINITE = "band values out of range (features not finite)"
COLUMNS = {  # (unit, description) of the tissue app's own summary columns (summary.ecsv)
    "saturated": ("", "brightest band at the full scale of 8-, 12- or 16-bit integer data"),
    "resim_error": ("", "re-simulation error: mean |f(x) - y| of re-simulated posterior samples, in feature units"),
}
ROW_COLUMNS = ("id", "row", "col", "status", "ood", "ood_score", "saturated", "multimodal", "resim_error")


def analyse_chunk(
    scan: Scan,
    *,
    post: Posterior,
    problem: TissueProblem,
    n_samples: int = 4096,
    seed: int = 0,
    resim_samples: int = 8,
    resim_everywhere: bool = True,
    kde: tuple[str, ...] | None = None,
    start: int = 0,
    max_detailed: int = 20,
    batch: int = 256,
    sink: Callable[[np.ndarray, np.ndarray], None] | None = None,
    progress: bool | Progress = True,
) -> ChunkResult:
    """Posterior summaries for every usable row of a scan (a chunk whose first row is row `start` of the file);
    flagged rows keep their status and empty cells. A row's posterior draws depend only on the seed and its
    row number in the file. resim_everywhere=False: re-simulation for the first max_detailed usable rows only;
    kde: the parameters whose MAP and multimodality every row gets (None: all; the detailed rows get all)."""
    names = list(problem.x_names)
    ok = np.flatnonzero(scan.ok)
    y = problem.preprocess(scan.raw[ok]) if len(ok) else np.empty((0, len(problem.y_names)))
    finite = np.isfinite(y).all(axis=1)  # e.g. a band at 5e-324 or every band at 1e308: the ratios overflow
    scan.status[ok[~finite]] = NON_FINITE
    ok, y = ok[finite], y[finite]

    resim_left = len(ok) if resim_everywhere else max(max_detailed, 0)  # rows still to re-simulate, in order

    def resim(s: np.ndarray, y_b: np.ndarray) -> dict[str, np.ndarray]:
        nonlocal resim_left
        k = min(len(y_b), resim_left) if resim_samples else 0
        resim_left -= k
        error = np.full(len(y_b), np.nan)
        if k:
            error[:k] = resimulation_error(s[:k, :resim_samples], y_b[:k], problem.forward)
        return {"resim_error": error}

    result = analyse(
        post,
        y,
        names,
        prior_std(problem),
        n_samples,
        seed,
        resim,
        batch=batch,
        max_detailed=max_detailed,
        sink=sink,
        progress=progress,
        rows=start + ok,
        draws_per_pass=pass_draws(getattr(post, "device", "cpu")),
        kde=kde,
    )
    return ChunkResult(_assemble(scan, ok, y, post, result.summary, names), result, y)


def report_column(name: str) -> bool:
    """Whether the report needs a summary column for every row (the others are only in summary.csv)."""
    return name.endswith("_median") or name.startswith(f"{TARGET}_") or name in ROW_COLUMNS


def _assemble(
    scan: Scan, ok: np.ndarray, y: np.ndarray, post: Posterior, stats: pd.DataFrame, names: list[str]
) -> pd.DataFrame:
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
    table["multimodal"] = (
        stats[modal].any(axis=1).reindex(range(n), fill_value=False).to_numpy(bool) if modal else False
    )
    table["resim_error"] = stats["resim_error"].reindex(range(n))
    return pd.concat([table, stats.drop(columns="resim_error").reindex(range(n))], axis=1)
