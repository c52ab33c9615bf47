"""`invert tissue`: posteriors of sO2 and tissue parameters from multispectral reflectance, and the
commands that make the model behind it (simulate, train, build-pretrained)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

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
    checked_device,
    command_line,
    fail,
    methods_option,
    rebuilt_path,
)

PRETRAINED = "tissue_cinn.invert"
PRETRAINED_RECIPE = dict(n_sims=100_000, seed=0, method="cinn")
# the shipped example's seed, never used for training (torch seeds collide modulo 2^32; tests/apps/tissue checks it)
EXAMPLE_SEED = 7_093_151
SIM_CHUNK = 2048  # simulations per batch: the forward model is slow, so progress is reported every chunk


app = typer.Typer(
    help="Blood oxygenation (sO2) and tissue parameters from multispectral reflectance (docs/tissue.md).",
    invoke_without_command=True,
)


def pretrained_path() -> Path:
    """The model bundle shipped in invert.data.tissue."""
    from ..kit.models import shipped

    return shipped("invert.data.tissue", PRETRAINED)


@app.callback()
def main(
    ctx: typer.Context,
    input: Optional[Path] = typer.Option(
        None,
        "--input",
        "-i",
        help="CSV with one column per band (470 ... 700 nm), optional id, row, col; or an image "
        "stack .npy of shape (height, width, bands) with --bands.",
    ),
    bands: Optional[str] = typer.Option(
        None,
        "--bands",
        help="Wavelengths (nm) of a .npy image's bands in the order "
        "of its last axis, e.g. 470,480,511,560,580,600,660,700.",
    ),
    model: Optional[Path] = typer.Option(
        None, "--model", help="Model bundle (default: the pretrained model shipped with invert)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: a folder named after the input)."),
    samples: int = typer.Option(4096, "--samples", min=16, help="Posterior samples per row."),
    seed: int = typer.Option(0, help="Random seed."),
    save_samples: bool = typer.Option(
        False,
        "--save-samples",
        help="Also write all posterior samples (samples.npz: float32 rows x samples x 13, ids, names, units; "
        "row i is row i of summary.csv, NaN where it has no posterior).",
    ),
    detailed: int = typer.Option(20, "--detailed", min=0, help="Rows with a per-sample section in report.html."),
    resim: int = typer.Option(
        8,
        "--resim",
        min=0,
        help="Posterior samples per row re-simulated for the re-simulation "
        "error (0: none; on a CPU the forward model, ~40 spectra/s per core, dominates large scans).",
    ),
    chunk: int = typer.Option(
        DEFAULT_CHUNK,
        "--chunk",
        min=1,
        help="Rows (pixels) read and analysed at a time; memory grows with it, results do not change.",
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing output folder whole (default: refuse)."
    ),
    resume: bool = RESUME,
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Posterior of sO2 and the other tissue parameters for every row of a multispectral scan (or pixel of an image)."""
    if ctx.invoked_subcommand:
        return
    if input is None:
        typer.echo(ctx.get_help())
        fail("give a scan with --input scan.csv (or a subcommand: simulate, train, build-pretrained)")
    checked_device(device)
    from ..kit.job import JobSettings
    from .io import parse_bands
    from .run import run_scan

    settings = JobSettings(
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
    code = run_scan(
        input,
        model or pretrained_path(),
        out,
        settings,
        bands=parse_bands(bands) if bands is not None else None,
        resim_samples=resim,
    )
    raise typer.Exit(code)


@app.command()
def simulate(
    n: int = typer.Option(100_000, "--n", min=1, help="Number of simulations."),
    out: Path = typer.Option(..., "--out", help="Output .npz file (x, y and the simulator version)."),
    seed: int = typer.Option(0, help="Random seed."),
    snr: float = typer.Option(10.0, min=0.1, max=1e6, help="Per-band signal-to-noise ratio of the simulated camera."),
    chunk: int = typer.Option(SIM_CHUNK, min=1, help="Simulations per batch (memory stays flat)."),
    device: str = typer.Option("auto", help="cpu, cuda or auto (a GPU when present)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Simulate (x, y) training pairs from the prior and the adding-doubling forward model."""
    if not 0 < snr < float("inf"):
        fail(f"--snr must be a positive finite number, not {snr}")
    check_file_out(out)
    checked_device(device)
    simulate_to(out, n, seed, snr, chunk, device, not quiet)


def simulate_to(out: Path, n: int, seed: int, snr: float, chunk: int, device: str, progress: bool) -> None:
    """Run the simulator and save the pairs, then their manifest beside them (out.run.json)."""
    import invert.core as ic
    from invert.core.devices import resolve_device
    from invert.core.problem import problem_metadata

    from ..kit.manifest import Manifest
    from .problem import TissueProblem

    problem = TissueProblem(snr=snr)
    device = str(resolve_device(device))
    settings = {"n": n, "seed": seed, "chunk": chunk, "snr": snr, "device": device}
    manifest = Manifest(settings=settings, simulator=problem_metadata(problem))
    ic.simulate_to_file(out, problem, n, seed=seed, chunk=chunk, device=device, progress=progress, snr=snr)
    manifest.write_beside(out)
    typer.echo(f"wrote {n} simulations to {out} ({problem.version})")


def train_from(
    sims: Path,
    out: Path,
    method: str,
    seed: int,
    epochs: int | None,
    time_budget: float | None,
    progress: bool,
    command: str,
    hardware: Hardware = Hardware(),
    log_dir: Path | None = None,
) -> None:
    """Fit a model to a simulation file and save it with its provenance, then its manifest beside it (out.run.json;
    on the main process of a DDP run); the training history goes to log_dir (None: none kept)."""
    import invert.core as ic
    from invert.core.problem import problem_metadata

    from ..kit.manifest import Manifest
    from .problem import TissueProblem

    try:
        _, _, meta = ic.load_simulations(sims)
        problem = TissueProblem(snr=float(meta.get("snr", 10.0)))
        x, y, meta = ic.load_simulations(sims, problem)
    except (ic.SimulationFileError, FileNotFoundError) as err:
        fail(str(err))
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
            "snr": problem.snr,
            "n_sims": len(x),
            "sims_seed": meta.get("seed"),
            "command": command,
        },
        **hardware.fit_options(),
    )
    if not ic.is_main_process():
        return
    post.save(out)
    manifest.write_model(out, post.metadata)
    val = post.metadata["validation"]
    i = problem.x_names.index("sO2")
    typer.echo(
        f"wrote {out}: trained {post.metadata['train_time_s']:.0f} s on {post.metadata['accelerator']}; validation on "
        f"{val['n_obs']} held-out simulations: sO2 calibration error {val['calibration_error'][i]:.3f}, "
        f"sO2 median |error| {val['median_abs_error'][i]:.3f}"
    )


add_train_command(app, "tissue", train_from)


@app.command("build-pretrained")
def build_pretrained(
    out: Path = typer.Option(None, "--out", help=f"Where to write the bundle (default: ./{PRETRAINED})."),
    into_package: bool = INTO_PACKAGE,
    sims: Optional[Path] = typer.Option(None, "--sims", help="Reuse simulations made with the recipe's seed and size."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Rebuild the shipped pretrained model: 10^5 simulations (seed 0), cINN, default training."""
    import invert.core as ic

    out = rebuilt_path(out, into_package, pretrained_path())
    recipe = PRETRAINED_RECIPE
    if sims is None:
        sims = out.with_suffix(".sims.npz")
        simulate_to(sims, recipe["n_sims"], recipe["seed"], 10.0, SIM_CHUNK, "auto", not quiet)
    else:
        _, _, meta = ic.load_simulations(sims)
        if (meta.get("n"), meta.get("seed"), meta.get("chunk")) != (recipe["n_sims"], recipe["seed"], SIM_CHUNK):
            fail(
                f"{sims} was not made with the recipe (n={recipe['n_sims']}, seed={recipe['seed']}, chunk={SIM_CHUNK})"
            )
    train_from(
        sims, out, recipe["method"], recipe["seed"], None, None, not quiet, command="invert tissue build-pretrained"
    )


@app.command()
def example(
    out: Path = typer.Option(None, "--out", help="Scan CSV to write (default: ./example_scan.csv)."),
    into_package: bool = INTO_PACKAGE,
    seed: int = typer.Option(
        EXAMPLE_SEED, help="Random seed (default: the shipped example's, never used for training)."
    ),
) -> None:
    """Rebuild the shipped example scan (a simulated 6 x 8 pixel image) and its true parameters (*_truth.csv)."""
    from invert.core.outputs import atomic_write

    from ..kit.models import shipped
    from .example import make_example

    out = rebuilt_path(out, into_package, shipped("invert.data.tissue", "example_scan.csv"))
    scan, truth = make_example(seed)
    truth_path = out.with_name(out.stem + "_truth.csv")
    atomic_write(out, lambda tmp: scan.to_csv(tmp, index=False))
    atomic_write(truth_path, lambda tmp: truth.to_csv(tmp, index=False))
    typer.echo(f"wrote {out} ({len(scan)} pixels) and {truth_path}")


@app.command()
def evaluate(
    sims: Optional[Path] = SIMS,
    n_sims: int = typer.Option(
        20_000, "--n-sims", min=100, help="Training simulations to make when --sims is not given."
    ),
    n_test: int = typer.Option(1000, "--n-test", min=3, help="Held-out test simulations."),
    methods: str = methods_option(has_likelihood=False),
    samples: int = SAMPLES,
    epochs: Optional[int] = EPOCHS,
    abc_sims: int = typer.Option(
        0, "--abc-sims", min=0, help="ABC pool of new simulations (default 0: the training simulations)."
    ),
    out: Path = typer.Option(Path("tissue_evaluation"), "--out", help="Output folder."),
    seed: int = typer.Option(0, help="Random seed."),
    overwrite: bool = OVERWRITE,
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """The paper's medical comparison (Table 1): every method on the same simulations and test set, scored on sO2."""
    settings = dict(
        n_sims=None if sims else n_sims,
        n_test=n_test,
        methods=methods,
        samples=samples,
        epochs=epochs,
        abc_sims=abc_sims,
        seed=seed,
    )
    command = command_line("invert tissue evaluate", sims=sims, **settings | {"abc_sims": abc_sims or None}, out=out)
    from invert.core.outputs import OutputFolder

    from ..kit.evaluate import checked_methods, run_evaluation, training_pairs
    from ..kit.manifest import Manifest
    from .problem import TissueProblem

    method_list = checked_methods(methods, has_likelihood=False)
    problem = TissueProblem()
    with OutputFolder(out, overwrite=overwrite) as folder:
        manifest = Manifest(command=command, settings=settings)
        x, y, source = training_pairs(problem, sims, n_sims, seed, not quiet, chunk=SIM_CHUNK)
        run_evaluation(
            problem,
            x,
            y,
            source=source,
            sims=sims,
            methods=method_list,
            targets=["sO2"],
            n_test=n_test,
            samples=samples,
            seed=seed,
            epochs=epochs,
            abc_sims=abc_sims,
            folder=folder,
            manifest=manifest,
            progress=not quiet,
        )
