"""Observed lines against the model's: posterior-predictive bands of the line values, and the posterior-predictive
check of each object (standardized residual per line, chi2, p-value, bad fit).

The "values" are the first channels of y (measurement_model.py): log10 L_Hbeta [erg/s] (absolute mode) and the
11 log10 ratios L_j / L_Hbeta, each a detection, a 3-sigma upper limit or missing. Their 1-sigma errors in
dex follow from the log_r channels: sigma_j = r_j / ln 10 with the model-systematic floor SYSTEMATIC_DEX
added in quadrature for each line in the value (two for a ratio). The report plots them against the bands.

The check works on each line's flux in units of its 1-sigma error, where the noise model is Gaussian and the
lines are independent (docs/stars.md section 4). For PPC_DRAWS posterior draws x_i, mu_ij = L_j(x_i) / sigma_j
is line j's model S/N (ratios-only: times the common scale that best fits the detected lines, per draw); m_j is
the median of mu_ij over the draws and s_j half their 16-84 % width (the posterior's spread). The standardized
residual of line j is

    detection       r_j = (S/N_j - m_j) / sqrt(1 + (m_j s_sys)^2 + s_j^2)       (s_sys: the 0.02 dex floor, in ln)
    upper limit     r_j = min(0, 3 - m_j) / sqrt(...)                           (0 unless the model line is > 3 sigma)

chi2 = sum_j r_j^2 over the observed lines, and the p-value is the share of replicated measurements (one per draw:
mu_ij 10^(0.02 n) plus unit Gaussian noise, Hbeta conditioned on S/N >= 3, the same lines observed) whose chi2 is
at least the measured one. A p-value below BAD_FIT_P is a bad fit: the model cannot reproduce the lines. Such a
posterior-predictive p-value is conservative (a posterior fitted to the data reproduces them better than new
data), so BAD_FIT_P is calibrated on simulations from the model itself (benchmarks/stars_checks.py).
An object's replicates come from the run's seed and its own measurement, so a result never depends on batching.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtr, ndtri

from .likelihood import S_SYS, decode, scale_offset
from .linelist import HBETA, NAMES
from .measurement_model import DETECTION_SNR, MISSING_LOG_R, OTHERS, SYSTEMATIC_DEX
from .problem import StarsProblem

__all__ = [
    "LineValues",
    "FitCheck",
    "line_values",
    "model_values",
    "predictive_bands",
    "predictive_check",
    "value_labels",
    "PPC_DRAWS",
    "BAD_FIT_P",
    "BAD_FIT_RATE",
    "BAND_QUANTILES",
]

PPC_DRAWS = 1024  # posterior draws behind an object's check (all of them when there are fewer)
PPC_SEED = 7_919  # offset of the replicates' noise seed from the run's seed
# an object is a bad fit below BAD_FIT_P (chosen on simulations of seed 7001), which flags BAD_FIT_RATE of the objects
# simulated from the model itself: 14 of 2,400 (benchmarks/stars_checks.py --seed 8001, results/stars_checks.json)
BAD_FIT_P = 0.2
BAD_FIT_RATE = 0.006
BAND_QUANTILES = (0.025, 0.16, 0.5, 0.84, 0.975)


@dataclass
class LineValues:
    """The value channels of observations y (B, dy), decoded."""

    value: np.ndarray  # (B, V) log10 L_Hbeta and/or log10 ratios (upper limit for non-detections; NaN if missing)
    sigma: np.ndarray  # (B, V) 1-sigma error in dex, systematic floor included (NaN if missing)
    detected: np.ndarray  # (B, V) bool
    limit: np.ndarray  # (B, V) bool: observed but below 3 sigma (value is the 3-sigma upper limit)


def value_labels(problem: StarsProblem) -> list[str]:
    """Line names of the value channels: 'Hbeta' (log L_Hbeta, absolute mode), then the 11 other lines."""
    return ([] if problem.ratios_only else [NAMES[HBETA]]) + [NAMES[j] for j in OTHERS]


def line_values(problem: StarsProblem, y: np.ndarray) -> LineValues:
    """Decode the value channels of y (B, dy) (measurement_model.encode) into values, errors and detection flags."""
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    n_values = len(OTHERS) + (0 if problem.ratios_only else 1)
    values = y[:, :n_values]
    log_r = y[:, n_values : n_values + len(NAMES)]
    det_others = y[:, n_values + len(NAMES) :] > 0.5
    sigma_line = 10.0**log_r / math.log(10.0)  # dex, per line
    sigma_hb = sigma_line[:, HBETA, None]
    others = list(OTHERS)
    sigma_ratio = np.sqrt(sigma_line[:, others] ** 2 + sigma_hb**2 + 2 * SYSTEMATIC_DEX**2)
    observed = log_r[:, list(OTHERS)] != MISSING_LOG_R
    if not problem.ratios_only:
        sigma_ratio = np.concatenate([np.sqrt(sigma_hb**2 + SYSTEMATIC_DEX**2), sigma_ratio], axis=1)
        observed = np.concatenate([np.ones_like(observed[:, :1]), observed], axis=1)
        det_others = np.concatenate([np.ones_like(det_others[:, :1]), det_others], axis=1)
    value = np.where(observed, values, np.nan)
    return LineValues(value, np.where(observed, sigma_ratio, np.nan), observed & det_others, observed & ~det_others)


@torch.no_grad()
def model_values(problem: StarsProblem, samples: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """Noise-free value channels (B, n, V) of posterior samples (B, n, dx)."""
    b, n, dx = samples.shape
    flat = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32).reshape(-1, dx))
    n_values = len(OTHERS) + (0 if problem.ratios_only else 1)
    out = [problem.forward(flat[i : i + chunk])[:, :n_values].double().numpy() for i in range(0, len(flat), chunk)]
    return (np.concatenate(out) if out else np.empty((0, n_values))).reshape(b, n, n_values)


def predictive_bands(problem: StarsProblem, samples: np.ndarray) -> np.ndarray:
    """Quantiles BAND_QUANTILES of the model's value channels under the posterior, (B, 5, V)."""
    return np.moveaxis(np.quantile(model_values(problem, samples), BAND_QUANTILES, axis=1), 0, 1)


