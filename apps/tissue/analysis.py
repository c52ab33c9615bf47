"""Posterior analysis of a scan: samples, summaries, OOD flags and re-simulation error, in batches of rows.

Memory stays bounded for any number of rows: the scan streams in chunks (`analyse_chunks`), each chunk's
summary rows go straight to summary.csv, samples of one batch are summarized and dropped, and only what
the report needs stays in memory (a few numbers per row, the samples of the first `max_detailed` usable
rows); `--save-samples` streams every batch into a .npy file. Row i's posterior depends only on the seed
and i (invert.core.noise), so the chunk size never changes a result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from invert.core import Posterior
from invert.core.analysis import Analysis, analyse, width_ratio
from invert.core.diagnostics import resimulation_error
from invert.core.outputs import spreadsheet_safe
from invert.core.problem import prior_std
from invert.core.progress import Progress

from .io import Scan
from .problem import TissueProblem

TARGET = "sO2"
NON_FINITE = "band values out of range (features not finite)"
ROW_COLUMNS = ("id", "row", "col", "status", "ood", "ood_score", "saturated", "multimodal", "resim_error")


def analyse_scan(
    scan: Scan,
    post: Posterior,
    problem: TissueProblem,
    n_samples: int = 4096,
    seed: int = 0,
    resim_samples: int = 8,
    rows_per_batch: int = 256,
    max_detailed: int = 20,
    sink: Callable[[np.ndarray, np.ndarray], None] | None = None,
    progress: bool | Progress = True,
    row_offset: int = 0,
) -> Analysis:
    """Posterior summaries for every usable row of a scan; flagged rows keep their status and empty cells.
    row_offset: rows before this scan in the file (when it is one chunk of a longer one); a row's posterior
    draws depend only on the seed and its row number in the file."""
    names = list(problem.x_names)
    ok = np.flatnonzero(scan.ok)
    y = problem.preprocess(scan.raw[ok]) if len(ok) else np.empty((0, len(problem.y_names)))
    finite = np.isfinite(y).all(axis=1)  # e.g. a band at 5e-324 or every band at 1e308: the ratios overflow
    scan.status[ok[~finite]] = NON_FINITE
    ok, y = ok[finite], y[finite]

    def resim(s: np.ndarray, y_b: np.ndarray) -> dict[str, np.ndarray]:
        error = resimulation_error(s[:, :resim_samples], y_b, problem.forward) if resim_samples else np.full(len(y_b), np.nan)
        return {"resim_error": error}

    result = analyse(post, y, names, prior_std(problem), n_samples, seed, resim, batch=rows_per_batch,
                     max_detailed=max_detailed, sink=sink, progress=progress, rows=row_offset + ok)
    result.summary = _assemble(scan, ok, y, post, result.summary, names)
    return result


@dataclass
class ScanResult:
    """What a streamed scan keeps in memory: the report's columns for every row and a few rows' samples."""

    table: pd.DataFrame  # id, pixel, status, flags, resim_error, every {p}_median and all TARGET statistics
    detailed: np.ndarray  # (k, n_samples, dx) samples of the first k rows with a posterior
    detailed_rows: np.ndarray  # (k,) their row numbers in the table
    width_ratio: dict[str, float]  # per parameter: median over rows of posterior std / prior std


def analyse_chunks(
    chunks: Iterable[Scan],
    post: Posterior,
    problem: TissueProblem,
    summary_csv: Path,
    n_samples: int = 4096,
    seed: int = 0,
    max_detailed: int = 20,
    sink: Callable[[np.ndarray, np.ndarray], None] | None = None,
    progress: bool | Progress = True,
    resim_samples: int = 8,
    rows_per_batch: int = 256,
) -> ScanResult:
    """Analyse a scan chunk by chunk, writing its summary rows to summary_csv as they are done."""
    tables, detailed, detailed_rows, ratios, n_rows = [], [], [], [], 0
    with open(summary_csv, "w", encoding="utf-8", newline="") as fh:
        for i, scan in enumerate(chunks):
            result = analyse_scan(scan, post, problem, n_samples, seed, resim_samples, max_detailed=max_detailed - len(detailed),
                                  rows_per_batch=rows_per_batch, sink=sink, progress=progress, row_offset=n_rows)
            spreadsheet_safe(result.summary).to_csv(fh, header=i == 0, index=False, float_format="%.6g")
            keep = [c for c in result.summary if c.endswith("_median") or c.startswith(f"{TARGET}_")
                    or c in ROW_COLUMNS]
            tables.append(result.summary[keep])
            detailed.extend(result.detailed)
            detailed_rows.extend(result.rows[: len(result.detailed)])
            ratios.append(result.ratios)
            n_rows += len(scan.ids)
            if isinstance(progress, Progress):
                progress.advance(int((~scan.ok).sum()))  # flagged rows count as done
    names = list(problem.x_names)
    samples = np.stack(detailed) if detailed else np.empty((0, n_samples, len(names)), dtype=np.float32)
    return ScanResult(pd.concat(tables, ignore_index=True), samples, np.asarray(detailed_rows, dtype=np.int64),
                      width_ratio(np.concatenate(ratios), names))


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
