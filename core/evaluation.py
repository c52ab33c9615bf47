"""The paper's comparison protocol (Ardizzone et al. 2019, Sec. 4.2, Table 1): every method fitted on the same
simulations and scored on the same held-out test set.  Methods: "cinn", "inn" (bidirectional), "inn-forward",
"inn-inverse" (the paper's training ablation), "cvae", "dropout" (invert.core.baselines) and "abc" (rejection ABC;
its pool is the training simulations unless a larger one is given; it keeps the n_samples nearest, at most 1 % of
the pool); where the simulator's likelihood is known, "cinn+is": the same cINN's draws reweighted by it
(invert.core.importance).  This module fits and runs them (`run_method`, `evaluate`) and records each run's fitting
time and time per observation, as measured: sampling only for the networks (their training simulations are not
counted), the search only for ABC, whose pool is simulated once and shared by all observations; that simulation
time is reported once, apart (`pool_sim_s` in the run's notes).  The scores per method and parameter are in
invert.core.evaluation_scores, the figures in invert.core.evaluation_plots and the output folder in
invert.core.evaluation_files; their public names are importable from here as well.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .baselines import RejectionABC
from .estimator import Posterior, fit
from .evaluation_files import evaluation_files, markdown_table
from .evaluation_plots import calibration_figure, correlation_figure
from .evaluation_scores import c2st_1nn, median_standard_error, mode_check, mode_summary, score
from .importance import ImportancePosterior, LogLikelihood

__all__ = [
    "METHODS",
    "MethodRun",
    "parse_methods",
    "run_method",
    "evaluate",
    # gathered from invert.core.evaluation_scores, evaluation_plots and evaluation_files
    "score",
    "median_standard_error",
    "c2st_1nn",
    "mode_check",
    "mode_summary",
    "calibration_figure",
    "correlation_figure",
    "markdown_table",
    "evaluation_files",
]

METHODS = ("cinn", "cinn+is", "inn", "inn-forward", "inn-inverse", "abc", "cvae", "dropout")


@dataclass
class MethodRun:
    """One method's posterior samples of the test set and its costs."""

    method: str
    samples: np.ndarray  # (B, n, dx)
    fit_s: float  # training (ABC: indexing its pool)
    per_obs_s: float  # sampling time per test observation (ABC: the search in its pool)
    notes: dict[str, Any] = field(default_factory=dict)
    posterior: Posterior | None = None  # the fitted network, for "cinn+is" to reuse


def parse_methods(text: str) -> list[str]:
    """Comma-separated method names, checked against METHODS."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ValueError(f"unknown method(s) {', '.join(unknown) or repr(text)}; choose from {', '.join(METHODS)}")
    return names


def run_method(
    method: str,
    x: np.ndarray,
    y: np.ndarray,
    y_test: np.ndarray,
    n_samples: int,
    seed: int,
    fit_kwargs: dict[str, Any],
    abc: RejectionABC | None = None,
    log_likelihood: LogLikelihood | None = None,
    cinn: MethodRun | None = None,
) -> MethodRun:
    """Fit one method on (x, y) and sample the test observations.

    ABC builds its pool from (x, y) or takes the one given (its simulation time, abc.sim_time_s, goes to the notes
    as pool_sim_s; 0 where it was not timed); cinn+is reuses the cinn run's network if given."""
    if method == "cinn+is":
        if log_likelihood is None:
            raise ValueError("cinn+is needs the simulator's likelihood, which this problem does not provide")
        post, fit_s = (cinn.posterior, cinn.fit_s) if cinn else _fit_network("cinn", x, y, seed, fit_kwargs)
        t1 = time.perf_counter()
        samples, diagnostics = ImportancePosterior(post, log_likelihood).draw(y_test, n_samples, seed=seed)
        notes = {"epochs": post.metadata["epochs_run"], "ess_median": float(np.median(diagnostics["ess"]))}
        return MethodRun(method, samples, fit_s, (time.perf_counter() - t1) / len(y_test), notes, post)
    if method == "abc":  # fit: indexing the pool built here (0 for one given); per observation: the search only
        t0 = time.perf_counter()
        abc = abc or RejectionABC(x, y)
        t1 = time.perf_counter()
        samples = abc.sample(y_test, min(n_samples, abc.n_sims // 100 or 1))
        notes = {"pool": abc.n_sims, "accepted": samples.shape[1], "pool_sim_s": abc.sim_time_s}
        return MethodRun(method, samples, t1 - t0, (time.perf_counter() - t1) / len(y_test), notes)
    post, fit_s = _fit_network(method, x, y, seed, fit_kwargs)
    t1 = time.perf_counter()
    samples = post.sample(y_test, n_samples, seed=seed)
    return MethodRun(
        method, samples, fit_s, (time.perf_counter() - t1) / len(y_test), {"epochs": post.metadata["epochs_run"]}, post
    )


def _fit_network(
    method: str, x: np.ndarray, y: np.ndarray, seed: int, fit_kwargs: dict[str, Any]
) -> tuple[Posterior, float]:
    """A network method ("cinn", "inn", "inn-forward", ..., "cvae", "dropout") fitted on (x, y), and its time in s."""
    t0 = time.perf_counter()
    base, _, training = method.partition("-")
    strategy = {"": "bidirectional", "forward": "forward", "inverse": "inverse"}[training]
    post = fit(x, y, method=base, seed=seed, training=strategy, progress=False, **fit_kwargs)
    return post, time.perf_counter() - t0


def evaluate(
    methods: Sequence[str],
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    names: Sequence[str],
    n_samples: int = 4096,
    seed: int = 0,
    fit_kwargs: dict[str, Any] | None = None,
    abc: RejectionABC | None = None,
    say: Callable[[str], None] = print,
    log_likelihood: LogLikelihood | None = None,
) -> tuple[pd.DataFrame, dict[str, MethodRun]]:
    """Run every method and score it: (one row per method and parameter, the runs with their samples)."""
    runs, tables = {}, []
    for method in methods:
        say(
            f"{method}: fitting on {len(x)} simulations ..."
            if method != "cinn+is" or "cinn" not in runs
            else f"{method}: reweighting the cinn's draws by the likelihood ..."
        )
        runs[method] = run = run_method(
            method, x, y, y_test, n_samples, seed, fit_kwargs or {}, abc, log_likelihood, runs.get("cinn")
        )
        tables.append(score(run, x_test, names))
        pool = f"; its pool's simulation: {run.notes['pool_sim_s']:.1f} s, once" if "pool_sim_s" in run.notes else ""
        say(f"{method}: fit {run.fit_s:.1f} s, {run.per_obs_s * 1e3:.2f} ms per observation{pool}")
    return pd.concat(tables, ignore_index=True), runs
