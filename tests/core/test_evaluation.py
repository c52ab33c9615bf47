"""The comparison protocol: scores of exact samples, the 1-NN C2ST, the multi-modality check and the output files."""

import json

import numpy as np
import pandas as pd

import invert.core as ic
from invert.core import evaluation, evaluation_files, evaluation_plots, evaluation_scores
from invert.core.baselines import RejectionABC
from invert.core.evaluation import (
    MethodRun,
    c2st_1nn,
    median_standard_error,
    mode_check,
    mode_summary,
    run_method,
    score,
)

from .test_baselines import NOISE, A, GaussianLinear, exact_posterior


def test_protocol_scores_of_exact_posterior_samples():
    """Exact posterior samples score as calibrated: coverage of the 68 % interval ~0.68, small calibration error."""
    problem = GaussianLinear()
    x_test, y_test = ic.simulate_dataset(problem, 2000, seed=5)
    mean, cov = exact_posterior(y_test)
    rng = np.random.default_rng(0)
    samples = mean[:, None, :] + rng.multivariate_normal(np.zeros(2), cov, (2000, 400))
    table = score(MethodRun("exact", samples, 0.0, 1e-3), x_test, ["a", "b"])
    # measured spread over seeds: |coverage - 0.68| <= 0.02, calibration error <= 0.012
    np.testing.assert_allclose(table["coverage_68"], 0.68, atol=0.035)
    assert (table["calibration_error"] < 0.025).all()
    np.testing.assert_allclose(table["width_68"], 2 * 0.994 * np.sqrt(np.diag(cov)), rtol=0.05)


