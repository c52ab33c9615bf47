"""The share of the fitted stellar absorption that the line fit adds back to Hbeta and Halpha (apps/stars/io/linefit.py,
ABSORPTION_CORE_SHARE), measured on independent spectra with known line fluxes.

The fit puts a Lorentzian absorption under each Balmer line; its core is shallower than a real Balmer core, so the
narrow emission line loses a part of its flux to it, roughly in proportion to the absorption. On spectra written by
benchmarks/stars_independent_spectra.py (bagpipes, with their true line fluxes), for each object and Balmer line:
the emission the fit found before the correction (flux - share * absorption) with its error, the fitted absorption
flux, and the truth. The share that makes the emission unbiased, (true - fitted) / absorption, is estimated four
ways: the median ratio over lines whose absorption is at least 0.2 of the emission, weighted least squares through
the origin, and least absolute deviations of the relative residual with and without a common offset (the offset: a
bias of every line, absorption or not). Then the median relative bias measured/true - 1 with the package's shares,
at low and high EW(Hbeta).

    python benchmarks/stars_balmer_shares.py --data benchmarks/independent_spectra/calib

Writes benchmarks/results/stars_balmer_shares.json.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

import invert.apps.stars.io.spectrum as spectrum_io
from invert.apps.stars.io.linefit import ABSORPTION_CORE_SHARE, LineFit, measure_lines
from invert.apps.stars.io.read import read_observations
from invert.apps.stars.model.linelist import HALPHA, HBETA, NAMES

RESULTS = Path(__file__).parent / "results"
LOW_EW = 10.0  # Angstrom, as benchmarks/stars_independent.py
ERROR_FLOOR = 0.01  # relative, added in quadrature to the weights of the absolute-deviation fits


def line_fits(data: Path) -> tuple[pd.DataFrame, list[LineFit]]:
    """truth.csv and the LineFit of each spectrum, recorded as `invert stars` reads the file."""
    truth = pd.read_csv(data / "truth.csv")
    fits: list[LineFit] = []

    def recording(spec, z):
        fits.append(measure_lines(spec, z))
        return fits[-1]

    spectrum_io.measure_lines = recording  # the reader's own call, recorded
    for name in truth["file"]:
        before = len(fits)
        read_observations(data / name)
        if len(fits) != before + 1:
            raise RuntimeError(f"{name}: expected one line fit, got {len(fits) - before}")
    return truth, fits


def estimates(true: np.ndarray, fitted: np.ndarray, error: np.ndarray, absorption: np.ndarray) -> dict[str, float]:
    """The share (true - fitted) / absorption by the four estimators of the module docstring."""
    y, x, e = (true - fitted) / true, absorption / true, np.hypot(error / true, ERROR_FLOOR)
    strong = x >= 0.2
    lad = minimize(lambda p: np.sum(np.abs((y - p[0] - p[1] * x) / e)), [0.0, 0.05], method="Nelder-Mead").x
    lad0 = minimize(lambda p: np.sum(np.abs((y - p[0] * x) / e)), [0.05], method="Nelder-Mead").x
    w = 1 / error**2
    return {
        "median_ratio": float(np.median(((true - fitted) / absorption)[strong])),
        "weighted_least_squares": float(np.sum(w * absorption * (true - fitted)) / np.sum(w * absorption**2)),
        "least_absolute_deviations": float(lad0[0]),
        "least_absolute_deviations_with_offset": float(lad[1]),
        "offset": float(lad[0]),
        "objects": int(len(true)),
        "objects_absorption_ge_0.2": int(strong.sum()),
    }


def main() -> None:
    """Measure and write the result (module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("benchmarks/independent_spectra/calib"))
    args = ap.parse_args()
    truth, fits = line_fits(args.data)
    low = truth["ew_hbeta"].to_numpy() < LOW_EW
    result: dict = {
        "command": f"python benchmarks/stars_balmer_shares.py --data {args.data}",
        "machine": platform.platform(),
        "shares_in_use": {NAMES[j]: share for j, share in ABSORPTION_CORE_SHARE.items()},
    }
    for j in (HBETA, HALPHA):
        flux = np.array([f.flux[j] for f in fits])
        error = np.array([f.error[j] for f in fits])
        absorption = np.array([f.absorption[j] for f in fits])
        true = truth[f"true_{NAMES[j]}"].to_numpy(dtype=float)
        core = ABSORPTION_CORE_SHARE[j] * np.clip(absorption, 0, None)
        fitted = flux - core  # and the fit's own error, without the correction's term
        error = np.sqrt(np.clip(error**2 - core**2, 0, None))
        use = np.isfinite(flux) & np.isfinite(absorption) & (absorption > 0) & (true > 0)
        rel = flux / true - 1
        result[NAMES[j]] = estimates(true[use], fitted[use], error[use], absorption[use]) | {
            "bias_low_ew": float(np.median(rel[use & low])),
            "bias_high_ew": float(np.median(rel[use & ~low])),
        }
        print(NAMES[j], result[NAMES[j]], flush=True)
    (RESULTS / "stars_balmer_shares.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
