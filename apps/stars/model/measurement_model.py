"""The measurement model of the 12 lines (docs/stars.md): which values count as measurements, the
errors, censoring and masks of the training simulations, and the y encoding the networks see.

A flux with its 1-sigma error is a measurement only where both lie within VALUE_LIMITS (`in_limits`): the
readers, the preprocessing of measured lines and the simulator share this one definition.

A measurement of the 12 lines is kept in log form, so erg/s values never overflow float32:
    log_sigma (n, 12)  log10 sigma_j, the 1-sigma error of line j (erg/s, or any common unit in ratios-only mode)
    snr       (n, 12)  F_j / sigma_j of the measured (noisy, possibly negative) flux
    observed  (n, 12)  bool: line covered and measured (False: masked, outside coverage, NaN)

Encoding y = [values, log_r (12), detected (11)], lines in linelist order:
    values    log10 L_Hbeta [erg/s] (absolute mode only), then log10(L_j / L_Hbeta) for the 11 other lines.
              A detection (S/N >= 3) gives its measured value; a non-detection gives the 3-sigma upper
              limit log10(3 sigma_j / L_Hbeta); an unobserved line gives MISSING_FILL[j], the median log ratio
              of that line under the default prior (an in-range value, so that standardizing y does not squash
              the measured ratios; the log_r channel marks the line as missing).
    log_r     log10 sigma_j / max(F_j, 3 sigma_j): the measured relative error, -log10(3) for an upper
              limit, MISSING_LOG_R = 0 (relative error 100 %, outside the data range) for an unobserved line.
    detected  1.0 if line j is observed and S/N >= 3, else 0.0 (Hbeta has none: it is always detected).
A row whose Hbeta is unobserved or below S/N 3 gets no posterior: all NaN (flag `no_hbeta`).
Training draws r_j = sigma_j / F_j log-uniform in [0.01, 0.3] per line and sample, a 0.02 dex
model-systematic scatter of each line (adds in quadrature to the measurement error), Gaussian noise,
Hbeta conditioned on S/N >= 3, masks each other line with probability 0.15, and on top of that masks whole
coverage gaps of real spectra, each with probability COVERAGE_PROB: [OII] (MUSE-like spectra starting near
4750 Angstrom) and the red lines [NII], Halpha, [SII] (Halpha redshifted out of the spectrum, z > ~0.35);
independent per-line masks alone would almost never produce these patterns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .linelist import HBETA, NAMES

R_RANGE = (0.01, 0.3)  # per-line relative errors, log-uniform
DETECTION_SNR = 3.0
MASK_PROB = 0.15  # random masking per line and sample, never Hbeta
SYSTEMATIC_DEX = 0.02  # model-systematic floor (grid interpolation, atomic data)
NOMINAL_R = 0.05  # relative error of the noise-free `forward`
COVERAGE_GAPS = (("OII3726", "OII3729"), ("NII6548", "Halpha", "NII6583", "SII6716", "SII6731"))
COVERAGE_PROB = 0.1  # probability of each coverage gap per sample
# value channels of unobserved lines (OTHERS order): median log10(L_j / L_Hbeta) under the default prior, 0.1 dex
MISSING_FILL = (-0.3, -0.2, -0.8, -0.3, -0.9, -1.5, -0.9, 0.7, -0.4, -0.2, -0.4)
MISSING_LOG_R = 0.0  # log_r channel of an unobserved line
N_LINES = len(NAMES)
OTHERS = tuple(j for j in range(N_LINES) if j != HBETA)
# smallest error and largest flux or error (erg/s/cm2, per Angstrom for spectra) taken as a measurement: no real
# value comes near, and squares, ratios and 4 pi D^2 of values inside stay finite in float64
VALUE_LIMITS = (1e-60, 1e60)

__all__ = [
    "Measurement",
    "draw_measurement",
    "nominal_measurement",
    "encode",
    "y_names",
    "in_limits",
    "R_RANGE",
    "DETECTION_SNR",
    "MASK_PROB",
    "COVERAGE_GAPS",
    "COVERAGE_PROB",
    "SYSTEMATIC_DEX",
    "NOMINAL_R",
    "MISSING_FILL",
    "MISSING_LOG_R",
    "ENCODING",
    "VALUE_LIMITS",
]

ENCODING = (
    f"enc2-r{R_RANGE[0]:g}-{R_RANGE[1]:g}-det{DETECTION_SNR:g}-mask{MASK_PROB:g}-gaps{COVERAGE_PROB:g}"
    f"-sys{SYSTEMATIC_DEX:g}"
    f"-fillmedian/{MISSING_LOG_R:g}"
)


def in_limits(values: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Where |value| <= VALUE_LIMITS[1] and VALUE_LIMITS[0] <= error <= VALUE_LIMITS[1] (False for NaN and inf)."""
    lo, hi = VALUE_LIMITS
    with np.errstate(invalid="ignore"):
        return (np.abs(values) <= hi) & (errors >= lo) & (errors <= hi)


