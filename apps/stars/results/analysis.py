"""Posterior analysis of the objects of a FITS file: line fluxes -> y -> samples -> one summary row per object.

The kit's MainJob streams the objects through `analyse_chunk` chunk by chunk and keeps the `report_column`s of
every object; `stars_analysis` adds the posterior-predictive bands of the detailed objects for the report. An
object's posterior draws depend only on the seed and its index in the file, so the chunk size never changes a
result. Objects that cannot be analysed keep their reason in `status` ("no_hbeta", "all_masked", "bad_values",
"bad_redshift", "no_distance") and empty cells. An analysed object passes three checks, each with its own column:

- `bad_fit`: the model cannot reproduce its lines (model.predictive.predictive_check: posterior-predictive p-value
  `fit_p` below BAD_FIT_P; per-line residuals `resid_<line>`, their sum of squares `fit_chi2`);
- `ood`: its y is unlike the training observations (Posterior.is_ood);
- `low_ess`: the importance reweighting (model.likelihood.reweighted_posterior) ended with fewer effective draws
  (`ess`) than core.importance.MIN_ESS, so the draws were resampled by weights tempered to MIN_ESS effective draws:
  an approximation between the proposals and the posterior the reweighting targets.

Its status is "ok" only when it passes all three, else the first that fails, in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from invert.apps.kit.job import ChunkResult, Streamed
from invert.apps.kit.options import DEFAULT_CHUNK
from invert.core import PosteriorLike
from invert.core.analysis import analyse
from invert.core.importance import MIN_ESS
from invert.core.problem import prior_std
from invert.core.progress import Progress

from ..io.observations import LineObservations
from ..model.cosmology import MPC_CM
from ..model.likelihood import decode
from ..model.linelist import NAMES
from ..model.predictive import LineValues, line_values, predictive_bands, predictive_check
from ..model.problem import StarsProblem

__all__ = [
    "StarsAnalysis",
    "Prepared",
    "prepare",
    "analyse_chunk",
    "report_column",
    "failed_checks",
    "stars_analysis",
    "blend_only",
    "N_MODES",
    "CHUNK_OBJECTS",
]

N_MODES = 2  # modes (position, weight) per parameter in the summary
CHUNK_OBJECTS = DEFAULT_CHUNK  # objects per chunk
CHECKS = ("bad_fit", "ood", "low_ess")  # an analysed object's status: "ok", or the first of these that fails
ROW_COLUMNS = ("id", "row", "col", "status", *CHECKS, "ood_score", "fit_chi2", "fit_p", "ess", "multimodal")
RESIDUALS = tuple(f"resid_{name}" for name in NAMES)  # per-line residuals of the posterior-predictive check
CHECK_WORDS = {
    "bad_fit": "the model cannot reproduce the lines",
    "ood": "unlike the training simulations",
    "low_ess": f"fewer than {MIN_ESS:g} effective draws: weights tempered to {MIN_ESS:g}, an approximation",
}
REPORT_STATS = ("_median", "_q16", "_q84", "_multimodal")  # per parameter, kept for every object


@dataclass
class StarsAnalysis:
    """What the report needs: a few columns for every object, full rows and samples of the first few analysed."""

    summary: pd.DataFrame  # every object: ROW_COLUMNS and {p}_median, _q16, _q84, _multimodal
    detailed_rows: np.ndarray  # (k,) row indices (into the objects) of the detailed objects
    detailed_summary: pd.DataFrame  # (k rows) their full summary rows
    detailed: np.ndarray  # (k, n_samples, dx) their posterior samples
    observed: LineValues  # their measured line values (k, V)
    bands: np.ndarray  # (k, 5, V) posterior-predictive quantiles of the same values
    upper_limit: np.ndarray  # (k, 12) their lines observed below 3 sigma (linelist order)
    width_ratio: dict[str, float]  # per parameter: median over objects of posterior std / prior std


@dataclass
class Prepared:
    """The objects as the network sees them."""

    status: np.ndarray  # (n,) "ok" or the reason an object has no posterior
    rows: np.ndarray  # (m,) indices of the objects with an observation y
    y: np.ndarray  # (m, dy)


def prepare(obs: LineObservations, problem: StarsProblem, distance_cm: np.ndarray | None) -> Prepared:
    """y of every object that can be analysed; distance_cm (n,) per object (NaN: unknown), None in ratios-only mode."""
    status = obs.status.astype(object).copy()
    if not problem.ratios_only:
        status[(status == "ok") & ~np.isfinite(distance_cm)] = "no_distance"
    ok = np.flatnonzero(status == "ok")
    y = problem.preprocess_lines(
        obs.fluxes[ok], obs.errors[ok], obs.mask[ok], None if problem.ratios_only else distance_cm[ok]
    )
    bad = ~np.isfinite(y).all(axis=1)
    status[ok[bad]] = "no_hbeta"
    return Prepared(status, ok[~bad], y[~bad])


def analyse_chunk(
    part: LineObservations,
    *,
    post: PosteriorLike,
    problem: StarsProblem,
    distance_cm: np.ndarray | None,
    blend: bool,
    n_samples: int = 4096,
    seed: int = 0,
    start: int = 0,
    max_detailed: int = 10,
    batch: int = 256,
    sink: Callable[[np.ndarray, np.ndarray], None] | None = None,
    progress: bool | Progress = True,
) -> ChunkResult:
    """Summaries of the objects of one chunk (objects start, start + 1, ... of the file; distance_cm of the whole
    file); blend: the file has objects with only the blended [OII] sum (its columns are then written)."""
    dist = None if distance_cm is None else distance_cm[start : start + len(part)]
    prepared = prepare(part, problem, dist)
    ok, y = prepared.rows, prepared.y

    def extra(s: np.ndarray, y_b: np.ndarray) -> dict[str, np.ndarray]:
        check = predictive_check(problem, s, y_b, seed)
        fit = {"fit_chi2": check.chi2, "fit_p": check.p_value, "bad_fit": check.bad_fit}
        return dict(zip(RESIDUALS, check.residual.T)) | fit

    result = analyse(
        post,
        y,
        problem.x_names,
        prior_std(problem),
        n_samples,
        seed,
        extra,
        n_modes=N_MODES,
        batch=batch,
        max_detailed=max_detailed,
        sink=sink,
        progress=progress,
        what="objects",
        rows=start + ok,
    )
    return ChunkResult(_assemble(part, prepared.status, ok, y, post, result.summary, problem, dist, blend), result, y)


def failed_checks(summary: pd.DataFrame) -> str:
    """One line counting the objects whose status is a failed check, with what each means ('' when none failed)."""
    status = summary["status"].astype(str).to_numpy()
    counts = {name: int((status == name).sum()) for name in CHECKS}
    if not any(counts.values()):
        return ""
    parts = [f"{n} {name} ({CHECK_WORDS[name]})" for name, n in counts.items() if n]
    return (
        f"{sum(counts.values())} of {len(status)} objects failed a check: {', '.join(parts)}; see the status column "
        "of summary.csv"
    )


def report_column(name: str) -> bool:
    """Whether the report needs a summary column for every object (the others are only in the summary files)."""
    return name in ROW_COLUMNS or name.endswith(REPORT_STATS)


def stars_analysis(streamed: Streamed, problem: StarsProblem) -> StarsAnalysis:
    """The report's view of a streamed file, with the posterior-predictive bands of the detailed objects."""
    lines = decode(problem, streamed.detailed_y)
    return StarsAnalysis(
        streamed.table,
        streamed.detailed_rows,
        streamed.detailed_table,
        streamed.detailed,
        line_values(problem, streamed.detailed_y),
        predictive_bands(problem, streamed.detailed),
        (lines.observed & ~lines.detected).numpy(),
        streamed.width_ratio,
    )


