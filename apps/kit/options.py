"""Command-line option types and helpers shared by the applications."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

import typer

DEFAULT_CHUNK = 10_000  # rows (pixels, objects) read and analysed at a time by the main jobs
DEVICE_HELP = "Where the networks run: auto (a GPU when present), cpu, cuda, cuda:N or mps."
# the evaluate methods (invert.core.evaluation.METHODS, written out so that --help does not load the engine;
# tests/cli/test_startup.py checks that they agree); cinn+is needs the simulator's likelihood
EVALUATE_METHODS = ("cinn", "cinn+is", "inn", "inn-forward", "inn-inverse", "abc", "cvae", "dropout")
SIMS = typer.Option(None, "--sims", help="Training simulations (default: --n-sims new ones).")
SAMPLES = typer.Option(4096, "--samples", min=16, help="Posterior samples per test observation.")
EPOCHS = typer.Option(None, help="Maximum epochs per network (default: about 8000 optimizer steps).")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing output folder whole (default: refuse).")
RESUME = typer.Option(
    False,
    "--resume",
    help="Continue an interrupted run into the same --out: finished chunks are kept, the rest is done; the result is "
    "the same as an uninterrupted run.",
)


INTO_PACKAGE = typer.Option(
    False, "--into-package", help="Rebuild the file shipped inside the installed package (default: the current folder)."
)


def rebuilt_path(out: Path | None, into_package: bool, shipped_file: Path) -> Path:
    """Where a command that rebuilds a shipped file writes: --out, the shipped file itself with --into-package, else
    a file of the same name in the current folder (the installed package is never changed by default)."""
    if out is not None and into_package:
        fail("give --out or --into-package, not both")
    if into_package:
        return shipped_file
    return out if out is not None else Path.cwd() / shipped_file.name


def methods_option(has_likelihood: bool):
    """The --methods option of an app's evaluate command, offering only the methods the app can run."""
    offered = [m for m in EVALUATE_METHODS if has_likelihood or m != "cinn+is"]
    return typer.Option(
        "inn,cinn,abc,cvae,dropout",
        "--methods",
        help=f"Comma-separated, from: {', '.join(offered)} (inn-forward / inn-inverse: the paper's training ablation).",
    )


class Method(str, Enum):
    """Posterior estimators: the maximum-likelihood cINN or the paper's INN (its MMD losses plus our likelihood
    term by default)."""

    cinn = "cinn"
    inn = "inn"


@dataclass
class Hardware:
    """Where a model trains, as Lightning takes it: accelerator, devices per node, nodes, numeric precision."""

    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"

    def fit_options(self) -> dict[str, Any]:
        """Keyword arguments of invert.core.fit."""
        options = asdict(self)
        options["devices"] = int(self.devices) if self.devices.isdigit() else self.devices
        return options


def fail(message: str) -> NoReturn:
    """Print one error line and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def command_line(words: str, **options: object) -> str:
    """The command as a user would type it: words, then `--name value` for every option that is not None
    (underscores become dashes; True gives a bare flag, False nothing)."""
    parts = [words]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif value is not None and value is not False:
            parts.append(f"{flag} {value.value if isinstance(value, Enum) else value}")
    return " ".join(parts)


def training_log_dir(out: Path) -> Path:
    """Where `train` keeps the training history of the model out: m.invert -> m_logs/ next to it."""
    return out.with_name(f"{out.stem}_logs")


def history_line(log_dir: Path) -> str:
    """The line that tells where a training's history is (invert.core.fit's log_dir)."""
    from invert.core.training import HISTORY_FILE, TENSORBOARD_DIR, tensorboard_available

    line = f"training history: {log_dir / HISTORY_FILE}"
    if tensorboard_available():
        line += f" (TensorBoard: tensorboard --logdir {log_dir / TENSORBOARD_DIR})"
    return line


def check_file_out(out: Path, *, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse (fail) an output file that is an input, is a folder, or whose folder cannot be made or written; make
    that folder."""
    for source in inputs:
        if out.resolve() == Path(source).resolve():
            fail(f"--out {out} is the input {source}; writing there would destroy it")
    if out.is_dir():
        fail(f"--out {out} is a folder; give the file to write")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(f"cannot create the folder {out.parent} for --out ({err.strerror or err})")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        fail(f"cannot write to {out.parent}, the folder of --out")