def test_cinn_plus_is_alone_fits_its_own_cinn_and_recovers_the_exact_posterior():
    """Asked for "cinn+is" without a "cinn" run, the protocol fits the cINN itself; a poorly trained cINN
    (2 epochs) reweighted by the exact log p(x) p(y | x) gives the exact posterior's means and sds."""
    problem = GaussianLinear()
    x, y = ic.simulate_dataset(problem, 4000, seed=0)
    x_test, y_test = ic.simulate_dataset(problem, 5, seed=1)

    def log_joint(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        resid = ys[:, None, :] - xs @ A.T
        return -0.5 * (resid**2).sum(-1) / NOISE**2 - 0.5 * (xs**2).sum(-1)

    run = run_method("cinn+is", x, y, y_test, 4000, 0, {"max_epochs": 2}, log_likelihood=log_joint)
    mean, cov = exact_posterior(y_test)
    sd = np.sqrt(np.diag(cov))
    assert run.fit_s > 0 and run.notes["epochs"] == 2 and run.notes["ess_median"] > 200
    # measured over seeds 0-3: means within 0.036-0.052 sd, sds within 2-8 % (the cINN alone: 0.56-0.74 sd, 48-122 %)
    assert np.abs((run.samples.mean(1) - mean) / sd).max() < 0.12
    np.testing.assert_allclose(run.samples.std(1) / sd, 1.0, atol=0.15)


def test_abc_time_per_observation_is_its_search_and_its_pool_simulation_is_reported_once():
    """ABC's pool is simulated once for all observations: its simulation time (here a stated 100 s) goes to the
    notes and the score table's pool_sim_s, not into the time per observation (the search: milliseconds here)."""
    problem = GaussianLinear()
    x, y = ic.simulate_dataset(problem, 5000, seed=0)
    x_test, y_test = ic.simulate_dataset(problem, 8, seed=1)
    run = run_method("abc", x, y, y_test, 50, 0, {}, abc=RejectionABC(x, y, "cpu", sim_time_s=100.0))
    assert run.notes == {"pool": 5000, "accepted": 50, "pool_sim_s": 100.0}
    assert run.fit_s < 0.1 and 0 < run.per_obs_s < 1.0  # a given pool needs no fitting; 8 searches of 5,000
    table = score(run, x_test, ["a", "b"])
    assert (table["pool_sim_s"] == 100.0).all() and (table["per_obs_s"] == run.per_obs_s).all()
    own = run_method("abc", x, y, y_test, 50, 0, {})  # a pool built from the training pairs: not timed here
    assert own.notes["pool_sim_s"] == 0.0 and own.fit_s < 1.0


def test_median_standard_error_matches_the_asymptotic_formula():
    """The standard error of a median of n normal draws is close to sqrt(pi / 2) sigma / sqrt(n)."""
    values = np.random.default_rng(3).normal(0.0, [1.0, 0.1], size=(2000, 2))
    expected = np.sqrt(np.pi / 2) * np.array([1.0, 0.1]) / np.sqrt(2000)
    # over data seeds 0-199 the estimate was within 16 % of the formula, unbiased (mean ratio 1.007)
    np.testing.assert_allclose(median_standard_error(values), expected, rtol=0.25)


def test_c2st_1nn_tells_equal_from_shifted_distributions():
    rng = np.random.default_rng(0)
    same = [c2st_1nn(rng.standard_normal((1000, 3)), rng.standard_normal((1000, 3)), seed=s) for s in range(5)]
    shifted = c2st_1nn(rng.standard_normal((1000, 3)) + [3.0, 0, 0], rng.standard_normal((1000, 3)))
    # measured: 0.48-0.53 for equal distributions, 0.93 at a 3-sigma shift
    assert all(0.45 < v < 0.56 for v in same) and shifted > 0.9


def test_c2st_is_not_fooled_by_repeated_reference_samples():
    """A reference resampled with replacement repeats draws; copies must not find each other (measured 0.55)."""
    rng = np.random.default_rng(2)
    pool = rng.standard_normal((300, 3))
    resampled = pool[rng.integers(0, 300, 1000)]  # about 3 copies of each draw
    assert c2st_1nn(rng.standard_normal((1000, 3)), resampled) < 0.62


def test_mode_check_measures_mass_on_each_reference_mode():
    """Reference: equal modes at -1 and +1; 'both' matches it, 'one' puts everything on +1."""
    rng = np.random.default_rng(1)

    def bimodal(n):
        return np.where(rng.random((1, n, 1)) < 0.5, -1.0, 1.0) + 0.1 * rng.standard_normal((1, n, 1))

    reference = MethodRun("reference", np.concatenate([bimodal(4000), bimodal(4000)]), 0, 1, {"ess": [500.0, 50.0]})
    runs = {
        "both": MethodRun("both", np.concatenate([bimodal(4000)] * 2), 0, 1),
        "one": MethodRun("one", 1.0 + 0.1 * rng.standard_normal((2, 4000, 1)), 0, 1),
    }
    check = mode_check(runs, 0, reference, min_ess=100)
    assert set(check["observation"]) == {0}  # the second reference has too few effective draws
    summary = mode_summary(check).set_index("method")
    assert summary.loc["both", "share_error"] < 0.05 and abs(summary.loc["one", "share_error"] - 0.5) < 0.05
    # C2ST of "one": the reference half at -1 is always told apart, the rest at chance: 2/3 expected, 0.647 measured
    assert summary.loc["both", "c2st_vs_reference"] < 0.56 and summary.loc["one", "c2st_vs_reference"] > 0.6
    assert len(mode_check(runs, 0, reference)["observation"].unique()) == 2


def test_evaluation_files_assemble_scores_figures_and_the_mode_check():
    """The output folder from two synthetic runs (no training): every file, one table per target, the mode check."""
    rng = np.random.default_rng(3)
    x_test = rng.standard_normal((12, 2))

    def bimodal(n):
        s = x_test[:, None] + 0.3 * rng.standard_normal((12, n, 2))
        s[:, : n // 2, 0] += 2.0
        return s

    runs = {
        "cinn": MethodRun("cinn", bimodal(400), 1.5, 1e-3, {"epochs": 3}),
        "abc": MethodRun(
            "abc",
            x_test[:, None] + 0.5 * rng.standard_normal((12, 300, 2)),
            0.0,
            2e-3,
            {"pool": 99, "pool_sim_s": 7.25},
        ),
    }
    table = pd.concat([score(run, x_test, ["a", "b"]) for run in runs.values()], ignore_index=True)
    reference = MethodRun("reference", bimodal(400), 0.0, 0.0)
    files = evaluation.evaluation_files(table, runs, x_test, ["a", "b"], ["a"], {"command": "test"}, "a", reference)
    assert list(files) == [
        "table.md",
        "table.csv",
        "calibration.png",
        "correlation.png",
        "recoverability.csv",
        "modes.csv",
        "results.json",
    ]
    assert files["calibration.png"].startswith(b"\x89PNG") and files["correlation.png"].startswith(b"\x89PNG")
    assert "| method (a) |" in files["table.md"] and "| method (b) |" not in files["table.md"]
    assert "Multi-modality check (a): 12 test observations" in files["table.md"]
    assert files["table.md"].count("ABC pool simulation (99 simulations, once for all observations): 7.2 s") == 1
    results = json.loads(files["results.json"])
    assert results["runs"]["abc"] == {"fit_s": 0.0, "per_obs_s": 2e-3, "pool": 99, "pool_sim_s": 7.25}
    assert len(results["modes"]) == 2
    table_b = evaluation.evaluation_files(table, runs, x_test, ["a", "b"], ["a", "b"], {})["table.md"]
    assert "modes.csv" not in evaluation.evaluation_files(table, runs, x_test, ["a", "b"], ["b"], {})
    assert table_b.count("ABC pool simulation") == 1  # once, however many parameter tables


def test_evaluation_gathers_the_scores_figures_and_files():
    for module in (evaluation_scores, evaluation_plots, evaluation_files):
        assert all(getattr(evaluation, name) is getattr(module, name) for name in module.__all__)
