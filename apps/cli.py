"""The `invert` command line: one Typer app; each application adds its commands with one line.

Importing the command line loads no engine: `invert --help`, `invert --version` and the help of every command
print without torch, Lightning, astropy, scipy or matplotlib, which each command imports when it runs
(tests/cli/test_startup.py; timings in benchmarks/startup.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from . import demo
from .kit.errors import ErrorsToExitCodes, set_debug, stop_on_sigterm
from .stars import cli as stars_cli
from .tissue import cli as tissue_cli

SHIPPED_MODELS = ("invert.data.tissue", "invert.data.stars")  # the data packages whose *.invert `invert models` lists
_HELP_ONLY = "invert.help_only"  # ctx.meta key: the command line only asks for help (see Invert.resolve_command)


class Invert(ErrorsToExitCodes):
    """The root group: every command's errors mapped to exit codes (ErrorsToExitCodes), and a note in the context
    whether the command line only asks for help (a help option, or a group without arguments), which the root
    callback then answers without loading the engine."""

    def resolve_command(self, ctx: typer.Context, args: list[str]):
        name, cmd, rest = super().resolve_command(ctx, args)
        is_group = isinstance(cmd, TyperGroup)
        ctx.meta[_HELP_ONLY] = any(a in ctx.help_option_names for a in args) or (is_group and not rest)
        return name, cmd, rest


app = typer.Typer(
    name="invert",
    help="Posteriors of ill-posed inverse problems with invertible neural networks (Ardizzone et al. 2019).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Invert,
)
app.add_typer(demo.app, name="demo")
app.add_typer(tissue_cli.app, name="tissue")
app.add_typer(stars_cli.app, name="stars")


def package_version() -> str:
    """Installed version of the invert distribution (as invert.core.bundle.package_version, without importing
    the engine)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("invert")
    except PackageNotFoundError:
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"invert {package_version()}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
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
    if not ctx.meta.get(_HELP_ONLY):
        from invert.core.devices import reuse_freed_memory

        reuse_freed_memory()


@app.command("models")
def models() -> None:
    """List the shipped models: app, file, method, simulator version, training and validation (what to cite)."""
    from importlib.resources import files

    from invert.core.bundle import read_bundle

    from .kit.manifest import sha256

    paths = [p for package in SHIPPED_MODELS for p in sorted(Path(str(files(package))).glob("*.invert"))]
    for i, path in enumerate(paths):
        meta = read_bundle(path)[0]
        typer.echo(("\n" if i else "") + "\n".join(describe_model(path, meta, sha256(path))))


def describe_model(path: Path, meta: dict, digest: str) -> list[str]:
    """The lines of `invert models` for one model file (meta: its metadata as read_bundle returns it)."""
    info = meta["metadata"]
    names, val = info.get("x_names") or [], info.get("validation") or {}
    devices = str(info.get("accelerator", "?")).removesuffix("Accelerator").lower()
    if info.get("world_size", 1) > 1:
        devices = f"{info['world_size']} x {devices}"
    training = f"{info['n_sims']:,} simulations" if "n_sims" in info else "? simulations"
    if "train_time_s" in info:
        training += f", {info['train_time_s']:.0f} s on {devices}"
    if "epochs_run" in info:
        training += f" ({info['epochs_run']} epochs)"
    lines = [
        f"{info.get('problem', '?')}: {path.name}",
        f"  file        {path}",
        f"  sha256      {digest}",
        f"  method      {meta['method']} (invert {meta.get('package_version', '?')})",
        f"  simulator   {info.get('simulator', '?')}",
        f"  training    {training}",
    ]
    if "camera" in info:
        lines.append(f"  camera      {info['camera']['name']} ({len(info['camera']['bands'])} bands)")
    if "command" in info:
        lines.append(f"  made by     {info['command']}")
    errors = val.get("calibration_error")
    if errors and len(errors) == len(names):
        worst = max(range(len(names)), key=lambda k: errors[k])
        largest = "the largest" if worst == 0 else f"largest: {names[worst]} {errors[worst]:.3f}"
        lines.append(
            f"  validation  {val.get('n_obs', '?')} held-out simulations: calibration error {names[0]} {errors[0]:.3f} "
            f"({largest} of {len(names)} parameters)"
        )
    else:
        lines.append("  validation  none stored")
    return lines
