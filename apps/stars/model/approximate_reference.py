"""Approximate reference posteriors of emission-line observations: likelihood-weighted sampling from the prior.

Approximate, not exact: the weights are a Gaussian likelihood of the detected lines alone (censored lines are
left out) with the errors that y states (the measured relative errors, which correlate with the noise), not the
likelihood of the training's noise model (likelihood.py); so the intervals of logM and A_V come out too narrow
(see "Measured calibration" below). It is the reference of the multi-modality check of `invert stars evaluate`.

Rejection ABC on the 35 features of y is no better than the prior (`invert stars evaluate` measured it);
this reference uses the measurement model instead. Prior draws of (logt, logZ, logU, A_V) are weighted by
the Gaussian likelihood of the detected lines' log luminosities, sigma_j = hypot(r_j / ln 10, 0.02 dex floor)
from each line's relative error r_j in y; the common offset of all log L_j (logM in absolute mode, the
unknown Hbeta luminosity in ratios-only mode) is integrated analytically: with d_j = a_j - g_j(theta)
(measured minus model at logM = 0) and weights w_j = 1 / sigma_j^2, the offset's posterior is Gaussian
around the weighted mean of d_j with variance 1 / sum w_j, truncated to logM's prior range in absolute
mode. Posterior samples resample the draws by weight (logM drawn from its truncated Gaussian). Censored
lines are left out (an approximation; at the 5 % errors of `evaluate` every line is detected). The
effective sample size (ESS) of the weights says how far to trust each reference.

Measured calibration (tests/apps/stars/test_reference.py, benchmarks): 68 % coverage 0.67-0.75 for logt,
logZ and logU; logM and A_V come out too narrow as the errors grow (0.6 and 0.75 at 5 %, 0.45 and 0.55 at
20 %): the weights use the measured relative errors sigma_j / F_j, which correlate with the noise. So the
network-against-reference comparisons use the ratio parameters (REFERENCE_CALIBRATED).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import ndtr, ndtri

from .linelist import HBETA, NAMES
from .measurement_model import SYSTEMATIC_DEX
from .predictive import line_values
from .problem import StarsProblem

__all__ = ["reference_posterior", "REFERENCE_MIN_ESS", "REFERENCE_CALIBRATED"]

# references with fewer effective draws are too noisy to judge a network by (not core.importance.MIN_ESS, the
# importance-sampling threshold of the posteriors themselves)
REFERENCE_MIN_ESS = 100.0
REFERENCE_CALIBRATED = ("logt", "logZ", "logU")  # parameters whose reference intervals are calibrated


def _measured(problem: StarsProblem, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, 12) measured log L_j (absolute) or log L_j / L_Hbeta (ratios-only), and weights 1/sigma^2 (0: unused)."""
    obs = line_values(problem, y)
    absolute = not problem.ratios_only
    others = [j for j in range(len(NAMES)) if j != HBETA]
    a = np.zeros((len(y), len(NAMES)))
    a[:, others] = obs.value[:, 1:] if absolute else obs.value
    if absolute:
        a += obs.value[:, :1]
    used = np.ones((len(y), len(NAMES)), bool)
    used[:, others] = obs.detected[:, 1:] if absolute else obs.detected
    n_values = len(others) + absolute
    r = 10.0 ** np.asarray(y, dtype=np.float64)[:, n_values : n_values + len(NAMES)]
    w = np.where(used, 1.0 / np.hypot(r / math.log(10.0), SYSTEMATIC_DEX) ** 2, 0.0)
    return np.where(used, a, 0.0), w


def reference_posterior(
    problem: StarsProblem,
    y: np.ndarray,
    draws: int = 4_000_000,
    seed: int = 0,
    keep: int = 4096,
    chunk: int = 1_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """(B, keep, dx) reference posterior samples of observations y (B, dy) and (B,) effective sample sizes.

    The draws stream in chunks; each observation's `keep` samples are resampled by weight as they go (each
    sample slot takes a draw of the new chunk with probability chunk weight / total weight so far), which is
    exact multinomial resampling of all draws in memory of one chunk."""
    a, w = _measured(problem, y)
    sum_w = w.sum(axis=1)
    absolute = not problem.ratios_only
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    lo, hi = (torch.tensor(v, dtype=torch.float64) for v in zip(*problem.x_bounds[-4:]))  # logt, logZ, logU, A_V
    m_lo, m_hi = problem.x_bounds[0] if absolute else (-np.inf, np.inf)
    picks = np.zeros((len(y), keep, 5))  # logt, logZ, logU, A_V and the offset's mean of each kept draw
    log_max = np.full(len(y), -np.inf)  # running maximum log weight: sums below are in units of exp(log_max)
    total, total_sq = np.zeros(len(y)), np.zeros(len(y))
    for start in range(0, draws, chunk):
        theta = lo + (hi - lo) * torch.rand(min(chunk, draws - start), 4, generator=gen, dtype=torch.float64)
        x = torch.cat([torch.zeros(len(theta), 1, dtype=theta.dtype), theta], 1) if absolute else theta
        g = problem.log_line_luminosities(x).numpy()  # logM = 0
        theta = theta.numpy()
        for k in range(len(y)):
            d = a[k] - g
            mean = (d * w[k]).sum(axis=1) / sum_w[k]
            lw = -0.5 * ((d - mean[:, None]) ** 2 * w[k]).sum(axis=1)
            if absolute:
                s = 1.0 / math.sqrt(sum_w[k])
                lw += np.log(np.maximum(ndtr((m_hi - mean) / s) - ndtr((m_lo - mean) / s), 1e-300))
            new_max = max(log_max[k], lw.max())
            scale = math.exp(log_max[k] - new_max) if np.isfinite(log_max[k]) else 0.0
            p = np.exp(lw - new_max)
            chunk_w = p.sum()
            total[k], total_sq[k] = total[k] * scale, total_sq[k] * scale**2
            take = rng.random(keep) < chunk_w / (total[k] + chunk_w)
            cum = np.cumsum(p)
            idx = np.minimum(np.searchsorted(cum, rng.random(int(take.sum())) * cum[-1]), len(p) - 1)
            picks[k, take] = np.column_stack([theta[idx], mean[idx]])
            total[k] += chunk_w
            total_sq[k] += (p**2).sum()
            log_max[k] = new_max
    samples = picks[:, :, :4]
    if absolute:  # logM | theta, y: the offset's Gaussian truncated to the prior, by inverse CDF
        s = 1.0 / np.sqrt(sum_w)[:, None]
        mean = picks[:, :, 4]
        lo_p, hi_p = ndtr((m_lo - mean) / s), ndtr((m_hi - mean) / s)
        u = lo_p + (hi_p - lo_p) * rng.uniform(size=mean.shape)
        log_m = np.clip(mean + s * ndtri(np.clip(u, 1e-300, 1 - 1e-16)), m_lo, m_hi)
        samples = np.concatenate([log_m[:, :, None], samples], axis=2)
    return samples.astype(np.float32), total**2 / total_sq