@dataclass
class Measurement:
    """Line measurements in log form (see module docstring)."""

    log_sigma: torch.Tensor
    snr: torch.Tensor
    observed: torch.Tensor

    @property
    def detected(self) -> torch.Tensor:
        """Observed with S/N >= 3."""
        return self.observed & (self.snr >= DETECTION_SNR)


def y_names(absolute: bool = True) -> tuple[str, ...]:
    """Names of the y columns of `encode`."""
    values = (("log_L_Hbeta",) if absolute else ()) + tuple(f"log_{NAMES[j]}/Hbeta" for j in OTHERS)
    return values + tuple(f"log_r_{n}" for n in NAMES) + tuple(f"det_{NAMES[j]}" for j in OTHERS)


def draw_measurement(
    log_l: torch.Tensor,
    generator: torch.Generator,
    mask_prob: float = MASK_PROB,
    systematic_dex: float = SYSTEMATIC_DEX,
    r_range: tuple[float, float] = R_RANGE,
    coverage_prob: float = COVERAGE_PROB,
) -> Measurement:
    """Noisy measurement of true log10 line luminosities log_l (n, 12) under the training noise model
    (r_range = (r, r) and mask_prob = coverage_prob = 0 give every line the relative error r, as in benchmarks)."""
    n, dev, dt = log_l.shape[0], log_l.device, log_l.dtype

    def uniform() -> torch.Tensor:
        return torch.rand(n, N_LINES, generator=generator, device=dev, dtype=dt)

    lo, hi = (math.log10(r) for r in r_range)
    log_r = lo + (hi - lo) * uniform()
    log_true = log_l + systematic_dex * torch.randn(n, N_LINES, generator=generator, device=dev, dtype=dt)
    eps = torch.randn(n, N_LINES, generator=generator, device=dev, dtype=dt)
    inv_r = 10.0**-log_r
    # Hbeta conditioned on detection: eps >= 3 - 1/r by inverting the normal CDF of the upper tail
    a = DETECTION_SNR - inv_r[:, HBETA]
    u = torch.rand(n, generator=generator, device=dev, dtype=dt)
    tail = (1.0 - u) * torch.special.ndtr(-a)  # in (0, P(eps >= a)]
    eps[:, HBETA] = -torch.special.ndtri(tail)
    snr = inv_r + eps
    snr[:, HBETA] = snr[:, HBETA].clamp_min(DETECTION_SNR)
    observed = uniform() >= mask_prob
    for gap in COVERAGE_GAPS:
        lost = torch.rand(n, generator=generator, device=dev, dtype=dt) < coverage_prob
        observed[:, [NAMES.index(name) for name in gap]] &= ~lost[:, None]
    observed[:, HBETA] = True
    return Measurement(log_true + log_r, snr, observed)


def nominal_measurement(log_l: torch.Tensor, r: float = NOMINAL_R) -> Measurement:
    """Noise-free measurement: every line observed at its true value with relative error r."""
    return Measurement(log_l + math.log10(r), torch.full_like(log_l, 1.0 / r), torch.ones_like(log_l, dtype=torch.bool))


def encode(m: Measurement, absolute: bool = True) -> torch.Tensor:
    """y (n, 35) in absolute mode or (n, 34) ratios-only, dtype of m.log_sigma; rows without Hbeta are NaN."""
    observed = m.observed
    snr = torch.where(observed, m.snr, torch.full_like(m.snr, DETECTION_SNR)).clamp_min(DETECTION_SNR)
    log_sigma = torch.where(observed, m.log_sigma, torch.zeros_like(m.log_sigma))
    log_snr = torch.log10(snr)
    level = log_sigma + log_snr  # log10 max(F, 3 sigma)
    others = list(OTHERS)
    fill = torch.tensor(MISSING_FILL, dtype=level.dtype, device=level.device).expand_as(level[:, others])
    ratios = torch.where(observed[:, others], level[:, others] - level[:, HBETA, None], fill)
    log_r = torch.where(observed, -log_snr, torch.full_like(log_snr, MISSING_LOG_R))
    detected = m.detected[:, others].to(level.dtype)
    parts = ([level[:, HBETA, None]] if absolute else []) + [ratios, log_r, detected]
    y = torch.cat(parts, dim=1)
    ok = m.detected[:, HBETA] & torch.isfinite(m.log_sigma[:, HBETA])
    return torch.where(ok[:, None], y, torch.full_like(y, float("nan")))
