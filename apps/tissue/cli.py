"""`invert tissue`: posteriors of sO2 and tissue parameters from multispectral reflectance, and the
commands that make the model behind it (simulate, train, build-pretrained)."""

from __future__ import annotations

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

if TYPE_CHECKING:  # the problem loads torch, which --help does not need
    from .problem import TissueProblem

PRETRAINED = "tissue_cinn.invert"  # the model of the default camera
# how each shipped model was made: simulations (direct, or folded from spectral libraries of these seeds), cINN
RECIPES = {
    "ipcai2016": dict(file=PRETRAINED, n_sims=100_000, seed=0, method="cinn"),
    "ximea_sm4x4_vis3": dict(
        file="tissue_ximea_sm4x4_vis3_cinn.invert",
        n_sims=50_000,
        seed=0,
        method="cinn",
        library_seeds=(1, 2),
        library_n=25_000,
    ),
}
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
        help="CSV with one column per camera band (named by wavelength in nm, e.g. 470), optional id, row, col; "
        "or an image: .npy (height, width, bands) or multi-page TIFF with --bands, or ENVI (.hdr with its data file).",
    ),
    bands: Optional[str] = typer.Option(
        None,
        "--bands",
        help="Wavelengths (nm) of an image's bands in the order of its band axis, e.g. 470,480,511,560,580,600,660,700 "
        "(ENVI files name them in their header).",
    ),
    model: Optional[Path] = typer.Option(
        None, "--model", help="Model bundle (default: the shipped model of --camera)."
    ),
    camera: Optional[str] = typer.Option(
        None,
        "--camera",
        help="Use the shipped model of this camera (`invert tissue cameras` lists them; default ipcai2016); "
        "not with --model, which carries its own camera.",
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: a folder named after the input)."),
    samples: Optional[int] = typer.Option(
        None, "--samples", min=16, help="Posterior samples per row (default: 4,096 per CSV row, 256 per image pixel)."
    ),
    seed: int = typer.Option(0, help="Random seed."),
    save_samples: bool = typer.Option(
        False,
        "--save-samples",
        help="Also write all posterior samples (samples.npz: float32 rows x samples x 13, ids, names, units; "
        "row i is row i of summary.csv, NaN where it has no posterior).",
    ),
    detailed: int = typer.Option(20, "--detailed", min=0, help="Rows with a per-sample section in report.html."),
    resim: Optional[int] = typer.Option(
        None,
        "--resim",
        min=0,
        help="Posterior samples per row re-simulated for the re-simulation error (default: 8, of every CSV row but "
        "only of the image pixels the report details; given: of every row; 0: none).",
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

    if model is not None and camera is not None:
        fail("give --camera (a shipped model) or --model (which carries its camera), not both")
    if model is None:
        camera = camera or "ipcai2016"
        models = shipped_models()
        if camera not in models:
            fail(f"no shipped model for camera {camera!r} (shipped: {', '.join(models)}); give --model")
        model = models[camera]
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
        model,
        out,
        settings,
        bands=parse_bands(bands) if bands is not None else None,
        resim_samples=resim,
    )
    raise typer.Exit(code)


CAMERA_HELP = "Camera: a shipped camera's name (see `invert tissue cameras`) or a camera file (.json)."


