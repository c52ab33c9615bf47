"""The `evaluate` commands of the apps: the paper's comparison of methods on held-out simulations."""

from __future__ import annotations

import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import typer

import invert.core as ic
from invert.core.baselines import RejectionABC
from invert.core.devices import resolve_device
from invert.core.evaluation import MethodRun, evaluate, evaluation_files, parse_methods
from invert.core.outputs import OutputFolder
from invert.core.problem import problem_metadata

from .manifest import Manifest, file_record
from .options import fail


def checked_methods(text: str, has_likelihood: bool) -> list[str]:
    """The --methods list, or one error line and exit code 2 (cinn+is needs the simulator's likelihood)."""
    try:
        methods = parse_methods(text)
    except ValueError as err:
        fail(str(err))
    if "cinn+is" in methods and not has_likelihood:
        fail(
            "cinn+is needs the simulator's likelihood, which this app's simulator does not provide "
            "(the stars app has one)"
        )
    return methods


def training_pairs(
    problem,
    sims: Path | None,
    n_sims: int,
    seed: int,
    progress: bool,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Training simulations from a file written by `simulate` (checked against the simulator) or made now on the
    best device, in batches of `chunk` (with the app's `simulate` chunk, the same pairs as
    `simulate --n n_sims --seed seed`)."""
    if sims is not None:
        try:
            x, y, _ = ic.load_simulations(sims, problem)
        except (ic.SimulationFileError, FileNotFoundError) as err:
            fail(str(err))
        return x, y, str(sims)
    x, y = ic.simulate_dataset(
        problem, n_sims, seed=seed, chunk=chunk, device=resolve_device("auto"), progress=progress
    )
    return x, y, f"{n_sims} new simulations (seed {seed})"


def machine() -> str:
    """The device the numbers were measured on."""
    device = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores"
    return f"{device}, torch {torch.__version__}, {platform.platform()}"


def run_evaluation(
    problem,
    x: np.ndarray,
    y: np.ndarray,
    *,
    source: str,
    sims: Path | None,
    methods: Sequence[str],
    targets: Sequence[str],
    n_test: int,
    samples: int,
    seed: int,
    epochs: int | None,
    abc_sims: int,
    folder: OutputFolder,
    manifest: Manifest,
    progress: bool,
    test_problem=None,
    modes_of: str | None = None,
    reference: Callable[[np.ndarray], MethodRun] | None = None,
    min_ess: float = 0.0,
    compared: Sequence[str] | None = None,
    log_likelihood=None,
) -> None:
    """Fit and score every method on the same simulations and test set; write the tables and run.json (manifest:
    started by the command with its settings; sims: the training simulation file, None for new ones) into the
    output folder (opened, and so checked, before the simulations: OutputFolder) and print them.

    test_problem (default: problem) simulates the test set and a new ABC pool; modes_of names the parameter of
    the multi-modality check against reference(y_test), a reference posterior of the test observations (C2ST over
    the parameters `compared`, default all); log_likelihood(x, y) enables the method cinn+is."""
    manifest.input = file_record(sims) if sims is not None else None  # the file the pairs x, y were read from
    manifest.simulator = problem_metadata(problem)
    manifest.settings["device"] = str(resolve_device("auto"))
    test_problem = test_problem or problem
    say = (lambda text: typer.echo(text, err=True)) if progress else (lambda text: None)
    t0 = time.perf_counter()
    x_test, y_test = ic.simulate_dataset(test_problem, n_test, seed=seed + 1_000_003, device=resolve_device("auto"))
    seconds_per_simulation = (time.perf_counter() - t0) / n_test
    abc = None
    if "abc" in methods:  # one pool for every observation; the training pairs' time estimated at the test rate
        abc = (
            RejectionABC.simulate(test_problem, abc_sims, seed=seed + 2_000_003, progress=progress)
            if abc_sims
            else RejectionABC(x, y, sim_time_s=len(x) * seconds_per_simulation)
        )
    fit_kwargs: dict[str, Any] = {"x_bounds": problem.x_bounds, "max_epochs": epochs}
    names = list(problem.x_names)
    scores, runs = evaluate(methods, x, y, x_test, y_test, names, samples, seed, fit_kwargs, abc, say, log_likelihood)
    info = {
        "command": manifest.command,
        "simulator": problem.version,
        "training simulations": f"{len(x)} ({source})",
        "test simulations": f"{n_test} (seed {seed + 1_000_003})",
        "samples per observation": samples,
        "ABC pool": f"{abc.n_sims} simulations "
        f"({'new' if abc_sims else 'the training simulations, their simulation time estimated at the test rate'})"
        if abc
        else "-",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
    }
    ref = None
    if modes_of and reference is not None:
        say("reference posteriors of the test observations ...")
        ref = reference(y_test)
        reliable = (
            ""
            if "ess" not in ref.notes
            else f"; {int((np.asarray(ref.notes['ess']) >= min_ess).sum())} of {len(y_test)} with ESS >= {min_ess:g}"
        )
        info["reference posterior"] = f"{ref.method}: {ref.per_obs_s:.2f} s per observation{reliable}"
    files = evaluation_files(scores, runs, x_test, names, targets, info, modes_of, ref, min_ess, compared)
    files["run.json"] = manifest.text(outputs=[*files, "run.json"])
    folder.write(files)
    folder.commit()
    typer.echo(files["table.md"].split("\n\n", 1)[1])
    typer.echo(f"wrote {folder.target}/{', '.join(files)}")
