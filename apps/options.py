"""Command-line option types and helpers shared by the applications."""

from __future__ import annotations

from enum import Enum
from typing import NoReturn

import typer


class Method(str, Enum):
    """Posterior estimators: the maximum-likelihood cINN or the paper's MMD-trained INN."""

    cinn = "cinn"
    inn = "inn"


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
