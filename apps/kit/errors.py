"""One error class for unusable input, and one error path for every command: what a user can cause ends in one
line on stderr and exit code 2; an internal error in one line and exit code 1, with the traceback only under
`invert --debug` (or INVERT_DEBUG=1).

`ErrorsToExitCodes` is the Typer group class of the `invert` app: it wraps the invocation of every command,
so the command line and the tests (typer's CliRunner) see the same exit codes.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer depends on click
    from click import ClickException

__all__ = ["InputError", "ErrorsToExitCodes", "user_errors", "set_debug", "stop_on_sigterm"]

# the engine's errors a user can cause, by module; the module is imported only by the commands that need it
ENGINE_ERRORS = (
    ("invert.core.bundle", "BundleError"),
    ("invert.core.outputs", "OutputError"),
    ("invert.core.resources", "ResourceError"),
    ("invert.core.simulation", "SimulationFileError"),
)


class InputError(ValueError):
    """An input file or option that cannot be used at all; the message is one line, meant for the user."""


def user_errors() -> tuple[type[Exception], ...]:
    """The error classes a user can cause: InputError and those of the engine modules loaded so far (an error of a
    module not loaded cannot have been raised), so that `invert --help` never imports the engine."""
    loaded = [getattr(sys.modules[module], name) for module, name in ENGINE_ERRORS if module in sys.modules]
    return (InputError, *loaded)


_debug = os.environ.get("INVERT_DEBUG", "") not in ("", "0")


def set_debug(on: bool) -> None:
    """Show full tracebacks of internal errors (the --debug option)."""
    global _debug
    _debug = _debug or on


def stop_on_sigterm() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so that output folders are cleaned up on the way out (an unfinished main
    job keeps its finished chunks for --resume, apps/kit/job.py)."""

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
        except (typer.Exit, typer.Abort):
            raise
        except ClickException as err:  # a usage error of a command's options: one line too (help requests pass)
            if type(err).__name__ == "NoArgsIsHelpError":
                raise
            typer.echo(f"error: {_one_line(err.format_message())}", err=True)
            raise typer.Exit(2) from None
        except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - every other error: one line and an exit code
            _fail(err)


def _fail(err: BaseException) -> NoReturn:
    """Print one line for err and exit: 2 user-caused, 130 interrupted, 1 internal (re-raised under --debug)."""
    if isinstance(err, KeyboardInterrupt):
        typer.echo("\ninterrupted: no output folder was written or changed", err=True)
        raise typer.Exit(130) from None
    if isinstance(err, user_errors()):
        code, line = 2, _one_line(err)
    elif isinstance(err, OSError):  # a file the user named: missing, unreadable, read-only, disk full
        code, line = 2, (f"{err.filename}: " if err.filename else "") + (err.strerror or _one_line(err))
    elif isinstance(err, MemoryError):
        code, line = 2, "out of memory; use fewer --samples or a smaller --chunk"
    elif _debug:
        raise err
    else:
        code = 1
        line = (
            f"internal error ({type(err).__name__}: {_one_line(err)}); run `invert --debug ...` for the "
            "traceback and please report it"
        )
    typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code) from None
