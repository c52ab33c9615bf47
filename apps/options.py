"""Command-line option types and helpers shared by the applications."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, NoReturn

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


# Training hardware options, the same for every app's `train` command.
ACCELERATOR = typer.Option("auto", "--accelerator", help="cpu, gpu (cuda), mps or auto (a GPU when present).")
DEVICES = typer.Option("auto", "--devices", help="Devices per node: a number, a list such as 0,1, or auto (all GPUs, "
                       "else one CPU process). Several devices train with Lightning's DDP; see the README for torchrun "
                       "and SLURM.")
NODES = typer.Option(1, "--nodes", min=1, help="Number of nodes of a multi-node DDP run (torchrun or SLURM).")
PRECISION = typer.Option("32-true", "--precision", help="Lightning precision, e.g. 32-true, bf16-mixed, 16-mixed.")


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