def _assemble(
    obs: LineObservations,
    status: np.ndarray,
    ok: np.ndarray,
    y: np.ndarray,
    post: PosteriorLike,
    stats: pd.DataFrame,
    problem: StarsProblem,
    distance_cm: np.ndarray | None,
    blend: bool,
) -> pd.DataFrame:
    """id, pixel, status, flags, redshift and distance, the parameter statistics, then the line fluxes used."""
    n = len(obs)
    table = pd.DataFrame({"id": obs.ids})
    if obs.pixel is not None:
        table["row"], table["col"] = obs.pixel[:, 0], obs.pixel[:, 1]
    checks = _checks(ok, y, post, stats, n)
    for name in CHECKS:  # the first failing check wins
        status = np.where((status == "ok") & checks[name].to_numpy(), name, status)
    table["status"] = status
    table = pd.concat([table, checks], axis=1)
    stats = stats.set_axis(ok)
    residuals = stats[list(RESIDUALS)].round(3)
    stats = stats.drop(columns=[*RESIDUALS, *checks.columns], errors="ignore")
    table["multimodal"] = (
        stats[[f"{p}_multimodal" for p in problem.x_names]]
        .any(axis=1)
        .reindex(range(n), fill_value=False)
        .to_numpy(bool)
    )
    table["redshift"] = obs.redshift
    table["distance_mpc"] = np.nan if distance_cm is None else distance_cm / MPC_CM
    lines = {}
    for j, name in enumerate(NAMES):
        lines[f"{name}_flux"], lines[f"{name}_err"] = obs.fluxes[:, j], obs.errors[:, j]
    if blend:  # the blended [OII] columns, when any object of the file has only the blend
        lines["OII3727sum_flux"], lines["OII3727sum_err"] = obs.oii_sum, obs.oii_sum_error
    return pd.concat([table, stats.reindex(range(n)), residuals.reindex(range(n)), pd.DataFrame(lines)], axis=1)


def _checks(ok: np.ndarray, y: np.ndarray, post: PosteriorLike, stats: pd.DataFrame, n: int) -> pd.DataFrame:
    """The checks' columns of the n objects (module docstring) from the statistics of the analysed ones (rows ok):
    flags False and numbers empty where an object has no posterior."""
    analysed = len(ok) > 0
    flags = {
        "bad_fit": stats["bad_fit"].to_numpy(bool),
        "ood": post.is_ood(y) if analysed else np.zeros(0, bool),
        "low_ess": stats["low_ess"].to_numpy(bool) if "low_ess" in stats else np.zeros(len(ok), bool),
    }
    numbers = {
        "ood_score": (post.ood_score(y) if analysed else np.zeros(0)).round(3),
        "fit_chi2": stats["fit_chi2"].to_numpy().round(3),
        "fit_p": stats["fit_p"].to_numpy().round(4),
        "ess": stats["ess"].to_numpy().round(1) if "ess" in stats else np.full(len(ok), np.nan),  # NaN: no reweighting
    }
    return pd.concat(
        [
            pd.DataFrame(flags, index=ok).reindex(range(n), fill_value=False),
            pd.DataFrame(numbers, index=ok).reindex(range(n)),
        ],
        axis=1,
    )


def blend_only(obs: LineObservations) -> np.ndarray:
    """(n,) objects whose file gives the blended [OII]3727 sum but not the two lines (the model cannot use it)."""
    return np.isfinite(obs.oii_sum) & ~obs.mask[:, [NAMES.index("OII3726"), NAMES.index("OII3729")]].all(axis=1)
