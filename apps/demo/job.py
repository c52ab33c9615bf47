"""`invert demo posterior`: posteriors of an 8-mode toy model for every row of a CSV of observations, written by the
kit's MainJob. What an app supplies, and all this one does: a reader (`read_rows`), a problem (`make_problem`),
a row table (`analyse_chunk`) and a report (`demo_report`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from invert.core import Posterior
from invert.core.analysis import analyse
from invert.core.problem import prior_std
from invert.core.progress import Progress
from invert.core.report import escape, html_figure, html_page, html_table, pair_plot
from invert.core.toys import GaussianMixture8

from ..kit.errors import InputError
from ..kit.job import ChunkResult, JobSettings, MainJob, Streamed
from ..kit.models import load_model
from ..kit.summary_files import SummaryFiles, describer


def make_problem(meta: dict) -> GaussianMixture8:
    """The 8-mode toy a model was trained for (it has no settings)."""
    return GaussianMixture8()


@dataclass
class Rows:
    """One chunk of the CSV: ids, observations y (NaN rows where unusable) and a status per row."""

    ids: np.ndarray
    y: np.ndarray
    status: np.ndarray


def read_rows(path: Path, y_names: list[str], chunk: int) -> tuple[Iterator[Rows], int]:
    """The CSV's chunks (an optional id column and one column per observation name) and its row count;
    InputError for a file without those columns, a per-row status for non-numeric or non-finite values."""
    try:
        header = pd.read_csv(path, nrows=0).columns
        n_rows = sum(1 for _ in open(path, "rb")) - 1
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {path} as CSV: {' '.join(str(err).split())}") from None
    missing = [name for name in y_names if name not in header]
    if missing:
        raise InputError(f"{path} lacks the column(s) {', '.join(missing)}; the model observes {', '.join(y_names)}")

    def chunks() -> Iterator[Rows]:
        start = 0
        for part in pd.read_csv(path, chunksize=chunk, dtype=str, keep_default_na=False):
            ids = part["id"].to_numpy(object) if "id" in part else np.arange(start, start + len(part)).astype(str)
            y = part[y_names].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64, copy=True)  # writable
            status = np.where(np.isfinite(y).all(axis=1), "ok", "missing or non-numeric value").astype(object)
            y[status != "ok"] = np.nan
            start += len(part)
            yield Rows(ids.astype(object), y, status)

    return chunks(), max(n_rows, 0)


def analyse_chunk(
    rows: Rows,
    *,
    post: Posterior,
    problem: GaussianMixture8,
    n_samples: int,
    seed: int,
    start: int,
    max_detailed: int,
    batch: int,
    sink: Callable[[np.ndarray, np.ndarray], None] | None,
    progress: Progress,
) -> ChunkResult:
    """One summary row per CSV row: id, status, then the posterior summaries of every parameter."""
    ok = np.flatnonzero(rows.status == "ok")
    y = problem.preprocess(rows.y[ok])
    result = analyse(
        post,
        y,
        problem.x_names,
        prior_std(problem),
        n_samples,
        seed,
        batch=batch,
        max_detailed=max_detailed,
        sink=sink,
        progress=progress,
        rows=start + ok,
    )
    stats = result.summary.set_axis(ok).reindex(range(len(rows.ids)))
    table = pd.concat([pd.DataFrame({"id": rows.ids, "status": rows.status}), stats], axis=1)
    return ChunkResult(table, result, y)


def demo_report(streamed: Streamed, problem: GaussianMixture8, source: Path, footer: str) -> str:
    """report.html: the summary table and each detailed row's posterior samples (footer: what produced it)."""
    names = list(problem.x_names)
    columns = ["id", "status"] + [f"{p}_{s}" for p in names for s in ("median", "q16", "q84")]
    figures = "".join(
        f"<h3>{escape(streamed.table['id'].iloc[row])}</h3>"
        + html_figure(
            pair_plot(samples, names, problem.x_bounds), alt=f"posterior of row {streamed.table['id'].iloc[row]}"
        )
        for row, samples in zip(streamed.detailed_rows, streamed.detailed)
    )
    sections = [
        ("Posterior summaries", html_table(streamed.table[columns], max_rows=500)),
        ("Per-row posteriors", figures or "<p>No row has a posterior.</p>"),
    ]
    return html_page(f"{problem.name} posteriors", sections, subtitle=source.name, footer=footer)


def run_rows(input: Path, model: Path, out: Path | None, settings: JobSettings) -> int:
    """Write summary.csv and report.html for a CSV of toy observations; returns the exit code."""
    job = MainJob(settings, "rows")
    post, problem = load_model(model, GaussianMixture8.name, make_problem, device=settings.device)
    chunks, n_rows = read_rows(input, list(problem.y_names), settings.chunk)
    with job.open_output(
        out or Path.cwd() / input.stem, input=input, model=model, post=post, problem=problem, n_rows=n_rows
    ) as folder:
        analyse = partial(analyse_chunk, post=post, problem=problem, n_samples=settings.n_samples, seed=settings.seed)
        with SummaryFiles(folder.path, describer(problem.x_names, problem.x_units, {}), job.rows_done) as write:
            streamed = job.stream(chunks, analyse, write, lambda column: True, problem.x_names, n_rows)
        n_ok = int((streamed.table["status"] == "ok").sum())
        return job.finish(
            {"report.html": demo_report(streamed, problem, input, job.footer())},
            table=streamed.table,
            n_ok=n_ok,
            source=input,
        )
