"""The `invert` command line: one Typer app; each application adds its commands with one line."""

from __future__ import annotations

from typing import Optional

import typer

from invert.core.bundle import package_version
from invert.core.devices import reuse_freed_memory

from . import demo
from .kit.errors import ErrorsToExitCodes, set_debug, stop_on_sigterm
from .stars import cli as stars_cli
from .tissue import cli as tissue_cli

app = typer.Typer(
    name="invert",
    help="Posteriors of ill-posed inverse problems with invertible neural networks (Ardizzone et al. 2019).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=ErrorsToExitCodes,
)
app.add_typer(demo.app, name="demo")
app.add_typer(tissue_cli.app, name="tissue")
app.add_typer(stars_cli.app, name="stars")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"invert {package_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of an internal error (also INVERT_DEBUG=1)."
    ),
) -> None:
    """Posteriors of ill-posed inverse problems with invertible neural networks."""
    set_debug(debug)
    stop_on_sigterm()
    reuse_freed_memory()
