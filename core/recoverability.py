"""Which parameters can the measurements recover? Posterior contraction and accuracy per parameter, and what
a posterior/prior width ratio says about a parameter.

contraction = 1 - mean posterior variance / prior variance (0: the data leave the prior unchanged,
1: the posterior is a point); corr = correlation of the posterior medians with the true values.
Verdicts (`verdict`), with thresholds set on held-out simulations of a toy and of the shipped models, where
parameters without effect on y score near zero in both (measured by `invert tissue evaluate` and `invert stars
evaluate`, README.md section "The paper's comparison"; tables in benchmarks/results/evaluate/*/recoverability.csv):

- "recoverable": contraction >= 0.5 and corr >= 0.7 (posterior std below 0.7 of the prior's);
- "not recoverable": contraction < 0.2 or corr < 0.3 (the posterior is close to the prior);
- "partly": in between.

Width ratio.  On the observations at hand, a parameter's posterior/prior width ratio
(invert.core.analysis.width_ratio) says how much these data constrain it (`constraint_label`): above
UNCONSTRAINED_RATIO "not constrained by data", at or below WELL_CONSTRAINED_RATIO "well constrained", and
"partly constrained" in between.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

RECOVERABLE = {"contraction": 0.5, "corr": 0.7}
NOT_RECOVERABLE = {"contraction": 0.2, "corr": 0.3}
UNCONSTRAINED_RATIO = 0.8  # posterior/prior width above which a parameter is "not constrained by data"
WELL_CONSTRAINED_RATIO = 0.5  # at or below: "well constrained"


def verdict(contraction: float, corr: float) -> str:
    """The recoverability verdict of one parameter (thresholds in the module docstring)."""
    if contraction >= RECOVERABLE["contraction"] and corr >= RECOVERABLE["corr"]:
        return "recoverable"
    if contraction < NOT_RECOVERABLE["contraction"] or not corr >= NOT_RECOVERABLE["corr"]:
        return "not recoverable"
    return "partly"


def constraint_label(ratio: float) -> str:
    """What a posterior/prior width ratio says about a parameter."""
    if not np.isfinite(ratio):
        return "n/a (no rows with a posterior)"
    if ratio > UNCONSTRAINED_RATIO:
        return "not constrained by data"
    return "well constrained" if ratio <= WELL_CONSTRAINED_RATIO else "partly constrained"


def recoverability_table(samples: np.ndarray, x_true: np.ndarray, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Recoverability per parameter from posterior samples (B, n, dx) of test observations with true x (B, dx)."""
    s, x = np.asarray(samples, dtype=np.float64), np.asarray(x_true, dtype=np.float64)
    if s.ndim != 3 or x.shape != (s.shape[0], s.shape[2]) or len(x) < 3:
        raise ValueError(f"samples (B, n, dx) and x_true (B, dx) with B >= 3 expected, got {s.shape} and {x.shape}")
    prior_var = x.var(axis=0)
    contraction = 1.0 - s.var(axis=1).mean(axis=0) / np.where(prior_var > 0, prior_var, np.nan)
    medians = np.median(s, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.array([np.corrcoef(medians[:, i], x[:, i])[0, 1] for i in range(x.shape[1])])
    table = pd.DataFrame({"contraction": contraction, "corr": corr}, index=list(names or range(x.shape[1])))
    table["verdict"] = [verdict(c, r) for c, r in zip(contraction, corr)]
    table.index.name = "parameter"
    return table


def recoverability(
    posterior, x_test: np.ndarray, y_test: np.ndarray, n_samples: int = 512, seed: int = 0
) -> pd.DataFrame:
    """Recoverability of each parameter of a Posterior on test pairs (x_test from the prior, y_test simulated)."""
    samples = posterior.sample(np.asarray(y_test), n_samples, seed=seed)
    names = posterior.metadata.get("x_names")
    return recoverability_table(samples, x_test, names)


def stored_table(metadata: dict) -> tuple[pd.DataFrame | None, int | None]:
    """The recoverability table stored in a model's metadata at training time, and its number of simulations.

    The number is that of the held-out simulations it was measured on; (None, None) for models that predate it or
    whose stored table is malformed (an edited file: the report then says the table is missing)."""
    validation = metadata.get("validation")
    stored = validation.get("recoverability") if isinstance(validation, dict) else None
    if not stored:
        return None, None
    try:
        return pd.DataFrame(stored["table"]).set_index("parameter"), int(stored["n_obs"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, None
