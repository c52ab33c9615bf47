"""`invert stars`: star-cluster / HII-region parameters from emission lines in a FITS file, and the commands
that make the models behind it (simulate, train, build-pretrained) and the shipped example."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ..kit.options import (
    DEFAULT_CHUNK,
    DEVICE_HELP,
    EPOCHS,
    INTO_PACKAGE,
    OVERWRITE,
    RESUME,
    SAMPLES,
    SIMS,
    Hardware,
    add_train_command,
    check_file_out,
    check_training_pairs,
    checked_device,
    command_line,
    fail,
    methods_option,
    rebuilt_path,
)
from .model.mismatch import LIKELIHOOD_POWER

if TYPE_CHECKING:  # a type hint only: the module loads the engine, which `invert stars --help` does not wait for
    from .model.problem import StarsProblem

# the shipped models: simulations and training fixed here and recorded in each bundle's metadata
SIM_CHUNK = 65536  # simulations per batch of `simulate` (and of evaluate's new simulations: the same pairs)
PRETRAINED_RECIPE = dict(n_sims=1_000_000, seed=0, method="cinn", epochs=6, chunk=SIM_CHUNK)
# the shipped example's seed, never used for training (torch seeds collide modulo 2^32; tests/apps/stars checks it)
EXAMPLE_SEED = 5_502_863
EXAMPLE = "example_regions.fits"


app = typer.Typer(
    help="Star-cluster / HII-region parameters (mass, age, metallicity, ionization, dust) from optical emission "
    "lines in FITS files or line catalogues (docs/stars.md).",
    invoke_without_command=True,
)


class Profile(str, Enum):
    """Metallicity prior: 0.2-1 Zsun (default) or 0.02-1 Zsun (wide)."""

    default = "default"
    wide = "wide"


class DustLaw(str, Enum):
    """Foreground dust screen."""

    ccm89 = "ccm89"
    calzetti = "calzetti"


class Lines(str, Enum):
    """Lines of the test spectra of `evaluate`."""

    all = "all"
    blue = "blue"


class Mode(str, Enum):
    """Which shipped model(s) to rebuild."""

    both = "both"
    absolute = "absolute"
    ratios = "ratios"


def _aperture(text: str | None) -> tuple[float, float, float] | None:
    """--aperture X,Y,R as three numbers (pixels, 0-based), R > 0."""
    if text is None:
        return None
    try:
        x, y, r = (float(v) for v in text.split(","))
    except ValueError:
        fail(f"--aperture must be X,Y,R in pixels (e.g. 12,20,3), got {text!r}")
    if not r > 0:
        fail(f"--aperture radius must be positive, got {r:g}")
    return x, y, r


def _listed_inputs(path: Path) -> list[Path]:
    """The paths in a --list file: one a line, blank lines and lines starting with # skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        fail(f"--list {path}: cannot read it ({' '.join(str(err).split())})")
    listed = [Path(line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not listed:
        fail(f"--list {path} names no input")
    return listed


@app.callback()
def main(
    ctx: typer.Context,
    fits: Optional[list[Path]] = typer.Option(
        None,
        "--fits",
        "--input",
        "-f",
        metavar="FILE",
        help="Input: a FITS file (SDSS spectrum, 1-D spectrum with a spectral WCS, IFU cube, emission-line table) or "
        "a line catalogue (.csv, .ecsv, .vot/.xml). Repeat for several inputs: each goes to --out/<its name>/.",
    ),
    file_list: Optional[Path] = typer.Option(
        None,
        "--list",
        help="Text file of inputs, one path a line (relative to the current folder; blank lines and # comments "
        "skipped); each goes to --out/<its name>/.",
    ),
    columns: Optional[str] = typer.Option(
        None,
        "--columns",
        help="Line catalogue columns: a preset (phangs_muse, sdss_mpajhu) or a JSON column mapping (docs/stars.md).",
    ),
    model: Optional[Path] = typer.Option(
        None,
        "--model",
        help="Model bundle (default: the shipped absolute model, or the ratios-only one with --ratios-only).",
    ),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        help="Output folder (default: a folder named after the input); with several inputs, the folder of their "
        "folders (default: the current folder).",
    ),
    samples: int = typer.Option(4096, "--samples", min=16, help="Posterior samples per object."),
    seed: int = typer.Option(0, help="Random seed."),
    redshift: Optional[float] = typer.Option(
        None, "--redshift", help="Redshift (replaces the file's); also gives the distance."
    ),
    distance_mpc: Optional[float] = typer.Option(
        None,
        "--distance-mpc",
        help="Distance in Mpc for line luminosities (replaces the redshift's luminosity distance).",
    ),
    ratios_only: bool = typer.Option(False, "--ratios-only", help="Line ratios only: no distance needed, no logM."),
    wave_unit: Optional[str] = typer.Option(
        None, "--wave-unit", help="Wavelength unit when the file has none (e.g. Angstrom, nm)."
    ),
    flux_unit: Optional[str] = typer.Option(
        None, "--flux-unit", help="Flux unit when the file has none (e.g. '1e-17 erg/(s cm2 Angstrom)')."
    ),
    snr: Optional[float] = typer.Option(
        None, "--snr", min=0.1, help="1-D spectrum without errors: assume this S/N per pixel."
    ),
    aperture: Optional[str] = typer.Option(
        None, "--aperture", help="IFU cube: sum the spaxels within R pixels of (X, Y): X,Y,R."
    ),
    use_catalog_lines: bool = typer.Option(
        False, "--use-catalog-lines", help="SDSS: use the SPZLINE line fluxes instead of fitting the spectrum."
    ),
    save_samples: bool = typer.Option(
        False,
        "--save-samples",
        help="Also write all posterior samples (samples.npz: "
        "float32 objects x samples x parameters, ids, names, units; row i is row i of summary.csv, NaN "
        "where it has no posterior).",
    ),
    detailed: int = typer.Option(10, "--detailed", min=0, help="Objects with a per-object section in report.html."),
    chunk: int = typer.Option(
        DEFAULT_CHUNK,
        "--chunk",
        min=1,
        help="Objects analysed and written per chunk (memory stays bounded; results do not depend on it).",
    ),
    importance: bool = typer.Option(
        True,
        "--importance/--no-importance",
        help="Reweight the cINN's draws by the likelihood of the lines (calibrated posteriors, 2-4x slower).",
    ),
    likelihood_power: float = typer.Option(
        LIKELIHOOD_POWER,
        "--likelihood-power",
        min=0.01,
        max=1.0,
        help="Power of the lines' likelihood in the reweighting (not used with --no-importance): 1 gives the model's "
        "exact posterior; the default widens it for the mismatch between the model and real spectra (calibrated on "
        "spectra from another code; docs/stars.md section 4).",
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing output folder whole (default: refuse)."
    ),
    resume: bool = RESUME,
    quiet: bool = typer.Option(False, "--quiet", help="No progress output and notes (warnings and errors still)."),
) -> None:
    """Posterior of cluster mass, age, metallicity, ionization and dust for every object of a FITS file or catalogue."""
    if ctx.invoked_subcommand:
        return
    inputs = [*(fits or []), *([] if file_list is None else _listed_inputs(file_list))]
    if not inputs:
        typer.echo(ctx.get_help())
        fail("give a file with --fits file.fits (or a subcommand: simulate, train, build-pretrained, example)")
    if distance_mpc is not None and not distance_mpc > 0:
        fail(f"--distance-mpc must be positive, got {distance_mpc:g}")
    checked_device(device)
    from ..kit.job import JobSettings
    from .io.column_map import load_column_map
    from .run import Options, run_fits, run_many

    job = JobSettings(
        n_samples=samples,
        seed=seed,
        save_samples=save_samples,
        detailed=detailed,
        chunk=chunk,
        progress=not quiet,
        overwrite=overwrite,
        device=device,
        resume=resume,
    )
    opts = Options(
        job=job,
        redshift=redshift,
        distance_mpc=distance_mpc,
        ratios_only=ratios_only,
        wave_unit=wave_unit,
        flux_unit=flux_unit,
        snr=snr,
        aperture=_aperture(aperture),
        use_catalog_lines=use_catalog_lines,
        importance=importance,
        likelihood_power=likelihood_power,
        columns=columns,
    )
    if columns is not None:
        load_column_map(columns)  # checked once, before any input is read
    if len(inputs) == 1 and file_list is None:
        raise typer.Exit(run_fits(inputs[0], model, out, opts))
    raise typer.Exit(run_many(inputs, model, out, opts))


@app.command()
def simulate(
    n: int = typer.Option(100_000, "--n", min=1, help="Number of simulations."),
    out: Path = typer.Option(..., "--out", help="Output .npz file (x, y and the simulator version)."),
    seed: int = typer.Option(0, help="Random seed."),
    ratios_only: bool = typer.Option(
        False, "--ratios-only", help="Simulate the ratios-only problem (no logM, no L(Hbeta))."
    ),
    profile: Profile = typer.Option(Profile.default, help="Metallicity prior."),
    dust_law: DustLaw = typer.Option(DustLaw.ccm89, "--dust-law", help="Dust attenuation law."),
    chunk: int = typer.Option(SIM_CHUNK, min=1, help="Simulations per batch (memory stays flat)."),
    device: str = typer.Option("auto", help="cpu, cuda or auto (a GPU when present)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Simulate (x, y) training pairs: prior, ClusterLite lines, noise, censoring and masking (stars.md 2-3)."""

    from .model.problem import StarsProblem

    problem = StarsProblem(ratios_only=ratios_only, profile=profile.value, dust_law=dust_law.value)
    check_file_out(out)
    checked_device(device)
    simulate_to(out, problem, n, seed, chunk, device, not quiet)


def simulate_to(out: Path, problem: StarsProblem, n: int, seed: int, chunk: int, device: str, progress: bool) -> None:
    """Run the simulator and save the pairs with the problem's settings, then their manifest beside them
    (out.run.json)."""
    import invert.core as ic
    from invert.core.devices import resolve_device
    from invert.core.problem import problem_metadata

    from ..kit.manifest import Manifest

    device = str(resolve_device(device))
    settings = {"n": n, "seed": seed, "chunk": chunk, **_settings(problem), "device": device}
    manifest = Manifest(settings=settings, simulator=problem_metadata(problem))
    ic.simulate_to_file(out, problem, n, seed=seed, chunk=chunk, device=device, progress=progress, **_settings(problem))
    manifest.write_beside(out)
    typer.echo(f"wrote {n} simulations to {out} ({problem.version})")


def _settings(problem: StarsProblem) -> dict[str, object]:
    return {"ratios_only": problem.ratios_only, "profile": problem.profile, "dust_law": problem.dust_law}


def train_from(
    sims: Path,
    out: Path,
    method: str,
    seed: int,
    epochs: int | None,
    time_budget: float | None,
    progress: bool,
    command: str,
    recipe: dict | None = None,
    hardware: Hardware = Hardware(),
    log_dir: Path | None = None,
) -> None:
    """Fit a model to a simulation file and save it with its provenance (and the recipe of a shipped model);
    in a DDP run the main process saves it and then its manifest beside it (out.run.json). The training history goes
    to log_dir (None: none kept)."""
    import invert.core as ic
    from invert.core.problem import problem_metadata

    from ..kit.manifest import Manifest
    from .model.problem import StarsProblem

    try:
        _, _, meta = ic.load_simulations(sims)
        if meta.get("problem") != "stars":
            fail(f"{sims} holds simulations of {meta.get('problem')!r}, not of the stars app")
        problem = StarsProblem(
            ratios_only=bool(meta.get("ratios_only")),
            profile=meta.get("profile", "default"),
            dust_law=meta.get("dust_law", "ccm89"),
        )
        x, y, meta = ic.load_simulations(sims, problem)
    except (ic.SimulationFileError, ValueError) as err:
        fail(str(err))
    check_training_pairs(x, y, sims)
    manifest = Manifest.training(
        sims, meta, method=method, seed=seed, epochs=epochs, time_budget=time_budget, hardware=hardware, log_dir=log_dir
    )
    if ic.is_main_process():
        typer.echo(f"training {method} on {len(x)} simulations ({problem.version})")
        if log_dir is not None:
            from ..kit.options import history_line

            typer.echo(history_line(log_dir))
    post = ic.fit(
        x,
        y,
        method=method,
        x_bounds=problem.x_bounds,
        seed=seed,
        max_epochs=epochs,
        time_budget_s=time_budget,
        progress=progress,
        log_dir=log_dir,
        metadata={
            **problem_metadata(problem),
            **_settings(problem),
            "n_sims": len(x),
            "sims_seed": meta.get("seed"),
            "command": command,
            **({"recipe": recipe} if recipe else {}),
        },
        **hardware.fit_options(),
    )
    if not ic.is_main_process():
        return
    post.save(out)
    manifest.write_model(out, post.metadata)
    val = post.metadata["validation"]
    errors = ", ".join(f"{p} {e:.3f}" for p, e in zip(problem.x_names, val["calibration_error"]))
    medians = ", ".join(f"{p} {val['median_abs_error'][problem.x_names.index(p)]:.3f}" for p in ("A_V", "logU", "logZ"))
    typer.echo(
        f"wrote {out}: trained {post.metadata['train_time_s']:.0f} s on {post.metadata['accelerator']}; "
        f"validation on {val['n_obs']} held-out simulations: calibration error {errors}; "
        f"median |error| of the posterior median: {medians}"
    )


add_train_command(app, "stars", train_from)


def data_path(name: str) -> Path:
    """A file in the package's data/stars folder."""
    from ..kit.models import shipped

    return shipped("invert.data.stars", name)


@app.command("build-pretrained")
def build_pretrained(
    out_dir: Optional[Path] = typer.Option(
        None, "--out-dir", help="Folder of the bundles (default: the current folder)."
    ),
    into_package: bool = INTO_PACKAGE,
    mode: Mode = typer.Option(Mode.both, help="Rebuild the absolute model, the ratios-only model, or both."),
    keep_sims: bool = typer.Option(
        False, "--keep-sims", help="Keep the simulation files (and their .run.json) next to the bundles."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Rebuild the shipped models with the fixed recipe: 10^6 simulations (seed 0), cINN, default network, 6 epochs."""

    from ..kit.manifest import sidecar
    from .model.problem import StarsProblem
    from .run import PRETRAINED

    r = PRETRAINED_RECIPE
    for ratios_only in {Mode.both: (False, True), Mode.absolute: (False,), Mode.ratios: (True,)}[mode]:
        shipped_file = data_path(PRETRAINED[ratios_only])
        out = rebuilt_path(out_dir / shipped_file.name if out_dir else None, into_package, shipped_file)
        sims = out.with_suffix(".sims.npz")
        simulate_to(sims, StarsProblem(ratios_only=ratios_only), r["n_sims"], r["seed"], r["chunk"], "auto", not quiet)
        train_from(
            sims,
            out,
            r["method"],
            r["seed"],
            r["epochs"],
            None,
            not quiet,
            command=command_line("invert stars build-pretrained", mode="ratios" if ratios_only else "absolute"),
            recipe=r,
        )
        if not keep_sims:
            sims.unlink()
            sidecar(sims).unlink()


@app.command()
def example(
    out: Optional[Path] = typer.Option(None, "--out", help=f"FITS file to write (default: ./{EXAMPLE})."),
    into_package: bool = INTO_PACKAGE,
    seed: int = typer.Option(
        EXAMPLE_SEED, help="Random seed (default: the shipped example's, never used for training)."
    ),
) -> None:
    """Rebuild the shipped example: a line table of 8 simulated HII regions at z = 0.02 and their true parameters
    (*_truth.csv)."""
    from invert.core.outputs import atomic_write

    from .model.example import make_example

    out = rebuilt_path(out, into_package, data_path(EXAMPLE))
    hdul, truth = make_example(seed)
    truth_path = out.with_name(out.stem + "_truth.csv")
    atomic_write(out, lambda tmp: hdul.writeto(tmp, overwrite=True, checksum=True))
    atomic_write(truth_path, lambda tmp: truth.to_csv(tmp, index=False))
    typer.echo(f"wrote {out} ({len(truth)} regions) and {truth_path}")


@app.command()
def evaluate(
    sims: Optional[Path] = SIMS,
    n_sims: int = typer.Option(
        100_000, "--n-sims", min=100, help="Training simulations to make when --sims is not given."
    ),
    n_test: int = typer.Option(200, "--n-test", min=3, help="Held-out test simulations (every line at 5 % error)."),
    methods: str = methods_option(has_likelihood=True),
    samples: int = SAMPLES,
    epochs: Optional[int] = EPOCHS,
    abc_sims: int = typer.Option(
        1_000_000, "--abc-sims", min=0, help="ABC pool of new simulations at 5 % errors (0: the training simulations)."
    ),
    lines: Lines = typer.Option(
        Lines.all,
        "--lines",
        help="Lines of the test spectra: all, or blue (Halpha, [NII], [SII] redshifted out: logZ has two branches).",
    ),
    reference_draws: int = typer.Option(
        4_000_000,
        "--reference-draws",
        min=0,
        help="Prior draws of the likelihood-weighted reference posterior of the multi-modality check (0: no check).",
    ),
    ratios_only: bool = typer.Option(False, "--ratios-only", help="The ratios-only problem (no logM)."),
    out: Path = typer.Option(Path("stars_evaluation"), "--out", help="Output folder."),
    seed: int = typer.Option(0, help="Random seed."),
    overwrite: bool = OVERWRITE,
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """The paper's astrophysics comparison: every method on the same simulations and test set, plus the
    multi-modality check of logZ against an approximate likelihood-weighted reference posterior
    (apps/stars/model/approximate_reference.py)."""
    settings = dict(
        n_sims=None if sims else n_sims,
        n_test=n_test,
        methods=methods,
        samples=samples,
        epochs=epochs,
        abc_sims=abc_sims,
        lines=lines.value,
        reference_draws=reference_draws,
        ratios_only=ratios_only,
        seed=seed,
    )
    command = command_line("invert stars evaluate", sims=sims, **settings, out=out)
    import time

    import numpy as np

    from invert.core.evaluation import MethodRun
    from invert.core.outputs import OutputFolder

    from ..kit.evaluate import checked_methods, run_evaluation, training_pairs
    from ..kit.manifest import Manifest
    from .model.approximate_reference import REFERENCE_CALIBRATED, REFERENCE_MIN_ESS, reference_posterior
    from .model.likelihood import log_likelihood
    from .model.linelist import NAMES
    from .model.problem import BLUE_LINES, FixedErrorStars, StarsProblem

    method_list = checked_methods(methods, has_likelihood=True)
    problem = StarsProblem(ratios_only=ratios_only)
    test_problem = FixedErrorStars(ratios_only=ratios_only, lines=BLUE_LINES if lines == Lines.blue else NAMES)

    def reference(y_test: np.ndarray) -> MethodRun:
        t0 = time.perf_counter()
        ref, ess = reference_posterior(test_problem, y_test, reference_draws, seed=seed + 3_000_003, keep=samples)
        return MethodRun(
            f"likelihood-weighted prior draws ({reference_draws:,})",
            ref,
            0.0,
            (time.perf_counter() - t0) / len(y_test),
            {"ess": ess.round(1).tolist()},
        )

    with OutputFolder(out, overwrite=overwrite) as folder:  # checked before the simulations
        manifest = Manifest(command=command, settings=settings)
        x, y, source = training_pairs(problem, sims, n_sims, seed, not quiet, chunk=SIM_CHUNK)
        run_evaluation(
            problem,
            x,
            y,
            source=source,
            sims=sims,
            methods=method_list,
            targets=list(problem.x_names),
            n_test=n_test,
            samples=samples,
            seed=seed,
            epochs=epochs,
            abc_sims=abc_sims,
            folder=folder,
            manifest=manifest,
            progress=not quiet,
            test_problem=test_problem,
            modes_of="logZ",
            reference=reference if reference_draws else None,
            min_ess=REFERENCE_MIN_ESS,
            compared=REFERENCE_CALIBRATED,
            log_likelihood=lambda xs, ys: log_likelihood(problem, xs, ys),
        )