def check_model_out(out: Path, sims: Path) -> Path:
    """Refuse (fail) a model path that is the simulation file, a folder, or whose folder cannot be made or written;
    make that folder. Returns the folder of the training history (training_log_dir)."""
    check_file_out(out, inputs=(sims,))
    log_dir = training_log_dir(out)
    if log_dir.exists() and not log_dir.is_dir():
        fail(f"{log_dir}, where the training history of {out} goes, exists and is not a folder")
    return log_dir


def add_train_command(app: typer.Typer, name: str, train_from: Callable[..., None]) -> None:
    """Register `invert <name> train` on the app: fit a model to a simulation file with the app's train_from(sims,
    out, method, seed, epochs, time_budget, progress, command, hardware=..., log_dir=...), which keeps the training
    history in log_dir (training_log_dir: m.invert -> m_logs/metrics.csv) and says so (history_line). An --out that
    is a folder, or whose folder cannot be made, is refused before training starts."""

    @app.command()
    def train(
        sims: Path = typer.Option(..., "--sims", help=f"Simulations written by `invert {name} simulate`."),
        out: Path = typer.Option(..., "--out", help="Model bundle to write (.invert)."),
        method: Method = typer.Option(
            Method.cinn,
            help="cinn (maximum likelihood) or inn (the paper's INN; loss paper+ml: its terms + likelihood).",
        ),
        seed: int = typer.Option(0, help="Random seed."),
        epochs: Optional[int] = typer.Option(None, help="Maximum epochs (default: about 8000 optimizer steps)."),
        time_budget: Optional[float] = typer.Option(None, "--time-budget", help="Wall-clock limit in seconds."),
        accelerator: str = typer.Option(
            "auto", "--accelerator", help="cpu, gpu (cuda), mps or auto (a GPU when present)."
        ),
        devices: str = typer.Option(
            "auto",
            "--devices",
            help="Devices per node: a number, a list such as 0,1, or auto "
            "(all GPUs, else one CPU process). Several devices train with Lightning's DDP; see "
            "the README for torchrun and SLURM.",
        ),
        nodes: int = typer.Option(
            1, "--nodes", min=1, help="Number of nodes of a multi-node DDP run (torchrun or SLURM)."
        ),
        precision: str = typer.Option(
            "32-true", "--precision", help="Lightning precision, e.g. 32-true, bf16-mixed, 16-mixed."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Train a posterior model on simulations (a GPU is used when present; several with DDP). The training
        history (per-epoch losses) goes to metrics.csv in a folder next to the model: m.invert -> m_logs/."""
        if time_budget is not None and not 0 < time_budget < float("inf"):
            fail(f"--time-budget must be a positive finite number of seconds, not {time_budget}")
        log_dir = check_model_out(out, sims)
        command = command_line(
            f"invert {name} train", sims=sims, out=out, method=method, seed=seed, epochs=epochs, time_budget=time_budget
        )
        train_from(
            sims,
            out,
            method.value,
            seed,
            epochs,
            time_budget,
            not quiet,
            command,
            hardware=Hardware(accelerator, devices, nodes, precision),
            log_dir=log_dir,
        )


def check_training_pairs(x: Any, y: Any, sims: Path) -> None:
    """Refuse (fail) a simulation file with fewer usable (finite) pairs than training needs."""
    import numpy as np

    from invert.core.estimator import MIN_TRAINING_PAIRS

    usable = int((np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)).sum())
    if usable < MIN_TRAINING_PAIRS:
        fail(f"{sims} has {usable} usable (finite) simulations; training needs at least {MIN_TRAINING_PAIRS}")


def checked_device(device: str) -> str:
    """--device as given, or one error line and exit 2 (before any work) where this machine has no such device."""
    import torch

    kind, _, index = device.partition(":")
    if device not in ("auto", "cpu", "cuda", "mps") and not (kind == "cuda" and index.isdigit()):
        fail(f"--device must be auto, cpu, cuda, cuda:N or mps, not {device!r}")
    found = {"cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0}
    found["mps"] = int(torch.backends.mps.is_available())
    if kind in found and int(index or 0) >= found[kind]:
        n = found[kind]
        there = f"only cuda:0 to cuda:{n - 1}" if n else f"no {kind.upper()} device"
        fail(f"--device {device}: this machine has {there}; use --device cpu or auto")
    return device
