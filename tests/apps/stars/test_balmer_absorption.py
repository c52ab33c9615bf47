"""Emission lines on stellar Balmer absorption (stars.md section 9): fluxes, Balmer decrement and A_V.

The absorption troughs here are pseudo-Voigt profiles (half Gaussian, half Lorentzian, like the cusp-and-wings shape
of A-star Balmer lines), not the Lorentzian the fit uses, with equivalent widths of 5 Angstrom under Hbeta and Halpha:
about what a 0.1-1 Gyr population gives. The emission EW of Hbeta is ~4 Angstrom, so a fit that ignored the
absorption would lose most of Hbeta and overestimate A_V by more than a magnitude.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from typer.testing import CliRunner

from invert.apps.cli import app
from invert.apps.stars.io.linefit import BALMER, BALMER_WINDOW_AA, GROUP_INDEX, group_windows, measure_lines
from invert.apps.stars.io.observations import Spectrum
from invert.apps.stars.model.cosmology import luminosity_distance_cm
from invert.apps.stars.model.linelist import HALPHA, HBETA, VACUUM_AA
from invert.apps.stars.model.problem import StarsProblem

from .synth import V1_FLUX, continuum, lines_flux, log_grid, noise_for_snr, pixel_widths, sdss_hdus

Z = 0.03
ABSORPTION_EW = 5.0  # Angstrom, rest frame
LEVEL = 1e-16  # continuum, erg/s/cm2/Angstrom
X_TRUE = (5.5, 6.5, -0.3, -2.5, 1.2)  # logM, logt, logZ, logU, A_V


def trough(wave: np.ndarray, centre: float, ew_obs: float, level: np.ndarray) -> np.ndarray:
    """Flux removed by an absorption line of observed EW ew_obs: a pseudo-Voigt of HWHM 12 Angstrom (observed)."""
    hwhm = 12.0
    s = hwhm / np.sqrt(2 * np.log(2))
    gauss = np.exp(-0.5 * ((wave - centre) / s) ** 2) / (np.sqrt(2 * np.pi) * s)
    lorentz = hwhm / np.pi / ((wave - centre) ** 2 + hwhm**2)
    return ew_obs * level * (0.5 * gauss + 0.5 * lorentz)


def absorbed_spectrum(fluxes: np.ndarray, snr: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wave, noisy F_lambda, sigma): SDSS-like pixels in vacuum, continuum with Balmer troughs, emission lines."""
    wave = log_grid(3700.0, 9000.0)
    level = continuum(wave, LEVEL)
    clean = level + lines_flux(wave, fluxes, Z, "vacuum")
    for j in BALMER:
        clean -= trough(wave, VACUUM_AA[j] * (1 + Z), ABSORPTION_EW * (1 + Z), level)
    sigma = noise_for_snr(fluxes[HBETA], snr, wave, pixel_widths(wave)) * np.ones_like(wave)
    return wave, clean + np.random.default_rng(seed).normal(size=len(wave)) * sigma, sigma


def test_balmer_windows_reach_beyond_the_trough():
    centres = VACUUM_AA * (1 + Z)
    windows = group_windows(centres, Z)
    for g, idx in enumerate(GROUP_INDEX):
        for j in set(idx) & set(BALMER):
            lo, hi = windows[g]
            assert lo <= centres[j] - BALMER_WINDOW_AA * (1 + Z) and hi >= centres[j] + BALMER_WINDOW_AA * (1 + Z)


def test_emission_is_measured_above_the_absorption_trough():
    fluxes = V1_FLUX * (4.0 * LEVEL / V1_FLUX[HBETA])  # Hbeta emission EW ~ 4 Angstrom (observed)
    rel, pulls, decrement, absorbed = [], [], [], []
    for seed in range(6):
        wave, flux, sigma = absorbed_spectrum(fluxes, snr=60.0, seed=seed)
        fit = measure_lines(Spectrum("s", wave, pixel_widths(wave), flux, sigma, "vacuum"), Z)
        rel.append(fit.flux[[HBETA, HALPHA]] / fluxes[[HBETA, HALPHA]] - 1)
        pulls.append((fit.flux[[HBETA, HALPHA]] - fluxes[[HBETA, HALPHA]]) / fit.error[[HBETA, HALPHA]])
        decrement.append(fit.flux[HALPHA] / fit.flux[HBETA])
        # the fitted absorption flux is reported under the two Balmer lines only, near the trough's EW x continuum
        for j in BALMER:
            centre = np.array([VACUUM_AA[j] * (1 + Z)])
            absorbed.append(fit.absorption[j] / (ABSORPTION_EW * (1 + Z) * continuum(centre, LEVEL)[0]))
        assert np.isnan(np.delete(fit.absorption, list(BALMER))).all()
    # the troughs hold 5 / 4 = 125 % of Hbeta's emission; what is left is within 10 %, and within the errors
    assert np.all(np.abs(np.median(rel, axis=0)) < 0.1), rel
    assert np.all(np.abs(pulls) < 3), pulls
    true_decrement = fluxes[HALPHA] / fluxes[HBETA]
    assert abs(np.median(decrement) / true_decrement - 1) < 0.1, (decrement, true_decrement)
    # 1.02-1.49 measured over these seeds: the fitted Lorentzian's wings hold more than the pseudo-Voigt trough's
    assert 0.8 < np.min(absorbed) and np.max(absorbed) < 1.8, absorbed


def test_spectrum_with_balmer_absorption_gives_the_true_a_v(tmp_path):
    """The whole command (shipped model, importance reweighting) on an SDSS file with Balmer absorption."""
    problem = StarsProblem()
    lum = problem.line_luminosities(torch.tensor([X_TRUE], dtype=torch.float64)).numpy()[0]
    fluxes = lum / (4 * np.pi * luminosity_distance_cm(Z) ** 2)
    scale = 4.0 * LEVEL / fluxes[HBETA]  # the continuum level that gives Hbeta an emission EW of ~4 Angstrom
    wave, flux, sigma = absorbed_spectrum(fluxes * scale, snr=60.0, seed=0)
    loglam = np.log10(wave)
    path = tmp_path / "absorbed.fits"
    sdss_hdus(loglam, flux / scale / 1e-17, (1e-17 * scale / sigma) ** 2, Z).writeto(path)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["stars", "--fits", str(path), "--out", str(out), "--samples", "2048"])
    assert res.exit_code == 0, res.output
    row = pd.read_csv(out / "summary.csv").iloc[0]
    a_v = X_TRUE[4]
    assert abs(row["A_V_map"] - a_v) < 0.3, row["A_V_map"]
    assert row["A_V_q2.5"] <= a_v <= row["A_V_q97.5"]
