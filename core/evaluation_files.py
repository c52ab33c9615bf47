"""The output folder of an evaluate command (`evaluation_files`): the scores as markdown and CSV tables, the figures
as PNG, the recoverability of every method and everything in results.json.  Scoring lives in
invert.core.evaluation_scores, drawing in invert.core.evaluation_plots; this module only assembles their results
into files.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from .evaluation_plots import calibration_figure, correlation_figure
from .evaluation_scores import mode_check, mode_summary
from .plots import figure_to_png
from .recoverability import recoverability_table

if TYPE_CHECKING:
    from .evaluation import MethodRun

__all__ = ["markdown_table", "evaluation_files"]


def _markdown(table: pd.DataFrame) -> str:
    """A small table as markdown, floats with 3 decimals."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def markdown_table(scores: pd.DataFrame, parameter: str) -> str:
    """The paper's table for one parameter: one row per method."""
    rows = scores[scores["parameter"] == parameter]
    lines = [
        f"| method ({parameter}) | calibration error | calib. error at 68 % | 68 % coverage | 68 % width "
        "| MAP error (\u00b1 SE) | fit (s) | time per observation (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows.itertuples():
        lines.append(
            f"| {r.method} | {r.calibration_error:.4f} | {r.calibration_error_68:+.4f} | {r.coverage_68:.3f} "
            f"| {r.width_68:.4f} | {r.map_error:.4f} \u00b1 {r.map_error_se:.4f} | {r.fit_s:.1f} "
            f"| {r.per_obs_s * 1e3:.2f} |"
        )
    return "\n".join(lines)


def _timing_note(runs: dict[str, MethodRun]) -> str:
    """What the tables' times are, and the ABC pool's simulation time, which is spent once for all observations."""
    note = (
        "Times as measured: fit = training (ABC: indexing its pool); time per observation = sampling "
        "(ABC: the search in its pool); the simulations are not counted."
    )
    if "abc" in runs:
        abc = runs["abc"].notes
        spent = f"{abc['pool_sim_s']:.1f} s" if abc.get("pool_sim_s", 0) > 0 else "not timed"
        note += f" ABC pool simulation ({abc['pool']} simulations, once for all observations): {spent}."
    return note


def evaluation_files(
    scores: pd.DataFrame,
    runs: dict[str, MethodRun],
    x_test: np.ndarray,
    names: Sequence[str],
    targets: Sequence[str],
    info: dict[str, Any],
    modes_of: str | None = None,
    reference: MethodRun | None = None,
    min_ess: float = 0.0,
    compared: Sequence[str] | None = None,
) -> dict[str, bytes | str]:
    """The output folder of an evaluate command, as file name -> content.

    table.md (one table per target parameter), table.csv (all parameters), calibration.png, correlation.png,
    recoverability.csv and results.json; with modes_of (a parameter name) and a reference posterior also
    modes.csv, the multi-modality check (mode_check)."""
    main = next((m for m in ("cinn", "inn") if m in runs), next(iter(runs)))
    recover = pd.concat(
        [recoverability_table(run.samples, x_test, names).assign(method=m).reset_index() for m, run in runs.items()],
        ignore_index=True,
    )
    header = "\n".join(f"- {k}: {v}" for k, v in info.items())
    tables = "\n\n".join(markdown_table(scores, t) for t in targets) + "\n\n" + _timing_note(runs)
    extra: dict[str, str] = {}
    summary = None
    if modes_of and reference is not None:
        check = mode_check(
            runs,
            list(names).index(modes_of),
            reference,
            min_ess,
            None if compared is None else [list(names).index(p) for p in compared],
        )
        summary = mode_summary(check)
        extra["modes.csv"] = check.to_csv(index=False, float_format="%.4g")
        n_multimodal = summary["observations"].max() if len(summary) else 0
        tables += (
            f"\n\nMulti-modality check ({modes_of}): {n_multimodal} test observations with a multi-modal "
            f"reference posterior ({reference.method}); largest |share - reference share| per observation and "
            "1-NN C2ST against the reference, averaged\n\n" + _markdown(summary)
        )
    title = f"{main}: mean posterior correlation\nover {len(x_test)} test observations"
    return {
        "table.md": f"{header}\n\n{tables}\n",
        "table.csv": scores.to_csv(index=False, float_format="%.6g"),
        "calibration.png": figure_to_png(calibration_figure(runs, x_test, names, targets)),
        "correlation.png": figure_to_png(correlation_figure(runs[main].samples, names, title)),
        "recoverability.csv": recover.to_csv(index=False, float_format="%.4g"),
        **extra,
        "results.json": json.dumps(
            {
                "info": info,
                "scores": scores.to_dict(orient="records"),
                "modes": None if summary is None else summary.to_dict(orient="records"),
                "runs": {m: {"fit_s": r.fit_s, "per_obs_s": r.per_obs_s, **r.notes} for m, r in runs.items()},
                "recoverability": recover.to_dict(orient="records"),
            },
            indent=1,
            default=float,
        ),
    }
