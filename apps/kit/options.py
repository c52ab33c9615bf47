"""Command-line option types and helpers shared by the applications."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

import typer


class Method(str, Enum):
    """Posterior estimators: the maximum-likelihood cINN or the paper's MMD-trained INN."""

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


def add_train_command(app: typer.Typer, name: str, train_from: Callable[..., None]) -> None:
    """Register `invert <name> train` on the app: fit a model to a simulation file with the app's train_from(sims,
    out, method, seed, epochs, time_budget, progress, command, hardware=...)."""

    @app.command()
    def train(
        sims: Path = typer.Option(..., "--sims", help=f"Simulations written by `invert {name} simulate`."),
        out: Path = typer.Option(..., "--out", help="Model bundle to write (.invert)."),
        method: Method = typer.Option(Method.cinn, help="cinn (maximum likelihood) or inn (the paper's MMD training)."),
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
        """Train a posterior model on simulations (a GPU is used when present; several with DDP)."""
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
        )
