"""Observed line values against the model's: posterior-predictive bands and the re-simulation error.

The "values" are the first channels of y (measurement_model.py): log10 L_Hbeta [erg/s] (absolute mode) and the
11 log10 ratios L_j / L_Hbeta, each a detection, a 3-sigma upper limit or missing. Their 1-sigma errors in
dex follow from the log_r channels: sigma_j = r_j / ln 10 with the model-systematic floor SYSTEMATIC_DEX
added in quadrature for each line in the value (two for a ratio).

Re-simulation error of an object: for each of RESIM_SAMPLES posterior samples, the root mean square over
its measured lines of the normalized residual (model - observed) / sigma for detections, and of the excess
S/N max(0, 3 F_model / F_limit - 3) for upper limits; the median over samples. A model that explains the data
gives about 1; RESIM_LIMIT = 3 (docs/stars.md) marks an object the model cannot reproduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .linelist import HBETA, NAMES
from .measurement_model import DETECTION_SNR, MISSING_LOG_R, OTHERS, SYSTEMATIC_DEX
from .problem import StarsProblem

__all__ = [
    "LineValues",
    "line_values",
    "model_values",
    "resimulation_sigma",
    "predictive_bands",
    "value_labels",
    "RESIM_SAMPLES",
    "RESIM_LIMIT",
    "BAND_QUANTILES",
]

RESIM_SAMPLES = 64
RESIM_LIMIT = 3.0
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


def resimulation_sigma(problem: StarsProblem, samples: np.ndarray, y: np.ndarray, n: int = RESIM_SAMPLES) -> np.ndarray:
    """Re-simulation error (module docstring) of each object (B,), in units of the measurement errors."""
    obs = line_values(problem, y)
    model = model_values(problem, samples[:, :n])
    z = np.where(obs.detected[:, None], (model - obs.value[:, None]) / obs.sigma[:, None], 0.0)
    excess = DETECTION_SNR * 10.0 ** (model - obs.value[:, None]) - DETECTION_SNR
    z = np.where(obs.limit[:, None], np.maximum(excess, 0.0), z)
    used = (obs.detected | obs.limit).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = np.sqrt((z**2).sum(axis=2) / used[:, None])
    return np.median(rms, axis=1) if rms.shape[1] else np.full(len(y), np.nan)


def predictive_bands(problem: StarsProblem, samples: np.ndarray) -> np.ndarray:
    """Quantiles BAND_QUANTILES of the model's value channels under the posterior, (B, 5, V)."""
    return np.moveaxis(np.quantile(model_values(problem, samples), BAND_QUANTILES, axis=1), 0, 1)
