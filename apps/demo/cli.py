"""`invert demo gmm8`: the core on the paper's 8-mode toy, with the exact posterior beside it; `invert demo
posterior`: the trained toy model's posteriors for a CSV of observations (apps/demo/job.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..kit.options import DEVICE_HELP, RESUME, Method, checked_device

app = typer.Typer(help="Demonstrations of the engine on built-in toy problems.", no_args_is_help=True)


@app.command("gmm8")
def gmm8(
    method: Method = typer.Option(
        Method.cinn, help="cinn (maximum likelihood) or inn (the paper's INN; loss paper+ml: its terms + likelihood)."
    ),
    n_sims: int = typer.Option(20_000, "--n-sims", help="Training simulations."),
    epochs: int = typer.Option(None, help="Training epochs [default: 40 for cinn, 80 for inn]."),
    samples: int = typer.Option(4096, help="Posterior samples per label."),
    seed: int = typer.Option(0, help="Random seed."),
    save: Optional[Path] = typer.Option(
        None, "--save", help="Also write the trained model (for `invert demo posterior`)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train on the 8-mode Gaussian mixture toy and compare the posterior of each label with the exact one."""
    import invert.core as ic
    from invert.core.problem import problem_metadata
    from invert.core.toys import INN_TOY_NET, INN_TOY_TRAIN, MODES, GaussianMixture8, mode_shares

    problem = GaussianMixture8()
    x, y = ic.simulate_dataset(problem, n_sims, seed=seed)
    epochs = epochs or (INN_TOY_TRAIN.max_epochs if method is Method.inn else 40)
    typer.echo(f"training {method.value} on {n_sims} simulations of the 8-mode toy ({epochs} epochs)")
    settings = dict(net=INN_TOY_NET, train=INN_TOY_TRAIN) if method is Method.inn else {}
    post = ic.fit(
        x,
        y,
        method=method.value,
        seed=seed,
        max_epochs=epochs,
        progress=not quiet,
        metadata=problem_metadata(problem),
        **settings,
    )
    typer.echo(f"trained in {post.metadata['train_time_s']:.1f} s\n")
    typer.echo("label  mode (x1, x2)        share  exact   |  in a true mode")
    for label in range(problem.n_labels):
        draws = post.sample(problem.observation(label), samples, seed=seed)
        shares = mode_shares(draws, problem.sigma)
        modes = problem.modes_of(label).tolist()
        for j, k in enumerate(modes):
            head = f"{label:>5}" if j == 0 else " " * 5
            tail = f"   |  {shares[modes].sum():6.1%}" if j == 0 else ""
            typer.echo(
                f"{head}  ({MODES[k, 0]:+.2f}, {MODES[k, 1]:+.2f})     {shares[k]:6.1%}  {1 / len(modes):6.1%}{tail}"
            )
    if save is not None:
        post.save(save)
        typer.echo(f"wrote {save}")


@app.command("posterior")
def posterior(
    input: Path = typer.Option(
        ...,
        "--input",
        "-i",
        help="CSV with an optional id column and the columns label0 ... label5 (the one-hot label of the 8-mode toy).",
    ),
    model: Path = typer.Option(..., "--model", help="A model written by `invert demo gmm8 --save`."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: a folder named after the input)."),
    samples: int = typer.Option(4096, "--samples", min=16, help="Posterior samples per row."),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder whole."),
    resume: bool = RESUME,
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Posterior of x for every row of a CSV of 8-mode-toy observations (a third app built from the job kit)."""
    checked_device(device)
    from ..kit.job import JobSettings
    from .job import run_rows

    settings = JobSettings(
        n_samples=samples, seed=seed, progress=not quiet, overwrite=overwrite, device=device, resume=resume
    )
    raise typer.Exit(run_rows(input, model, out, settings))