@dataclass
class FitCheck:
    """The posterior-predictive check of observations (module docstring)."""

    residual: np.ndarray  # (B, 12) standardized residual of each line, linelist order (NaN: not observed)
    chi2: np.ndarray  # (B,) sum of the squared residuals
    p_value: np.ndarray  # (B,) share of replicated measurements with at least this chi2

    @property
    def bad_fit(self) -> np.ndarray:
        """(B,) True where the p-value is below BAD_FIT_P."""
        return self.p_value < BAD_FIT_P


@torch.no_grad()
def predictive_check(
    problem: StarsProblem, samples: np.ndarray, y: np.ndarray, seed: int = 0, n: int = PPC_DRAWS
) -> FitCheck:
    """Residuals, chi2 and p-value (module docstring) of observations y (B, dy) from their posterior samples
    (B, >= 1, dx), the first n of them."""
    lines = decode(problem, y)
    x = torch.as_tensor(np.asarray(samples[:, :n], dtype=np.float64))
    b, n, dx = x.shape
    log_mu = problem.log_line_luminosities(x.reshape(-1, dx)).reshape(b, n, len(NAMES)) - lines.log_sigma[:, None]
    if problem.ratios_only:
        log_mu = log_mu + scale_offset(log_mu, lines)[0][..., None]
    mu = (10.0**log_mu).numpy()
    lo, m, hi = np.quantile(mu, (0.16, 0.5, 0.84), axis=1, keepdims=True)  # (B, 1, 12)
    sd = np.sqrt(1.0 + (m * S_SYS) ** 2 + ((hi - lo) / 2) ** 2)
    observed = lines.observed.numpy()[:, None]

    def residual(snr: np.ndarray, detected: np.ndarray) -> np.ndarray:
        """Residuals (B, k, 12) of k measurements per object (S/N (B, k, 12) and detected) against m and sd."""
        r = np.where(detected, (snr - m) / sd, np.minimum(0.0, DETECTION_SNR - m) / sd)
        return np.where(observed, r, np.nan)

    r = residual(lines.snr.numpy()[:, None], lines.detected.numpy()[:, None])[:, 0]
    chi2 = np.nansum(r**2, axis=1)
    systematic, eps, u = _replicate_noise(y, n, seed)
    mu_rep = mu * np.exp(S_SYS * systematic)
    snr = mu_rep + eps
    tail = (1.0 - u) * ndtr(mu_rep[..., HBETA] - DETECTION_SNR)  # Hbeta conditioned on S/N >= 3
    snr[..., HBETA] = np.maximum(mu_rep[..., HBETA] - ndtri(tail), DETECTION_SNR)
    r_rep = residual(snr, snr >= DETECTION_SNR)
    chi2_rep = np.nansum(r_rep**2, axis=2)
    return FitCheck(r, chi2, (chi2_rep >= chi2[:, None]).mean(axis=1))


def _replicate_noise(y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard normals for the model scatter and the noise (B, n, 12) and uniforms (B, n) of n replicates of each
    observation y (B, dy), from the seed and the observation's own values (never from its place in a batch)."""
    noise = []
    for row in np.atleast_2d(np.asarray(y, dtype=np.float32)):
        rng = np.random.default_rng([seed + PPC_SEED, zlib.crc32(row.tobytes())])
        noise.append((*rng.standard_normal((2, n, len(NAMES))), rng.random(n)))
    if not noise:
        return np.empty((0, n, len(NAMES))), np.empty((0, n, len(NAMES))), np.empty((0, n))
    systematic, eps, u = (np.stack(part) for part in zip(*noise))
    return systematic, eps, u
