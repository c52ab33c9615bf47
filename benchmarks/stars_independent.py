"""`invert stars` on spectra it did not make (issue 22): importance-sampling health, accuracy and coverage.

The spectra are full bagpipes spectra of a young burst on an older population (stellar continuum with Balmer
absorption, nebular continuum, birth-cloud dust, two FITS layouts), written with their truth by
benchmarks/stars_independent_spectra.py (see its docstring for what is drawn and why the truth is exact):

    .bench-venv/bin/python benchmarks/stars_independent_spectra.py --out benchmarks/independent_spectra/eval --seed 0
    python benchmarks/stars_independent.py --data benchmarks/independent_spectra/eval --tag power05
    python benchmarks/stars_independent.py --data benchmarks/independent_spectra/eval --tag power1 --likelihood-power 1

Each file goes through the command as a user runs it (`invert stars --fits FILE`, the shipped absolute model,
the redshift from the file, --samples 4096, --seed 0), in this process. Scored on the objects that get a posterior:

- importance sampling: the share with ESS >= 200 (the goal: >= 90 %; below, the weights are tempered to 200 and the
  object is flagged low_ess) and >= 50, the median and smallest ESS;
- per parameter: median |MAP - true| and the coverage of the central 68 % and 95 % intervals (q16-q84, q2.5-q97.5);
  A_V also for low-EW spectra (EW(Hbeta) < 10 Angstrom, where stellar absorption matters most);
- per line (the diagnosis): pulls (measured - true) / error of the fitted fluxes against bagpipes' true fluxes
  (median, and the robust spread 1.4826 MAD, 1 for honest errors), the relative bias of Hbeta and Halpha at low
  and high EW, and the model mismatch log10(F_true / F_model(x_true)) between bagpipes' line fluxes and the
  package's line model at the true parameters (its spread against the 0.02 dex floor of the likelihood).

Writes benchmarks/results/stars_independent[_TAG].json and benchmarks/results/stars_independent.md (the table of
the tagged results `before`, untagged ("line fit"), `adaptive` (a single adaptive t), `mixture` (a mixture of two),
`power1` (the present code with --likelihood-power 1) and `power05` (the present code's default power 0.5), those
that exist; `write_table()` rewrites it from those files alone).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from typer.testing import CliRunner

from invert.apps.cli import app
from invert.apps.stars.model.cosmology import MPC_CM, log_area_cm2
from invert.apps.stars.model.linelist import NAMES
from invert.apps.stars.model.mismatch import LIKELIHOOD_POWER
from invert.apps.stars.model.problem import StarsProblem

RESULTS = Path(__file__).parent / "results"
PARAMS = ("logM", "logt", "logZ", "logU", "A_V")
GOALS = {"ess200_share": 0.9, "A_V_median_abs_map_error": 0.15, "coverage68": (0.63, 0.73), "coverage95": (0.92, 0.98)}
LOW_EW = 10.0  # Angstrom
QUANTITIES = ("map", "q2.5", "q16", "q84", "q97.5")  # per parameter, kept in the result's objects table
# bagpipes 1.3.6's nebular grid (pipes.config.logU, pipes.config.metallicities in Z/Zsun, those inside the prior)
BAGPIPES_LOGU_FIRST, BAGPIPES_LOGU_STEP = -4.0, 0.5  # nodes every 0.5 dex from -4
BAGPIPES_Z_NODES = (0.2, 0.4, 1.0)


def run_file(path: Path, out: Path, samples: int, seed: int, power: float | None = None) -> pd.DataFrame | None:
    """summary.csv of `invert stars --fits path` (also written when no object got a posterior, exit 2), or None;
    power: --likelihood-power (None: the command's default)."""
    args = ["stars", "--fits", str(path), "--out", str(out), "--samples", str(samples), "--seed", str(seed)]
    args += [] if power is None else ["--likelihood-power", str(power)]
    result = CliRunner().invoke(app, args)
    if not (out / "summary.csv").exists():
        print(f"{path.name}: exit {result.exit_code}: {result.output.strip().splitlines()[-1:]}")
        return None
    return pd.read_csv(out / "summary.csv")


def analyse(data: Path, samples: int, seed: int, limit: int | None, power: float | None = None) -> pd.DataFrame:
    """One row per object: truth.csv joined with its summary row."""
    truth = pd.read_csv(data / "truth.csv")
    if limit:
        truth = truth.iloc[:limit]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, obj in truth.iterrows():
            summary = run_file(data / obj["file"], Path(tmp) / f"run{i}", samples, seed, power)
            row = obj.to_dict()
            if summary is not None:
                row.update({f"out_{k}": v for k, v in summary.iloc[0].items()})
            rows.append(row)
            print(f"{obj['id']}: {row.get('out_status')} ess {row.get('out_ess', np.nan):.0f}", flush=True)
    return pd.DataFrame(rows)


def _model_fluxes(table: pd.DataFrame) -> np.ndarray:
    """The package's line fluxes (erg/s/cm2) at the true parameters and the distance of the run."""
    problem = StarsProblem()
    x = torch.tensor(table[list(PARAMS)].to_numpy(), dtype=torch.float64)
    log_l = problem.log_line_luminosities(x).numpy()
    distance_cm = table["out_distance_mpc"].to_numpy(dtype=float) * MPC_CM  # the distance the run used
    return 10 ** (log_l - np.asarray(log_area_cm2(distance_cm))[:, None])


def _robust_std(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(1.4826 * np.median(np.abs(v - np.median(v)))) if len(v) else float("nan")


def score(table: pd.DataFrame) -> dict:
    """The numbers of the module docstring."""
    ok = table[np.isfinite(table.get("out_A_V_map", pd.Series(np.nan, index=table.index)).astype(float))]
    ess = ok["out_ess"].to_numpy(dtype=float)
    out: dict = {
        "objects": len(table),
        "with_posterior": len(ok),
        "statuses": table.get("out_status", pd.Series("run_failed", index=table.index))
        .fillna("run_failed")
        .value_counts()
        .to_dict(),
        "layouts": ok["layout"].value_counts().to_dict(),
        "low_ew_objects": int((ok["ew_hbeta"] < LOW_EW).sum()),
        "ess": {
            "share_ge_200": float(np.mean(ess >= 200)),
            "share_ge_50": float(np.mean(ess >= 50)),
            "median": float(np.median(ess)),
            "min": float(np.min(ess)),
        },
        "parameters": {},
    }
    low = ok["ew_hbeta"].to_numpy() < LOW_EW
    for p in PARAMS:
        t = ok[p].to_numpy(dtype=float)
        err = np.abs(ok[f"out_{p}_map"].to_numpy(dtype=float) - t)
        c68 = (ok[f"out_{p}_q16"] <= t) & (t <= ok[f"out_{p}_q84"])
        c95 = (ok[f"out_{p}_q2.5"] <= t) & (t <= ok[f"out_{p}_q97.5"])
        out["parameters"][p] = {
            "median_abs_map_error": float(np.median(err)),
            "median_abs_map_error_low_ew": float(np.median(err[low])) if low.any() else None,
            "coverage68": float(c68.mean()),
            "coverage95": float(c95.mean()),
        }
    out["lines"] = line_diagnostics(ok)
    return out


def _at_bagpipes_nodes(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(near, between) masks: truths within a fifth of a node step of one of bagpipes' nebular grid nodes in both
    logU and log Z, and truths at least three tenths of a step from every node in either."""
    u_step = (table["logU"].to_numpy() - BAGPIPES_LOGU_FIRST) / BAGPIPES_LOGU_STEP
    u_off = np.abs(u_step - np.round(u_step))  # 0 at a node, 0.5 midway
    log_z = np.log10(BAGPIPES_Z_NODES)
    k = np.clip(np.searchsorted(log_z, table["logZ"].to_numpy()), 1, len(log_z) - 1)
    z_frac = (table["logZ"].to_numpy() - log_z[k - 1]) / (log_z[k] - log_z[k - 1])
    z_off = np.minimum(z_frac, 1 - z_frac)
    return (u_off <= 0.2) & (z_off <= 0.2), (u_off >= 0.3) | (z_off >= 0.3)


def line_diagnostics(ok: pd.DataFrame) -> dict:
    """Pulls of the fitted fluxes against bagpipes' true fluxes, Balmer biases, model mismatch per line (also at and
    between bagpipes' grid nodes, where its linear interpolation between nodes differs most from the package's)."""
    model = _model_fluxes(ok)
    low = ok["ew_hbeta"].to_numpy() < LOW_EW
    near, between = _at_bagpipes_nodes(ok)
    lines = {}
    for j, name in enumerate(NAMES):
        true = ok[f"true_{name}"].to_numpy(dtype=float)
        meas, err = ok[f"out_{name}_flux"].to_numpy(dtype=float), ok[f"out_{name}_err"].to_numpy(dtype=float)
        pull = (meas - true) / err
        rel = meas / true - 1
        lines[name] = {
            "measured": int(np.isfinite(pull).sum()),
            "pull_median": float(np.nanmedian(pull)),
            "pull_spread": _robust_std(pull),
            "rel_bias_median_low_ew": float(np.nanmedian(rel[low])) if low.any() else None,
            "rel_bias_median_high_ew": float(np.nanmedian(rel[~low])) if (~low).any() else None,
            "model_mismatch_dex_median": float(np.median(np.log10(true / model[:, j]))),
            "model_mismatch_dex_spread": _robust_std(np.log10(true / model[:, j])),
            "model_mismatch_dex_max": float(np.max(np.abs(np.log10(true / model[:, j])))),
            "model_mismatch_dex_median_at_nodes": float(np.median(np.log10(true / model[:, j])[near])),
            "model_mismatch_dex_median_between_nodes": float(np.median(np.log10(true / model[:, j])[between])),
        }
    return lines


def markdown(results: dict[str, dict]) -> str:
    """A table with one column per tagged result."""
    tags = list(results)
    head = "| | " + " | ".join(tags) + " |\n|---|" + "---|" * len(tags) + "\n"

    def row(label: str, get) -> str:
        return f"| {label} | " + " | ".join(get(results[t]) for t in tags) + " |\n"

    text = head
    text += row("objects with a posterior", lambda r: f"{r['with_posterior']} of {r['objects']}")
    text += row("ESS >= 200 of 4096 (goal >= 90 %)", lambda r: f"{100 * r['ess']['share_ge_200']:.0f} %")
    text += row("ESS >= 50", lambda r: f"{100 * r['ess']['share_ge_50']:.0f} %")
    text += row("median / smallest ESS", lambda r: f"{r['ess']['median']:.0f} / {r['ess']['min']:.1f}")
    for p in PARAMS:
        text += row(f"{p}: median abs(MAP - true)", lambda r, p=p: f"{r['parameters'][p]['median_abs_map_error']:.3f}")
    text += row(
        f"A_V: median abs(MAP - true), EW(Hbeta) < {LOW_EW:g} A (goal < 0.15)",
        lambda r: f"{r['parameters']['A_V']['median_abs_map_error_low_ew']:.3f}",
    )
    text += row("... its bootstrap 16-84 % range", lambda r: "{:.3f}-{:.3f}".format(*_low_ew_av_bootstrap(r)))
    for p in PARAMS:
        text += row(
            f"{p}: 68 / 95 % coverage",
            lambda r, p=p: f"{r['parameters'][p]['coverage68']:.2f} / {r['parameters'][p]['coverage95']:.2f}",
        )
    for name in ("Hbeta", "Halpha"):
        text += row(
            f"{name}: median measured/true - 1, low / high EW",
            lambda r, n=name: (
                f"{r['lines'][n]['rel_bias_median_low_ew']:+.3f} / {r['lines'][n]['rel_bias_median_high_ew']:+.3f}"
            ),
        )
    text += row(
        "line pulls: robust spread, median over lines (1 = honest errors)",
        lambda r: f"{np.median([v['pull_spread'] for v in r['lines'].values()]):.2f}",
    )
    return text


def _low_ew_av_bootstrap(result: dict, draws: int = 2000) -> tuple[float, float]:
    """16 and 84 % quantiles of the low-EW A_V median abs(MAP - true) over bootstrap resamples of the objects."""
    table = pd.DataFrame(result["objects_table"])
    ok = table[np.isfinite(table["out_A_V_map"].astype(float))]
    err = np.abs(ok["out_A_V_map"] - ok["A_V"])[ok["ew_hbeta"] < LOW_EW].to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(err, (draws, len(err))), axis=1)
    return tuple(np.quantile(medians, [0.16, 0.84]))


def write_table() -> None:
    """Write benchmarks/results/stars_independent.md from the tagged result files that exist."""
    tagged = {}
    for tag, file in (
        ("before", "stars_independent_before.json"),
        ("line fit", "stars_independent.json"),
        ("adaptive IS", "stars_independent_adaptive.json"),
        ("adaptive mixture", "stars_independent_mixture.json"),
        ("power 1", "stars_independent_power1.json"),
        ("power 0.5 (default)", "stars_independent_power05.json"),
    ):
        if (RESULTS / file).exists():
            tagged[tag] = json.loads((RESULTS / file).read_text())
    (RESULTS / "stars_independent.md").write_text(
        f"# `invert stars` on independent (bagpipes) spectra\n\n{markdown(tagged)}\n"
        + "".join(f"- {t}: `{r['command']}` ({r['data']})\n" for t, r in tagged.items())
    )


def main() -> None:
    """Run, score and write the results (module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("benchmarks/independent_spectra/eval"))
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="first N objects only (a quick look)")
    ap.add_argument("--tag", default="", help="suffix of the result file (e.g. before)")
    ap.add_argument("--likelihood-power", type=float, default=None, help="passed to invert stars (default: its own)")
    args = ap.parse_args()
    start = time.time()
    table = analyse(args.data, args.samples, args.seed, args.limit, args.likelihood_power)
    result = {
        "command": "python benchmarks/stars_independent.py "
        + f"--data {args.data}"
        + (f" --tag {args.tag}" * bool(args.tag))
        + ("" if args.likelihood_power is None else f" --likelihood-power {args.likelihood_power:g}"),
        "likelihood_power": LIKELIHOOD_POWER if args.likelihood_power is None else args.likelihood_power,
        "data": str(args.data),
        "samples": args.samples,
        "seed": args.seed,
        "goals": GOALS,
        "seconds": round(time.time() - start, 1),
        "machine": platform.platform(),
        **score(table),
        "objects_table": table[
            ["id", "layout", "ew_hbeta", "snr_hbeta", *PARAMS]
            + [c for c in ("out_status", "out_ess") if c in table]
            + [f"out_{p}_{q}" for p in PARAMS for q in QUANTITIES if f"out_{p}_{q}" in table]
        ].to_dict(orient="records"),
    }
    RESULTS.mkdir(exist_ok=True)
    name = "stars_independent" + (f"_{args.tag}" if args.tag else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    write_table()
    print(markdown({name: result}))


if __name__ == "__main__":
    main()
