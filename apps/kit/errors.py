"""One error class for unusable input, and one error path for every command: what a user can cause ends in one
line on stderr and exit code 2; an internal error in one line and exit code 1, with the traceback only under
`invert --debug` (or INVERT_DEBUG=1).

`ErrorsToExitCodes` is the Typer group class of the `invert` app: it wraps the invocation of every command,
so the command line and the tests (typer's CliRunner) see the same exit codes.
"""

from __future__ import annotations

import os
import signal

import typer
from typer.core import TyperGroup

from invert.core.bundle import BundleError
from invert.core.outputs import OutputError
from invert.core.resources import ResourceError
from invert.core.simulation import SimulationFileError

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer depends on click
    from click import ClickException

__all__ = ["InputError", "ErrorsToExitCodes", "USER_ERRORS", "set_debug", "stop_on_sigterm"]


class InputError(ValueError):
    """An input file or option that cannot be used at all; the message is one line, meant for the user."""


USER_ERRORS = (InputError, BundleError, OutputError, ResourceError, SimulationFileError)
_debug = os.environ.get("INVERT_DEBUG", "") not in ("", "0")


def set_debug(on: bool) -> None:
    """Show full tracebacks of internal errors (the --debug option)."""
    global _debug
    _debug = _debug or on


def stop_on_sigterm() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so that unfinished output folders are removed on the way out."""

    def stop(signum: int, _frame) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, stop)
        except ValueError:  # not the main thread (e.g. inside a test runner's worker): leave the default
            return


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


class ErrorsToExitCodes(TyperGroup):
    """The root command group: maps the exceptions of any command to one line and an exit code."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except USER_ERRORS as err:
            typer.echo(f"error: {_one_line(err)}", err=True)
            raise typer.Exit(2) from None
        except OSError as err:  # a file the user named: missing, unreadable, read-only, disk full
            where = f"{err.filename}: " if err.filename else ""
            typer.echo(f"error: {where}{err.strerror or _one_line(err)}", err=True)
            raise typer.Exit(2) from None
        except MemoryError:
            typer.echo("error: out of memory; use fewer --samples or a smaller --chunk", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("\ninterrupted: no output folder was written or changed", err=True)
            raise typer.Exit(130) from None
        except Exception as err:  # noqa: BLE001 - the last resort: one line, the traceback only on request
            if _debug:
                raise
            typer.echo(
                f"error: internal error ({type(err).__name__}: {_one_line(err)}); run `invert --debug ...` "
                "for the traceback and please report it",
                err=True,
            )
            raise typer.Exit(1) from None
