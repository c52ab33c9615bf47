"""The main job, `invert tissue --input scan.csv` (or an image `scan.npy --bands ...`): read, check, infer,
summarize, report; the steps every app shares are the kit's MainJob (apps/kit/job.py)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import invert.core as ic
from invert.core.recoverability import stored_table

from ..kit.job import JobSettings, MainJob, Streamed
from ..kit.models import load_model
from ..kit.summary_files import SummaryFiles, describer
from .analysis import COLUMNS, analyse_chunk, report_column
from .io import open_scan, saturation_warnings
from .maps import parameter_maps
from .problem import TissueProblem
from .report import report_thresholds, tissue_report


def make_problem(meta: dict) -> TissueProblem:
    """The tissue problem a model was trained for, from its metadata."""
    return TissueProblem(snr=float(meta.get("snr", 10.0)))


def run_scan(
    input: Path,
    model: Path,
    out: Path | None,
    settings: JobSettings,
    *,
    bands: Sequence[float] | None = None,
    resim_samples: int = 8,
) -> int:
    """Write summary.csv, report.html, run.json (samples.npz; sO2 maps for images) for a scan into a new folder
    (replaced whole with settings.overwrite); returns the exit code. Problems of the input, model, settings or output
    folder raise InputError, BundleError, ResourceError or OutputError (one line each) before any work."""
    job = MainJob(settings, "rows")
    post, problem = load_model(model, "tissue", make_problem, device=settings.device)
    source = open_scan(Path(input), problem.camera.band_centers_nm, bands, settings.chunk)
    out = out or Path.cwd() / Path(input).stem
    options = {"--bands": None if bands is None else list(bands), "--resim": resim_samples}  # a resumed run's too
    with job.open_output(
        out, input=input, model=model, post=post, problem=problem, n_rows=source.n_rows, options=options
    ) as folder:
        for warning in source.warnings:
            job.warn(warning)
        shape = (
            f"image {source.image_shape[0]} x {source.image_shape[1]} pixels"
            if source.image_shape
            else f"{source.n_rows:,} rows"
        )
        job.say(f"{input}: {shape}; model {model.name} ({post.method}, {post.metadata.get('n_sims', '?')} simulations)")
        analyse = partial(
            analyse_chunk,
            post=post,
            problem=problem,
            n_samples=settings.n_samples,
            seed=settings.seed,
            resim_samples=resim_samples,
        )
        with SummaryFiles(folder.path, describer(problem.x_names, problem.x_units, COLUMNS), job.rows_done) as write:
            result = job.stream(
                source.chunks, analyse, write, report_column, problem.x_names, source.n_rows, source.approximate
            )
        table = result.table
        for warning in saturation_warnings(table["saturated"].to_numpy(bool), table["id"].to_numpy()):
            job.warn(warning)
        files: dict[str, object] = {}
        if source.image_shape is not None:
            files.update(parameter_maps(table, source.image_shape))
        files["report.html"] = _report(result, input, model, post, problem, settings, resim_samples, job.footer())
        return job.finish(files, table=table, n_ok=int(table["sO2_median"].notna().sum()), source=input)


def _report(
    result: Streamed,
    input: Path,
    model: Path,
    post: ic.Posterior,
    problem: TissueProblem,
    settings: JobSettings,
    resim_samples: int,
    footer: str,
) -> str:
    """report.html of a streamed scan (footer: HTML of what produced it)."""
    info = {
        "model": str(model),
        "method": post.method,
        "simulator": problem.version,
        "input": str(input),
        "n_sims": post.metadata.get("n_sims"),
        "samples": settings.n_samples,
        "seed": settings.seed,
        "re-simulated samples per row": resim_samples,
    }
    table, n_validation = stored_table(post.metadata)
    pixel = result.table[["row", "col"]].to_numpy() if "row" in result.table else None
    return tissue_report(
        result.table,
        result.detailed,
        None,
        pixel,
        result.width_ratio,
        info,
        max_detailed=settings.detailed,
        recoverability=table,
        n_validation=n_validation,
        detailed_rows=result.detailed_rows,
        thresholds=report_thresholds(post, problem),
        footer=footer,
    )
