"""The paper's comparison protocol (Ardizzone et al. 2019, Sec. 4.2, Table 1): every method fitted on the
same simulations and scored on the same held-out test set.

Methods: "cinn", "inn" (bidirectional), "inn-forward", "inn-inverse" (the paper's training ablation),
"cvae", "dropout" (invert.core.baselines) and "abc" (rejection ABC; its pool is the training simulations
unless a larger one is given; it keeps the n_samples nearest, at most 1 % of the pool); where the simulator's
likelihood is known, "cinn+is": the same cINN's draws reweighted by it (invert.core.importance). Per method
and parameter: calibration error (median |coverage - q| over the paper's levels), the signed calibration
error and coverage of the central 68 % interval, its median width, the MAP error (median |MAP - true|) with its
standard error over the test set; plus
fitting time and time per observation (for ABC: the time to simulate its pool, which classic rejection ABC
spends again for every observation, plus the search).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from .baselines import RejectionABC
from .diagnostics import calibration_curve, calibration_error, coverage
from .estimator import Posterior, fit
from .importance import ImportancePosterior, LogLikelihood
from .recoverability import recoverability_table
from .summaries import central_interval, correlation, map_estimate, modes

METHODS = ("cinn", "cinn+is", "inn", "inn-forward", "inn-inverse", "abc", "cvae", "dropout")


@dataclass
class MethodRun:
    """One method's posterior samples of the test set and its costs."""

    method: str
    samples: np.ndarray  # (B, n, dx)
    fit_s: float
    per_obs_s: float
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
    method: str, x: np.ndarray, y: np.ndarray, y_test: np.ndarray, n_samples: int, seed: int,
    fit_kwargs: dict[str, Any], abc: RejectionABC | None = None, log_likelihood: LogLikelihood | None = None,
    cinn: MethodRun | None = None,
) -> MethodRun:
    """Fit one method on (x, y) (ABC: build or take its pool; cinn+is: reuse the cinn run's network if given)
    and sample the test observations."""
    if method == "cinn+is":
        if log_likelihood is None:
            raise ValueError("cinn+is needs the simulator's likelihood, which this problem does not provide")
        post, fit_s = (cinn.posterior, cinn.fit_s) if cinn else _fit_network("cinn", x, y, seed, fit_kwargs)
        t1 = time.perf_counter()
        samples, diagnostics = ImportancePosterior(post, log_likelihood).draw(y_test, n_samples, seed=seed)
        return MethodRun(method, samples, fit_s, (time.perf_counter() - t1) / len(y_test),
                         {"epochs": post.metadata["epochs_run"], "ess_median": float(np.median(diagnostics["ess"]))}, post)
    if method == "abc":
        t0 = time.perf_counter()
        abc = abc or RejectionABC(x, y)
        fit_s = abc.sim_time_s
        samples = abc.sample(y_test, min(n_samples, abc.n_sims // 100 or 1))
        search_s = time.perf_counter() - t0
        return MethodRun(method, samples, fit_s, abc.sim_time_s + search_s / len(y_test),
                         {"pool": abc.n_sims, "accepted": samples.shape[1]})
    post, fit_s = _fit_network(method, x, y, seed, fit_kwargs)
    t1 = time.perf_counter()
    samples = post.sample(y_test, n_samples, seed=seed)
    return MethodRun(method, samples, fit_s, (time.perf_counter() - t1) / len(y_test),
                     {"epochs": post.metadata["epochs_run"]}, post)


def _fit_network(method: str, x: np.ndarray, y: np.ndarray, seed: int, fit_kwargs: dict[str, Any]) -> tuple[Posterior, float]:
    """A network method ("cinn", "inn", "inn-forward", ..., "cvae", "dropout") fitted on (x, y), and its time in s."""
    t0 = time.perf_counter()
    base, _, training = method.partition("-")
    strategy = {"": "bidirectional", "forward": "forward", "inverse": "inverse"}[training]
    post = fit(x, y, method=base, seed=seed, training=strategy, progress=False, **fit_kwargs)
    return post, time.perf_counter() - t0


def median_standard_error(values: np.ndarray, window: float = 0.1) -> np.ndarray:
    """Standard error of the median of (B, d) values over their B rows, 1 / (2 f(median) sqrt(B)), with the
    density f at the median from the spread of the quantiles 0.5 +- window; shape (d,)."""
    lo, hi = np.quantile(values, [0.5 - window, 0.5 + window], axis=0)
    return (hi - lo) / (2 * window) / (2 * np.sqrt(len(values)))


def score(run: MethodRun, x_test: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """The protocol's numbers for every parameter of one method, one row per parameter."""
    s = run.samples
    lo, hi = central_interval(s, 0.68)
    inside = coverage(s, x_test, 0.68)[0]
    map_abs_error = np.abs(map_estimate(s) - x_test)
    table = pd.DataFrame({
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
    })
    return table


def evaluate(
    methods: Sequence[str], x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
    names: Sequence[str], n_samples: int = 4096, seed: int = 0, fit_kwargs: dict[str, Any] | None = None,
    abc: RejectionABC | None = None, say: Callable[[str], None] = print, log_likelihood: LogLikelihood | None = None,
) -> tuple[pd.DataFrame, dict[str, MethodRun]]:
    """Run every method and score it: (one row per method and parameter, the runs with their samples)."""
    runs, tables = {}, []
    for method in methods:
        say(f"{method}: fitting on {len(x)} simulations ..." if method != "cinn+is" or "cinn" not in runs else
            f"{method}: reweighting the cinn's draws by the likelihood ...")
        runs[method] = run = run_method(method, x, y, y_test, n_samples, seed, fit_kwargs or {}, abc, log_likelihood,
                                        runs.get("cinn"))
        tables.append(score(run, x_test, names))
        say(f"{method}: fit {run.fit_s:.1f} s, {run.per_obs_s * 1e3:.2f} ms per observation")
    return pd.concat(tables, ignore_index=True), runs


def c2st_1nn(p: np.ndarray, q: np.ndarray, n: int = 1000, seed: int = 0) -> float:
    """Classifier two-sample test with the leave-one-out 1-nearest-neighbour classifier (features standardized
    by q): 0.5 when p and q are indistinguishable, 1.0 when fully separated (Lopez-Paz & Oquab 2017).
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


def mode_check(runs: dict[str, MethodRun], index: int, reference: MethodRun, min_ess: float = 0.0,
               compared: Sequence[int] | None = None) -> pd.DataFrame:
    """On the test observations whose reference posterior is multi-modal in parameter `index` (and, when the
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
                rows.append({"observation": k, "method": method, "mode": round(centre, 4), "reference_share": weight,
                             "share": float((nearest == j).mean()), "c2st_vs_reference": c2st})
    return pd.DataFrame(rows, columns=["observation", "method", "mode", "reference_share", "share", "c2st_vs_reference"])


def mode_summary(check: pd.DataFrame) -> pd.DataFrame:
    """Per method over the multi-modal observations: mean |share - reference share| and mean C2ST."""
    if check.empty:
        return pd.DataFrame(columns=["method", "observations", "share_error", "c2st_vs_reference"])
    check = check.assign(share_error=(check["share"] - check["reference_share"]).abs())
    per_obs = check.groupby(["method", "observation"]).agg(share_error=("share_error", "max"), c2st=("c2st_vs_reference", "first"))
    return per_obs.groupby("method", sort=False).agg(observations=("c2st", "size"), share_error=("share_error", "mean"),
                                                     c2st_vs_reference=("c2st", "mean")).reset_index()


def _markdown(table: pd.DataFrame) -> str:
    """A small table as markdown, floats with 3 decimals."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def markdown_table(scores: pd.DataFrame, parameter: str) -> str:
    """The paper's table for one parameter: one row per method."""
    rows = scores[scores["parameter"] == parameter]
    lines = [f"| method ({parameter}) | calibration error | calib. error at 68 % | 68 % coverage | 68 % width "
             "| MAP error (\u00b1 SE) | fit (s) | time per observation (ms) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows.itertuples():
        lines.append(f"| {r.method} | {r.calibration_error:.4f} | {r.calibration_error_68:+.4f} | {r.coverage_68:.3f} "
                     f"| {r.width_68:.4f} | {r.map_error:.4f} \u00b1 {r.map_error_se:.4f} | {r.fit_s:.1f} | {r.per_obs_s * 1e3:.2f} |")
    return "\n".join(lines)


def calibration_figure(runs: dict[str, MethodRun], x_test: np.ndarray, names: Sequence[str], targets: Sequence[str]):
    """Calibration curves (coverage - confidence against confidence), one panel per target parameter, one line per method."""
    from .report import new_figure

    fig = new_figure(min(4.2 * len(targets), 13.0), 3.4 * -(-len(targets) // 3))
    axes = np.atleast_1d(fig.subplots(-(-len(targets) // 3), min(len(targets), 3), squeeze=False)).ravel()
    for ax, target in zip(axes, targets):
        i = list(names).index(target)
        for method, run in runs.items():
            q, err = calibration_curve(run.samples[:, :, i : i + 1], x_test[:, i : i + 1])
            ax.plot(q, err[:, 0], label=method, lw=1.4)
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set(xlabel="confidence q", ylabel="coverage(q) \u2212 q", title=f"Calibration of {target}")
    for ax in axes[len(targets):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, ncol=2)
    return fig


def correlation_figure(samples: np.ndarray, names: Sequence[str], title: str):
    """Image of the posterior correlation matrix averaged over the test observations."""
    from .report import new_figure

    mean_corr = correlation(samples).mean(axis=0)
    k = len(names)
    fig = new_figure(max(4.6, 1.0 + 0.5 * k), 0.8 + 0.45 * k)
    ax = fig.subplots()
    im = ax.imshow(mean_corr, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(k), names, rotation=60, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    for i in range(k):
        for j in range(k):
            if i != j and abs(mean_corr[i, j]) >= 0.1:
                ax.text(j, i, f"{mean_corr[i, j]:.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, shrink=0.8, label="mean posterior correlation")
    ax.set_title(title, fontsize=9)
    return fig


def evaluation_files(
    scores: pd.DataFrame, runs: dict[str, MethodRun], x_test: np.ndarray, names: Sequence[str], targets: Sequence[str],
    info: dict[str, Any], modes_of: str | None = None, reference: MethodRun | None = None, min_ess: float = 0.0,
    compared: Sequence[str] | None = None,
) -> dict[str, bytes | str]:
    """The output folder of an evaluate command: table.md (one table per target parameter), table.csv (all
    parameters), calibration.png, correlation.png, recoverability.csv and results.json; with modes_of (a
    parameter name) and a reference posterior also modes.csv, the multi-modality check (mode_check)."""
    from .report import figure_to_png

    main = next((m for m in ("cinn", "inn") if m in runs), next(iter(runs)))
    recover = pd.concat([recoverability_table(run.samples, x_test, names).assign(method=m).reset_index()
                         for m, run in runs.items()], ignore_index=True)
    header = "\n".join(f"- {k}: {v}" for k, v in info.items())
    tables = "\n\n".join(markdown_table(scores, t) for t in targets)
    extra: dict[str, str] = {}
    summary = None
    if modes_of and reference is not None:
        check = mode_check(runs, list(names).index(modes_of), reference, min_ess,
                           None if compared is None else [list(names).index(p) for p in compared])
        summary = mode_summary(check)
        extra["modes.csv"] = check.to_csv(index=False, float_format="%.4g")
        tables += (f"\n\nMulti-modality check ({modes_of}): {summary['observations'].max() if len(summary) else 0} test "
                   f"observations with a multi-modal reference posterior ({reference.method}); largest |share - reference "
                   f"share| per observation and 1-NN C2ST against the reference, averaged\n\n" + _markdown(summary))
    title = f"{main}: mean posterior correlation\nover {len(x_test)} test observations"
    return {
        "table.md": f"{header}\n\n{tables}\n",
        "table.csv": scores.to_csv(index=False, float_format="%.6g"),
        "calibration.png": figure_to_png(calibration_figure(runs, x_test, names, targets)),
        "correlation.png": figure_to_png(correlation_figure(runs[main].samples, names, title)),
        "recoverability.csv": recover.to_csv(index=False, float_format="%.4g"),
        **extra,
        "results.json": json.dumps({"info": info, "scores": scores.to_dict(orient="records"),
                                    "modes": None if summary is None else summary.to_dict(orient="records"),
                                    "runs": {m: {"fit_s": r.fit_s, "per_obs_s": r.per_obs_s, **r.notes} for m, r in runs.items()},
                                    "recoverability": recover.to_dict(orient="records")}, indent=1, default=float),
    }
