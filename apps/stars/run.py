"""The main job, `invert stars --fits file.fits`: read, measure, infer, summarize, report; all or nothing on disk.
Several inputs (`run_many`) go one by one into a folder each.

Mode: absolute (x = logM, logt, logZ, logU, A_V; needs a distance for every object, from --distance-mpc or
the redshift) or ratios-only (no logM, no distance); the model bundle says which it was trained for. Without
--model the shipped model of the mode is used: ratios-only with --ratios-only, else absolute, which needs a
distance (else exit 2).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from invert.core.importance import MAX_ROUNDS, MIN_ESS
from invert.core.progress import Progress
from invert.core.recoverability import stored_table

from ..kit.errors import InputError, user_errors
from ..kit.job import JobSettings, MainJob
from ..kit.models import load_model, shipped
from ..kit.summary_files import SummaryFiles
from .io.column_map import load_column_map
from .io.observations import LineObservations
from .io.read import read_observations
from .model.cosmology import H0, MPC_CM, OM0, luminosity_distance_cm
from .model.likelihood import reweighted_posterior
from .model.mismatch import LIKELIHOOD_POWER
from .model.problem import StarsProblem
from .report.page import ReportInfo, report_thresholds, stars_report
from .results.analysis import (
    CHUNK_OBJECTS,
    analyse_chunk,
    blend_only,
    failed_checks,
    report_column,
    stars_analysis,
)
from .results.maps import parameter_maps, with_sky_coordinates
from .results.summary_fits import SummaryFits, ascii_text, summary_columns

__all__ = ["PRETRAINED", "Options", "pretrained_path", "make_problem", "run_fits", "run_many", "object_distances"]

PRETRAINED = {False: "stars_cinn.invert", True: "stars_ratios_cinn.invert"}  # by ratios_only
PECULIAR_Z = 0.01  # below: Hubble-flow distances are uncertain by peculiar velocities (~300 km/s)


@dataclass
class Options:
    """Options of the main job besides the file, the model and the output folder."""

    job: JobSettings = field(default_factory=lambda: JobSettings(detailed=10, chunk=CHUNK_OBJECTS))
    redshift: float | None = None
    distance_mpc: float | None = None
    ratios_only: bool = False
    wave_unit: str | None = None
    flux_unit: str | None = None
    snr: float | None = None
    aperture: tuple[float, float, float] | None = None
    use_catalog_lines: bool = False
    importance: bool = True
    likelihood_power: float = LIKELIHOOD_POWER
    columns: str | None = None  # --columns: a preset's name or a column mapping's JSON file, for line tables


def pretrained_path(ratios_only: bool) -> Path:
    """The shipped model bundle of a mode in invert.data.stars."""
    return shipped("invert.data.stars", PRETRAINED[ratios_only])


def make_problem(meta: dict) -> StarsProblem:
    """The stars problem a model was trained for, from its metadata."""
    return StarsProblem(
        ratios_only=bool(meta.get("ratios_only")),
        profile=meta.get("profile", "default"),
        dust_law=meta.get("dust_law", "ccm89"),
    )


def object_distances(obs: LineObservations, distance_mpc: float | None, notes: list[str]) -> np.ndarray:
    """Distance (cm) of each object: --distance-mpc, else the luminosity distance of its redshift (NaN if none)."""
    if distance_mpc is not None:
        notes.append(f"distance D = {distance_mpc:g} Mpc from --distance-mpc for every object")
        return np.full(len(obs), distance_mpc * MPC_CM)
    z = obs.redshift.copy()
    if obs.cube_shape is not None and np.isfinite(z).any():  # one cube, one distance: its systemic redshift
        z[:] = np.nanmedian(z)
    usable = np.isfinite(z) & (z > 0)
    distance = np.full(len(obs), np.nan)
    if usable.any():
        distance[usable] = luminosity_distance_cm(z[usable])
        notes.append(
            f"distances from the redshift: luminosity distance in flat Lambda-CDM (H0 = {H0:g} km/s/Mpc, "
            f"Omega_m = {OM0:g}); D = {np.nanmin(distance) / MPC_CM:.4g}"
            + ("" if np.ptp(distance[usable]) == 0 else f"-{np.nanmax(distance) / MPC_CM:.4g}")
            + " Mpc"
        )
        if (z[usable] < PECULIAR_Z).any():
            notes.append(
                f"z < {PECULIAR_Z:g}: peculiar velocities (~300 km/s) make the Hubble-flow distance uncertain "
                "by > 10 % (+-0.1 dex in logM); prefer --distance-mpc"
            )
    return distance


def _choose_model(model: Path | None, opts: Options, has_distance: bool) -> Path:
    """The model file to use (see the module docstring); InputError when the mode cannot work."""
    if model is not None:
        return model
    if opts.ratios_only or has_distance:
        return pretrained_path(opts.ratios_only)
    raise InputError(
        "no distance for any object (the file gives no redshift): logM needs one; give --distance-mpc D "
        "or --redshift Z, or --ratios-only to infer the other parameters from line ratios"
    )


def _check_mode(problem: StarsProblem, model: Path, opts: Options, has_distance: bool, notes: list[str]) -> None:
    """Refuse a model whose mode contradicts the options or the data."""
    if opts.ratios_only and not problem.ratios_only:
        raise InputError(f"--ratios-only needs a ratios-only model; {model.name} infers logM (absolute mode)")
    if not problem.ratios_only and not has_distance:
        raise InputError(
            f"no distance for any object, but {model.name} infers logM, which needs one: give "
            "--distance-mpc D or --redshift Z, or use a ratios-only model"
        )
    if problem.ratios_only:
        notes.append(f"{model.name} is a ratios-only model: no distance is used and logM is not inferred")


def run_fits(fits_path: Path, model: Path | None, out: Path | None, opts: Options) -> int:
    """Write summary.csv, summary.fits, report.html, run.json (samples.npz; maps.fits for cube spaxels) for a FITS
    file or catalogue into a new folder (replaced whole with opts.job.overwrite); returns the exit code. Problems of
    the input, model, settings or output folder raise InputError, BundleError, ResourceError or OutputError (one
    line each) before any work."""
    job = MainJob(opts.job, "objects")
    obs = _read(fits_path, opts)
    job.say(
        f"{fits_path}: layout {obs.layout} ({obs.layout_name}), {len(obs)} object{'s' * (len(obs) != 1)}, "
        f"{int(obs.ok.sum())} with H\u03b2"
    )
    for note in obs.notes:
        job.say(f"note: {note}")
    for warning in obs.warnings:
        job.warn(warning)
    notes, distance_notes = list(obs.notes), []
    distance = object_distances(obs, opts.distance_mpc, distance_notes)
    has_distance = bool(np.isfinite(distance[obs.ok]).any()) or not obs.ok.any()
    model = _choose_model(model, opts, has_distance)
    post, problem = load_model(model, "stars", make_problem, device=opts.job.device)
    _check_mode(problem, model, opts, has_distance, distance_notes)
    out = out or Path.cwd() / Path(fits_path).stem
    draws = opts.job.n_samples * (MAX_ROUNDS if opts.importance else 1)  # proposal rounds of the reweighting
    options = {f"--{k.replace('_', '-')}": v for k, v in vars(opts).items() if k != "job"}  # a resumed run's too
    with job.open_output(
        out,
        input=fits_path,
        model=model,
        post=post,
        problem=problem,
        n_rows=len(obs),
        draws_per_row=draws,
        options=options,
    ) as folder:
        if problem.ratios_only:
            distance, distance_notes = None, distance_notes[-1:]
        for note in distance_notes:
            job.say(f"note: {note}")
        notes += distance_notes
        blend = bool(blend_only(obs).any())
        if blend:
            notes.append("the blended [OII]3727 sum is reported but not used: the model needs the two [OII] lines")
        job.say(
            f"model {model.name} ({post.method}, {'ratios-only' if problem.ratios_only else 'absolute'}, "
            f"{post.metadata.get('n_sims', '?')} simulations)"
        )
        thresholds = report_thresholds(post)  # the network's OOD scorer, before any reweighting wraps it
        reweighted = opts.importance and post.has_density
        if reweighted:
            post = reweighted_posterior(post, problem, power=opts.likelihood_power)
            job.say(
                f"posteriors: the cINN's draws reweighted by the likelihood of the lines to the power "
                f"{opts.likelihood_power:g} (importance sampling; --likelihood-power 1 for the model's exact "
                "posterior, --no-importance for the network alone)"
            )
        s = opts.job
        fits_info = {
            "INPUT": Path(fits_path).name,
            "LAYOUT": obs.layout,
            "MODEL": model.name,
            "SIMULATR": problem.version,
            "MODE": "ratios" if problem.ratios_only else "absolute",
            "NSAMPLES": s.n_samples,
            "SEED": s.seed,
            "LIKEPOW": opts.likelihood_power if reweighted else 0.0,
        }
        table_fits = SummaryFits(
            folder.path / "summary.fits",
            problem,
            fits_info,
            len(obs),
            max(map(len, ascii_text(obs.ids))),
            rows_done=job.rows_done,
        )
        analyse = partial(
            analyse_chunk,
            post=post,
            problem=problem,
            distance_cm=distance,
            blend=blend,
            n_samples=s.n_samples,
            seed=s.seed,
        )
        with SummaryFiles(folder.path, summary_columns(problem), job.rows_done) as write_summary:

            def write(table: pd.DataFrame) -> None:
                table = with_sky_coordinates(table, obs.celestial)
                write_summary(table)
                table_fits(table)

            chunks = (obs.chunk(start, start + s.chunk) for start in range(0, len(obs), s.chunk))
            streamed = job.stream(chunks, analyse, write, report_column, problem.x_names, len(obs))
        table_fits.close()
        result = stars_analysis(streamed, problem)
        model_info = {
            "model": f"{model} ({post.method}, {post.metadata.get('n_sims', '?')} simulations)",
            "mode": "ratios-only (no logM)" if problem.ratios_only else "absolute (logM from the distance)",
            "posterior": _posterior_text(result.summary, s.n_samples, opts.likelihood_power),
            "simulator": problem.version,
            "samples per object": s.n_samples,
            "seed": s.seed,
        }
        info = ReportInfo(str(fits_path), model_info, notes, obs.warnings, *stored_table(post.metadata))
        n_post = int(result.summary[f"{problem.x_names[-1]}_median"].notna().sum())
        files = {"report.html": stars_report(result, obs, problem, info, thresholds=thresholds, footer=job.footer())}
        if obs.cube_shape is not None and opts.aperture is None:  # one object per spaxel: maps of the cube
            files["maps.fits"] = parameter_maps(result.summary, problem, obs.cube_shape, obs.celestial, fits_info)
        if failed := failed_checks(result.summary):
            job.warn(failed)
        return job.finish(
            files,
            table=result.summary,
            n_ok=n_post,
            source=fits_path,
        )


def run_many(paths: Sequence[Path], model: Path | None, out: Path | None, opts: Options) -> int:
    """Several inputs, each into its own folder out/<input stem> (out: default the current folder), each all or
    nothing; an input that fails gives its one error line and the others still run; with --resume, inputs whose
    folder is finished are skipped and interrupted ones continued. Returns 2 if any failed, after a
    line counting them. Two inputs with the same stem are refused (InputError) before any work."""
    stems = Counter(Path(p).stem for p in paths)
    if twice := next((s for s, n in stems.items() if n > 1), None):
        same = [str(p) for p in paths if Path(p).stem == twice]
        raise InputError(
            f"{same[0]} and {same[1]} would both write the output folder {twice}/; rename one or run them separately"
        )
    folder = out or Path.cwd()
    failed = []
    for path in paths:
        target = folder / Path(path).stem
        if opts.job.resume and not opts.job.overwrite and (target / "run.json").is_file():
            typer.echo(f"note: {target}/ is finished already; skipped (give --overwrite to redo it)", err=True)
            continue
        try:
            code = run_fits(path, model, target, opts)
        except (*user_errors(), OSError) as err:  # this input's problem: the others still run
            typer.echo(f"error: {path}: {' '.join(str(err).split())}", err=True)
            code = 2
        if code:
            failed.append(str(path))
    typer.echo(
        f"{len(paths)} inputs: {len(paths) - len(failed)} done, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else ""),
        err=True,
    )
    return 2 if failed else 0


def _posterior_text(summary: pd.DataFrame, n_samples: int, power: float) -> str:
    """How the posterior draws were made, with the effective sample sizes of the reweighting and the objects whose
    reweighting fell short (their weights are tempered to MIN_ESS effective draws)."""
    ess = summary["ess"].to_numpy(float)
    done = ess[np.isfinite(ess)]
    if not done.size:
        return "the cINN's draws (no reweighting: an approximation of the model's posterior)"
    low = int(summary["low_ess"].to_numpy(bool).sum())
    likelihood = (
        "the lines' likelihood (the model's exact posterior)"
        if power == 1
        else f"the lines' likelihood to the power {power:g} (wider than the model's exact posterior: model mismatch)"
    )
    return (
        f"the cINN's draws reweighted by {likelihood}: median {np.median(done):.0f} effective draws per object "
        f"({n_samples} samples)"
        + (f"; {low} below {MIN_ESS:g}, their weights tempered to {MIN_ESS:g} (status low_ess)" if low else "")
    )


def _read(fits_path: Path, opts: Options) -> LineObservations:
    """read_observations with the options, showing line-fit progress for cubes (core.progress: rewritten in place on
    a terminal, a whole line every 30 s into a log)."""
    meter: Progress | None = None

    def progress(done: int, total: int) -> None:
        nonlocal meter
        meter = meter or Progress("line fits", total, "rows of spaxels")
        meter.advance(done - meter.done)
        if done == total:
            meter.close()

    return read_observations(
        fits_path,
        opts.redshift,
        opts.wave_unit,
        opts.flux_unit,
        opts.snr,
        opts.aperture,
        opts.use_catalog_lines,
        progress if opts.job.progress else None,
        None if opts.columns is None else load_column_map(opts.columns),
    )