@app.command()
def simulate(
    n: int = typer.Option(100_000, "--n", min=1, help="Number of simulations."),
    out: Path = typer.Option(..., "--out", help="Output .npz file (x, y, the camera and the simulator version)."),
    camera: str = typer.Option("ipcai2016", "--camera", help=CAMERA_HELP),
    library: Optional[list[Path]] = typer.Option(
        None,
        "--library",
        help="Fold spectra of a spectral library (`invert tissue library`; repeat for several files) instead of "
        "running the radiative transfer: seconds instead of hours. Uses its first --n rows.",
    ),
    seed: int = typer.Option(0, help="Random seed."),
    snr: Optional[float] = typer.Option(
        None, min=0.1, max=1e6, help="One signal-to-noise ratio for every band (default: the camera file's)."
    ),
    chunk: int = typer.Option(SIM_CHUNK, min=1, help="Simulations per batch (memory stays flat)."),
    device: str = typer.Option("auto", help="cpu, cuda or auto (a GPU when present)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Simulate (x, y) training pairs for a camera from the prior and the adding-doubling forward model."""
    from .camera import load_camera
    from .problem import TissueProblem

    if snr is not None and not 0 < snr < float("inf"):
        fail(f"--snr must be a positive finite number, not {snr}")
    camera_files = (Path(camera),) if Path(camera).is_file() else ()
    check_file_out(out, inputs=(*(library or ()), *camera_files))
    checked_device(device)
    problem = TissueProblem(camera=load_camera(camera), snr=snr)
    if library:
        simulate_from_library(out, problem, library, n, seed)
    else:
        simulate_to(out, problem, n, seed, chunk, device, not quiet)


def simulate_to(out: Path, problem: TissueProblem, n: int, seed: int, chunk: int, device: str, progress: bool) -> None:
    """Run the simulator of `problem` (a TissueProblem) and save the pairs, then their manifest (out.run.json)."""
    import invert.core as ic
    from invert.core.devices import resolve_device
    from invert.core.problem import problem_metadata

    from ..kit.manifest import Manifest

    device = str(resolve_device(device))
    settings = {"n": n, "seed": seed, "chunk": chunk, "camera": problem.camera.name, "snr": problem.snr}
    settings["device"] = device
    manifest = Manifest(settings=settings, simulator=problem_metadata(problem))
    ic.simulate_to_file(
        out, problem, n, seed=seed, chunk=chunk, device=device, progress=progress, **_camera_info(problem)
    )
    manifest.write_beside(out)
    typer.echo(f"wrote {n} simulations to {out} ({problem.version})")


def simulate_from_library(out: Path, problem: TissueProblem, libraries: list[Path], n: int, seed: int) -> None:
    """Fold the first n spectra of spectral libraries with the camera of `problem`, add its noise, save the pairs and
    their manifest."""
    import invert.core as ic
    from invert.core.problem import problem_metadata

    from ..kit.manifest import Manifest, sha256
    from .library import fold_library, read_libraries

    lib = read_libraries(libraries)
    if n > len(lib.x):
        fail(f"--n {n} is more than the {len(lib.x)} spectra in --library; make a larger library or lower --n")
    sources = [{"file": p.name, "sha256": sha256(p), **f} for p, f in zip(libraries, lib.files)]
    seeds = [f["seed"] for f in sources]
    if len({f["sha256"] for f in sources}) < len(sources) or len(set(seeds)) < len(seeds):
        fail(f"--library files must be different libraries (seeds {seeds}); the same spectra twice would repeat x")
    settings = {"n": n, "seed": seed, "camera": problem.camera.name, "snr": problem.snr, "library": sources}
    manifest = Manifest(settings=settings, simulator=problem_metadata(problem))
    y = fold_library(lib.rd[:n], problem, seed)
    ic.save_simulations(out, lib.x[:n], y, problem, seed=seed, n=n, library=sources, **_camera_info(problem))
    manifest.write_beside(out)
    typer.echo(f"wrote {n} simulations to {out} ({problem.version}; folded from {len(libraries)} library file(s))")


def _camera_info(problem: TissueProblem) -> dict:
    """What a simulation file records about its camera (`problem_for` rebuilds the problem from it)."""
    return {"snr": problem.snr, "camera": problem.camera.to_dict()}


@app.command()
def library(
    n: int = typer.Option(50_000, "--n", min=1, help="Number of spectra (prior draws)."),
    out: Path = typer.Option(..., "--out", help="Output .npz file (x and Rd at 450, 452, ..., 720 nm)."),
    seed: int = typer.Option(1, help="Random seed (the shipped models' libraries: see docs/tissue.md)."),
    chunk: int = typer.Option(SIM_CHUNK, min=1, help="Spectra per batch (memory stays flat)."),
    device: str = typer.Option("auto", help="cpu, cuda or auto (a GPU when present)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Simulate a spectral library once: noise-free reflectance spectra of prior draws on a 2 nm grid, which
    `simulate --camera C --library L` folds with any camera's filters in seconds."""
    import invert.core as ic
    from invert.core.devices import resolve_device
    from invert.core.problem import problem_metadata

    from ..kit.manifest import Manifest
    from .library import SpectralLibrary

    check_file_out(out)
    checked_device(device)
    lib = SpectralLibrary()
    device = str(resolve_device(device))
    manifest = Manifest(
        settings={"n": n, "seed": seed, "chunk": chunk, "device": device}, simulator=problem_metadata(lib)
    )
    ic.simulate_to_file(out, lib, n, seed=seed, chunk=chunk, device=device, progress=not quiet)
    manifest.write_beside(out)
    typer.echo(f"wrote a spectral library of {n} spectra to {out} ({lib.version})")


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
    from .problem import problem_for

    try:
        _, _, meta = ic.load_simulations(sims)
        if meta.get("problem") == "tissue-library":
            fail(
                f"{sims} is a spectral library; make a camera's simulations from it first: "
                f"invert tissue simulate --camera CAMERA --library {sims} --n N --out sims.npz"
            )
        problem = problem_for(meta)
        x, y, meta = ic.load_simulations(sims, problem)
    except (ic.SimulationFileError, FileNotFoundError) as err:
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
            **_camera_info(problem),
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
    camera: str = typer.Option("ipcai2016", "--camera", help="Whose shipped model to rebuild (see RECIPES)."),
    out: Path = typer.Option(None, "--out", help="Where to write the bundle (default: ./<the shipped file name>)."),
    into_package: bool = INTO_PACKAGE,
    sims: Optional[Path] = typer.Option(None, "--sims", help="Reuse simulations made with the recipe's seed and size."),
    library: Optional[list[Path]] = typer.Option(
        None, "--library", help="Reuse the recipe's spectral libraries (for cameras whose recipe folds libraries)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Rebuild a shipped pretrained model by its recipe: IPCAI 2016 camera 10^5 direct simulations (seed 0); the
    XIMEA camera 5 x 10^4 spectra from two spectral libraries (seeds 1 and 2); cINN, default training."""
    import invert.core as ic

    from ..kit.models import shipped
    from .camera import load_camera
    from .problem import TissueProblem

    if camera not in RECIPES:
        fail(f"no recipe for camera {camera!r}; shipped models: {', '.join(RECIPES)}")
    recipe = RECIPES[camera]
    out = rebuilt_path(out, into_package, shipped("invert.data.tissue", recipe["file"]))
    problem = TissueProblem(camera=load_camera(camera))
    if sims is not None:
        _, _, meta = ic.load_simulations(sims)
        made = {"n": recipe["n_sims"], "seed": recipe["seed"]}
        made |= {"library_seeds": list(recipe["library_seeds"])} if "library_seeds" in recipe else {"chunk": SIM_CHUNK}
        found = meta | {"library_seeds": [f.get("seed") for f in meta.get("library", [])]}
        if any(found.get(k) != v for k, v in made.items()):
            fail(f"{sims} was not made with the recipe ({', '.join(f'{k}={v}' for k, v in made.items())})")
    elif "library_seeds" in recipe:
        sims = out.with_suffix(".sims.npz")
        simulate_from_library(sims, problem, _recipe_libraries(recipe, out, library, quiet), recipe["n_sims"], 0)
    else:
        sims = out.with_suffix(".sims.npz")
        simulate_to(sims, problem, recipe["n_sims"], recipe["seed"], SIM_CHUNK, "auto", not quiet)
    command = f"invert tissue build-pretrained --camera {camera}"
    train_from(sims, out, recipe["method"], recipe["seed"], None, None, not quiet, command=command)


def _recipe_libraries(recipe: dict, out: Path, given: list[Path] | None, quiet: bool) -> list[Path]:
    """The recipe's spectral libraries: the given files, checked against it, or new ones beside out."""
    import invert.core as ic

    seeds, n = recipe["library_seeds"], recipe["library_n"]
    if given:
        metas = [ic.load_simulations(p)[2] for p in given]
        if [(m.get("seed"), m.get("n")) for m in metas] != [(seed, n) for seed in seeds]:
            fail(f"--library must be the recipe's libraries: seeds {list(seeds)} of {n} spectra each, in that order")
        return list(given)
    paths = [out.with_suffix(f".library{seed}.npz") for seed in seeds]
    for seed, path in zip(seeds, paths):
        library(n=n, out=path, seed=seed, chunk=SIM_CHUNK, device="auto", quiet=quiet)
    return paths


def shipped_models() -> dict[str, Path]:
    """{camera name: model file} of the shipped tissue models, from their recipes (build-pretrained --camera NAME
    makes each; the model files are not opened here, loading the chosen one checks it)."""
    from ..kit.models import shipped

    paths = {camera: shipped("invert.data.tissue", recipe["file"]) for camera, recipe in RECIPES.items()}
    return {camera: path for camera, path in paths.items() if path.is_file()}


@app.command()
def cameras() -> None:
    """List the shipped cameras (bands, SNR, where the numbers come from) and the shipped model of each."""
    from .camera import read_camera, shipped_cameras

    models = shipped_models()
    for i, (name, path) in enumerate(shipped_cameras().items()):
        cam = read_camera(path)
        shapes = ", ".join(sorted({b.shape for b in cam.bands}))
        snr = f"{cam.snr[0]:g}" if len(set(cam.snr)) == 1 else f"{min(cam.snr):g}-{max(cam.snr):g} per band"
        model = models.get(name)
        lines = [
            f"{name}: {cam.description}",
            f"  bands    {len(cam.bands)} ({shapes}), {cam.band_centers_nm[0]:g}-{cam.band_centers_nm[-1]:g} nm: "
            + ", ".join(f"{c:g}" for c in cam.band_centers_nm),
            f"  snr      {snr}",
            f"  model    {model.name if model else 'none shipped (train one: docs/tissue.md, Your own camera)'}",
            f"  file     {path}",
            f"  source   {cam.source}",
        ]
        typer.echo(("\n" if i else "") + "\n".join(lines))


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
