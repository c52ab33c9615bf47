"""Scores of the comparison protocol (invert.core.evaluation): pure functions of posterior samples and true values.
Per method and parameter (`score`): the calibration error (median |coverage - q| over the paper's levels,
invert.core.diagnostics), the signed calibration error and the coverage of the central 68 % interval, its median
width, the MAP error (median |MAP - true|, MAP as in invert.core.summaries) with its standard error over the
test set (`median_standard_error`), and the run's times (fit, per observation and, for ABC, its pool's simulation).
Where posteriors have several modes, `mode_check` measures how each method shares its samples among the modes of a
reference posterior and how well a classifier tells them apart (`c2st_1nn`); `mode_summary` averages it per method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
import torch

from .diagnostics import calibration_error, coverage
from .summaries import central_interval, map_estimate, modes

if TYPE_CHECKING:
    from .evaluation import MethodRun

__all__ = ["median_standard_error", "score", "c2st_1nn", "mode_check", "mode_summary"]


def median_standard_error(values: np.ndarray, window: float = 0.1) -> np.ndarray:
    """Standard error of the median of (B, d) values over their B rows, shape (d,).

    1 / (2 f(median) sqrt(B)), with the density f at the median from the spread of the quantiles
    0.5 +- window."""
    lo, hi = np.quantile(values, [0.5 - window, 0.5 + window], axis=0)
    return (hi - lo) / (2 * window) / (2 * np.sqrt(len(values)))


def score(run: MethodRun, x_test: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """The protocol's numbers for every parameter of one method, one row per parameter."""
    s = run.samples
    lo, hi = central_interval(s, 0.68)
    inside = coverage(s, x_test, 0.68)[0]
    map_abs_error = np.abs(map_estimate(s) - x_test)
    table = pd.DataFrame(
        {
            "method": run.method,
            "parameter": list(names),
            "calibration_error": calibration_error(s, x_test),
            "calibration_error_68": inside - 0.68,
            "coverage_68": inside,
            "width_68": np.median(hi - lo, axis=0),
            "map_error": np.median(map_abs_error, axis=0),
            "map_error_se": median_standard_error(map_abs_error),
            "fit_s": run.fit_s,
            "per_obs_s": run.per_obs_s,
            "pool_sim_s": run.notes.get("pool_sim_s", np.nan),  # ABC only: its pool's simulation, once
        }
    )
    return table


def c2st_1nn(p: np.ndarray, q: np.ndarray, n: int = 1000, seed: int = 0) -> float:
    """Classifier two-sample test with the leave-one-out 1-nearest-neighbour classifier (Lopez-Paz & Oquab 2017).

    Features are standardized by q; 0.5 when p and q are indistinguishable, 1.0 when fully separated.
    Exact copies within one set (resampled reference samples repeat draws) do not count as each other's
    neighbours: a copy would always find its twin and be classified right."""
    rng = np.random.default_rng(seed)
    a, b = (v[rng.choice(len(v), min(n, len(v)), replace=False)] for v in (p, q))
    mean, std = b.mean(axis=0), b.std(axis=0) + 1e-12
    both = torch.as_tensor((np.concatenate([a, b]) - mean) / std)
    label = np.r_[np.zeros(len(a)), np.ones(len(b))]
    d = torch.cdist(both, both, compute_mode="donot_use_mm_for_euclid_dist")  # exact zeros between copies
    same = torch.as_tensor(label[:, None] == label[None, :])
    d[(d == 0) & same] = float("inf")  # the diagonal and copies within a set
    return float((label[d.argmin(dim=1).numpy()] == label).mean())


def mode_check(
    runs: dict[str, MethodRun],
    index: int,
    reference: MethodRun,
    min_ess: float = 0.0,
    compared: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Each method's share of samples on each mode of a multi-modal reference posterior, and its C2ST against it.

    On the test observations whose reference posterior is multi-modal in parameter `index` (and, when the
    reference's notes give an effective sample size "ess" per observation, has at least min_ess): the share of
    each method's samples on each reference mode (samples assigned to the nearest mode) and the 1-NN C2ST of
    each method's samples against the reference over the parameters `compared` (default all); one row per
    observation, mode and method."""
    cols = slice(None) if compared is None else list(compared)
    ref = reference.samples
    ess = reference.notes.get("ess")
    rows = []
    for k, ref_modes in enumerate(modes(ref[:, :, index : index + 1])):
        found = ref_modes[0]
        if len(found) < 2 or (ess is not None and ess[k] < min_ess):
            continue
        centres = np.array([m for m, _ in found])
        for method, run in runs.items():
            nearest = np.abs(run.samples[k, :, index][:, None] - centres[None]).argmin(axis=1)
            c2st = c2st_1nn(run.samples[k][:, cols], ref[k][:, cols], seed=k)
            for j, (centre, weight) in enumerate(found):
                rows.append(
                    {
                        "observation": k,
                        "method": method,
                        "mode": round(centre, 4),
                        "reference_share": weight,
                        "share": float((nearest == j).mean()),
                        "c2st_vs_reference": c2st,
                    }
                )
    columns = ["observation", "method", "mode", "reference_share", "share", "c2st_vs_reference"]
    return pd.DataFrame(rows, columns=columns)


def mode_summary(check: pd.DataFrame) -> pd.DataFrame:
    """Per method over the multi-modal observations: mean |share - reference share| and mean C2ST."""
    if check.empty:
        return pd.DataFrame(columns=["method", "observations", "share_error", "c2st_vs_reference"])
    check = check.assign(share_error=(check["share"] - check["reference_share"]).abs())
    per_obs = check.groupby(["method", "observation"]).agg(
        share_error=("share_error", "max"), c2st=("c2st_vs_reference", "first")
    )
    return (
        per_obs.groupby("method", sort=False)
        .agg(observations=("c2st", "size"), share_error=("share_error", "mean"), c2st_vs_reference=("c2st", "mean"))
        .reset_index()
    )
