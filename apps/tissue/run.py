"""The main job, `invert tissue --input scan.csv` (or an image `scan.npy --bands ...`): read, check, infer,
summarize, report; the steps every app shares are the kit's MainJob (apps/kit/job.py).

Tables (CSV) and images get different defaults where --samples or --resim is not given (`Plan`): a table's rows
4,096 draws each, 8 of them re-simulated; an image's pixels IMAGE_SAMPLES draws, as accurate for the sO2 median
and 68 % width (benchmarks/results/tissue_frames.md), with re-simulation for the pixels the report details only.
An image's pixels always get the MAP and multimodality flag of sO2 only (IMAGE_KDE), the detailed pixels every
summary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
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
from .problem import TissueProblem, problem_for
from .report import report_thresholds, tissue_report

TABLE_SAMPLES = 4096  # posterior draws per row of a table (CSV)
TABLE_RESIM = 8  # re-simulated draws per row of a table, every row
IMAGE_SAMPLES = 256  # per pixel: sO2 median and 68 % width as accurate as with 4,096 (see the module docstring)
IMAGE_RESIM = 8  # re-simulated draws per pixel, of the pixels the report details only
IMAGE_KDE = ("sO2",)  # the parameters whose MAP and multimodality every pixel gets (the report's flag)


@dataclass(frozen=True)
class Plan:
    """How a scan is analysed: its kind of input's defaults where the command line left --samples or --resim out."""

    kind: str  # "table" or "image"
    n_samples: int
    resim_samples: int
    resim_everywhere: bool  # False: only the rows the report details are re-simulated
    kde: tuple[str, ...] | None  # parameters whose MAP and multimodality every row gets (None: all)
    defaults: tuple[str, ...]  # the options left to the kind's defaults

    @classmethod
    def of(cls, image: bool, n_samples: int | None, resim_samples: int | None) -> "Plan":
        """The plan of an image or a table with the options given (None: not given)."""
        samples, resim = (IMAGE_SAMPLES, IMAGE_RESIM) if image else (TABLE_SAMPLES, TABLE_RESIM)
        defaults = tuple(o for o, v in (("--samples", n_samples), ("--resim", resim_samples)) if v is None)
        return cls(
            kind="image" if image else "table",
            n_samples=samples if n_samples is None else n_samples,
            resim_samples=resim if resim_samples is None else resim_samples,
            resim_everywhere=not image or resim_samples is not None,
            kde=IMAGE_KDE if image else None,
            defaults=defaults,
        )

    def resim_rows(self, detailed: int) -> str:
        """Which rows are re-simulated, in words."""
        if not self.resim_samples:
            return "none"
        return "every row" if self.resim_everywhere else f"the {detailed} detailed rows only"

    def line(self, detailed: int) -> str:
        """The plan in one line (which defaults were used)."""
        given = f"{self.kind} defaults for {' and '.join(self.defaults)}" if self.defaults else "as given"
        resim = f"{self.resim_samples} re-simulated draws of {self.resim_rows(detailed)}" if self.resim_samples else ""
        kde = f"MAP and multimodality of {', '.join(self.kde)} only (all for detailed rows)" if self.kde else ""
        parts = [f"{self.n_samples:,} samples per row", resim or "no re-simulation", kde]
        return f"{given}: " + "; ".join(p for p in parts if p)

    def record(self, detailed: int) -> dict[str, object]:
        """The plan for run.json."""
        return {
            "input_kind": self.kind,
            "defaults_used": list(self.defaults),
            "resim_samples": self.resim_samples,
            "resim_rows": self.resim_rows(detailed),
            "kde_parameters": "all" if self.kde is None else list(self.kde),
        }


def run_scan(
    input: Path,
    model: Path,
    out: Path | None,
    settings: JobSettings,
    *,
    bands: Sequence[float] | None = None,
    resim_samples: int | None = None,
) -> int:
    """Write summary.csv, report.html, run.json (samples.npz; sO2 maps for images) for a scan into a new folder
    (replaced whole with settings.overwrite); returns the exit code. settings.n_samples or resim_samples None: the
    defaults of the kind of input (Plan). Problems of the input, model, settings or output folder raise InputError,
    BundleError, ResourceError or OutputError (one line each) before any work."""
    post, problem = load_model(model, "tissue", problem_for, device=settings.device)
    source = open_scan(Path(input), problem.camera.band_centers_nm, bands, settings.chunk)
    plan = Plan.of(source.image_shape is not None, settings.n_samples, resim_samples)
    settings = dataclasses.replace(settings, n_samples=plan.n_samples)
    job = MainJob(settings, "rows")
    out = out or Path.cwd() / Path(input).stem
    options = {  # a resumed run's too
        "--bands": None if bands is None else list(bands),
        "--resim": plan.resim_samples,
        "re-simulated rows": plan.resim_rows(settings.detailed),
    }
    with job.open_output(
        out, input=input, model=model, post=post, problem=problem, n_rows=source.n_rows, options=options
    ) as folder:
        job.manifest.settings |= plan.record(settings.detailed)
        for warning in source.warnings:
            job.warn(warning)
        shape = (
            f"image {source.image_shape[0]} x {source.image_shape[1]} pixels"
            if source.image_shape
            else f"{source.n_rows:,} rows"
        )
        job.say(f"{input}: {shape}; model {model.name} ({post.method}, {post.metadata.get('n_sims', '?')} simulations)")
        job.say(plan.line(settings.detailed))
        analyse = partial(
            analyse_chunk,
            post=post,
            problem=problem,
            n_samples=plan.n_samples,
            seed=settings.seed,
            resim_samples=plan.resim_samples,
            resim_everywhere=plan.resim_everywhere,
            kde=plan.kde,
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
        files["report.html"] = _report(result, input, model, post, problem, settings, plan, job.footer())
        return job.finish(files, table=table, n_ok=int(table["sO2_median"].notna().sum()), source=input)


def _report(
    result: Streamed,
    input: Path,
    model: Path,
    post: ic.Posterior,
    problem: TissueProblem,
    settings: JobSettings,
    plan: Plan,
    footer: str,
) -> str:
    """report.html of a streamed scan (footer: HTML of what produced it)."""
    info = {
        "model": str(model),
        "method": post.method,
        "camera": f"{problem.camera.name} ({len(problem.y_names)} bands)",
        "simulator": problem.version,
        "input": str(input),
        "n_sims": post.metadata.get("n_sims"),
        "samples": settings.n_samples,
        "seed": settings.seed,
        "re-simulated samples per row": plan.resim_samples,
        "re-simulated rows": plan.resim_rows(settings.detailed),
        "defaults": plan.line(settings.detailed),
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
