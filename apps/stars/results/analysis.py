"""Posterior analysis of the objects of a FITS file: line fluxes -> y -> samples -> one summary row per object.

The kit's MainJob streams the objects through `analyse_chunk` chunk by chunk and keeps the `report_column`s of
every object; `stars_analysis` adds the posterior-predictive bands of the detailed objects for the report. An
object's posterior draws depend only on the seed and its index in the file, so the chunk size never changes a
result. Objects that cannot be analysed keep their reason in `status` ("no_hbeta", "all_masked", "bad_values",
"bad_redshift", "no_distance") and empty cells. With importance sampling (model.likelihood.exact_posterior) `ess`
is the effective number of draws behind each posterior; below core.importance.MIN_ESS the network's own draws are
kept. An object is out of distribution (`ood`) when its y is unlike the training observations (Posterior.is_ood)
or the model cannot reproduce its lines (re-simulation error > RESIM_LIMIT sigma).
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
from invert.core.problem import prior_std
from invert.core.progress import Progress

from ..io.observations import LineObservations
from ..model.cosmology import MPC_CM
from ..model.linelist import NAMES
from ..model.predictive import RESIM_LIMIT, LineValues, line_values, predictive_bands, resimulation_sigma
from ..model.problem import StarsProblem

__all__ = [
    "StarsAnalysis",
    "Prepared",
    "prepare",
    "analyse_chunk",
    "report_column",
    "stars_analysis",
    "blend_only",
    "N_MODES",
    "CHUNK_OBJECTS",
]

N_MODES = 2  # modes (position, weight) per parameter in the summary
CHUNK_OBJECTS = DEFAULT_CHUNK  # objects per chunk
ROW_COLUMNS = ("id", "row", "col", "status", "ood", "ood_score", "resim_error", "ess", "multimodal")
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
        return {"resim_error": resimulation_sigma(problem, s, y_b)}

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


def report_column(name: str) -> bool:
    """Whether the report needs a summary column for every object (the others are only in the summary files)."""
    return name in ROW_COLUMNS or name.endswith(REPORT_STATS)


def stars_analysis(streamed: Streamed, problem: StarsProblem) -> StarsAnalysis:
    """The report's view of a streamed file, with the posterior-predictive bands of the detailed objects."""
    return StarsAnalysis(
        streamed.table,
        streamed.detailed_rows,
        streamed.detailed_table,
        streamed.detailed,
        line_values(problem, streamed.detailed_y),
        predictive_bands(problem, streamed.detailed),
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
    table["status"] = status
    ood_score = np.full(n, np.nan)
    ood_score[ok] = post.ood_score(y) if len(ok) else []
    resim = np.full(n, np.nan)
    resim[ok] = stats["resim_error"].to_numpy()
    ood = np.zeros(n, dtype=bool)
    ood[ok] = post.is_ood(y) | (resim[ok] > RESIM_LIMIT) if len(ok) else []
    table["ood"] = ood
    table["ood_score"] = ood_score.round(3)
    table["resim_error"] = resim.round(3)
    ess = np.full(n, np.nan)  # effective draws of the importance weights (NaN: the network's draws alone)
    if "ess" in stats:
        ess[ok] = stats["ess"].to_numpy()
    table["ess"] = ess.round(1)
    stats = stats.drop(columns=["resim_error", "ess"], errors="ignore")
    stats.index = ok
    modal = stats[[f"{p}_multimodal" for p in problem.x_names]].any(axis=1)
    table["multimodal"] = modal.reindex(range(n), fill_value=False).to_numpy(bool)
    table["redshift"] = obs.redshift
    table["distance_mpc"] = np.nan if distance_cm is None else distance_cm / MPC_CM
    lines = {}
    for j, name in enumerate(NAMES):
        lines[f"{name}_flux"], lines[f"{name}_err"] = obs.fluxes[:, j], obs.errors[:, j]
    if blend:  # the blended [OII] columns, when any object of the file has only the blend
        lines["OII3727sum_flux"], lines["OII3727sum_err"] = obs.oii_sum, obs.oii_sum_error
    return pd.concat([table, stats.reindex(range(n)), pd.DataFrame(lines)], axis=1)


def blend_only(obs: LineObservations) -> np.ndarray:
    """(n,) objects whose file gives the blended [OII]3727 sum but not the two lines (the model cannot use it)."""
    return np.isfinite(obs.oii_sum) & ~obs.mask[:, [NAMES.index("OII3726"), NAMES.index("OII3729")]].all(axis=1)
