"""The likelihood p(y | x) of the noise model (docs/stars.md), for importance sampling.

y (measurement_model.encode) gives back, for each observed line j, its 1-sigma error sigma_j and its measured S/N
F_j / sigma_j (for a detection) or only S/N < 3 (a non-detection); masked lines carry no information.
With mu_j = L_j(x) / sigma_j and the line's model-systematic scatter L_j,sys = L_j 10^(0.02 n), n ~ N(0, 1):

    detection        l_j = E_n[ phi(S/N_j - mu_j 10^(0.02 n)) ]          (Hbeta: / Phi(mu_j 10^(0.02 n) - 3),
    non-detection    l_j = E_n[ Phi(3 - mu_j 10^(0.02 n)) ]               the training conditions it on S/N >= 3)

and log p(y | x) = sum_j log l_j up to a constant of y. The errors sigma_j are taken as given: the training
draws r_j = sigma_j / F_j log-uniform, so p(sigma_j | x) is flat in log sigma_j except at the ends of
R_RANGE, which are left out (they bound no real measurement). The expectation over n uses Gauss-Hermite
nodes centred and scaled on the Gaussian approximation of each integrand (adaptive quadrature): the
integrand is narrow in n for precise lines (mu_j 0.046 >> 1) and wide for noisy ones. The quadratures run in
float32 (4x faster than float64; log p changes by < 1e-4 where the weights matter).

Ratios-only observations fix the lines only up to a common factor c (the unknown Hbeta luminosity); the
training's log-uniform errors make the measure flat in log c, which is integrated the same way around
the weighted mean offset of the detected lines' log values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from invert.core import ImportancePosterior, Posterior
from invert.core.adaptive_proposal import AdaptiveRounds

from .linelist import HBETA, NAMES
from .measurement_model import DETECTION_SNR, MISSING_LOG_R, OTHERS, SYSTEMATIC_DEX
from .problem import StarsProblem

__all__ = ["log_likelihood", "reweighted_posterior", "scale_offset", "DecodedLines", "decode"]

LN10 = math.log(10.0)
S_SYS = SYSTEMATIC_DEX * LN10  # systematic scatter in natural log
N_NODES = 8  # Gauss-Hermite nodes per integral
N_SCALE_NODES = 12  # nodes of the common-scale integral (ratios-only)
# later importance-sampling rounds: t's with 5 degrees of freedom and the covariance of the draws weighted down to 50
# effective draws (chosen on the seed-1 calibration spectra of benchmarks/stars_independent_spectra.py, docs/stars.md);
# two of them, one per logZ branch where there are two (a single t lost branches; CHANGELOG, README "Multi-modality")
ADAPTIVE_ROUNDS = AdaptiveRounds(df=5.0, inflate=1.0, temper_ess=50.0, components=2, min_share=0.1)


def _hermite(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilists' Gauss-Hermite nodes t_k and weights w_k (sum 1): E[f(t)], t ~ N(0, 1) = sum_k w_k f(t_k)."""
    t, w = np.polynomial.hermite_e.hermegauss(n)
    return torch.from_numpy(t), torch.from_numpy(w / w.sum())


@dataclass
class DecodedLines:
    """Per line of observations (B, 12): observed, detected, log10 sigma_j (in units of L_Hbeta's level, 1 in
    ratios-only mode) and max(S/N_j, 3)."""

    observed: torch.Tensor
    detected: torch.Tensor
    log_sigma: torch.Tensor
    snr: torch.Tensor

    def __getitem__(self, rows: slice) -> "DecodedLines":
        return DecodedLines(self.observed[rows], self.detected[rows], self.log_sigma[rows], self.snr[rows])


def decode(problem: StarsProblem, y: np.ndarray | torch.Tensor) -> DecodedLines:
    """The lines of observations y (B, dy) as measurements (measurement_model.encode inverted), float64."""
    y = torch.as_tensor(np.asarray(y, dtype=np.float64) if not torch.is_tensor(y) else y, dtype=torch.float64)
    y = y.reshape(-1, y.shape[-1])
    absolute = not problem.ratios_only
    n_values = len(OTHERS) + absolute
    values, log_r = y[:, :n_values], y[:, n_values : n_values + len(NAMES)]
    level = torch.zeros_like(log_r)  # log10 max(F_j, 3 sigma_j)
    level[:, HBETA] = values[:, 0] if absolute else 0.0
    level[:, list(OTHERS)] = values[:, int(absolute) :] + level[:, HBETA, None]
    observed = log_r != MISSING_LOG_R
    detected = observed.clone()
    detected[:, list(OTHERS)] &= y[:, n_values + len(NAMES) :] > 0.5
    return DecodedLines(observed, detected, level + log_r, 10.0**-log_r)


def _log_line_terms(log_mu: torch.Tensor, lines: DecodedLines) -> torch.Tensor:
    """log l_j (B, n, 12) of the module docstring for log10 mu_j = log10 L_j - log10 sigma_j (B, n, 12)."""
    t, w = _hermite(N_NODES)
    t, log_w = t.to(log_mu), w.to(log_mu).log()
    mu = 10.0**log_mu
    snr = lines.snr[:, None, :]
    # Gaussian approximation of phi(n) phi(snr - mu e^(s n)) in n (e^(s n) ~ 1 + s n); a non-detection of a line
    # the model makes brighter than 3 sigma is treated like a detection at S/N 3, which bounds its tail
    a = mu * S_SYS
    det = lines.detected[:, None, :]
    target = torch.where(det, snr, torch.full_like(snr, DETECTION_SNR))
    use = det | (mu > DETECTION_SNR)
    centre = torch.where(use, a * (target - mu) / (1.0 + a**2), torch.zeros_like(mu))
    scale = torch.where(use, torch.rsqrt(1.0 + a**2), torch.ones_like(mu))
    n = centre[..., None] + scale[..., None] * t  # (B, n, 12, K)
    mu_sys = mu[..., None] * torch.exp(S_SYS * n)
    # log of the integrand against the importance density N(centre, scale^2) of the nodes
    log_prior_ratio = -0.5 * n**2 + 0.5 * t**2 + torch.log(scale)[..., None]
    log_detect = -0.5 * (snr[..., None] - mu_sys) ** 2 - 0.5 * math.log(2 * math.pi)
    hbeta = torch.zeros_like(mu_sys)
    hbeta[:, :, HBETA] = -torch.special.log_ndtr(mu_sys[:, :, HBETA] - DETECTION_SNR)
    log_limit = torch.special.log_ndtr(DETECTION_SNR - mu_sys)
    log_f = torch.where(det[..., None], log_detect + hbeta, log_limit)
    terms = torch.logsumexp(log_f + log_prior_ratio + log_w, dim=-1)
    return torch.where(lines.observed[:, None, :], terms, torch.zeros_like(terms))


@torch.no_grad()
def log_likelihood(problem: StarsProblem, x: np.ndarray, y: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """log p(y_b | x_bi) (B, n) up to a constant per observation, for samples x (B, n, dx) of observations y (B, dy)."""
    x_t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    lines = decode(problem, y)
    b, n, dx = x_t.shape
    per_chunk = max(1, chunk // max(n, 1))
    out = []
    for start in range(0, b, per_chunk):
        part = slice(start, start + per_chunk)
        log_l = problem.log_line_luminosities(x_t[part].reshape(-1, dx)).reshape(-1, n, len(NAMES))
        sub = lines[part]
        log_mu = (log_l - sub.log_sigma[:, None, :]).float()  # float32 from here: 4x faster, 4e-5 in log p
        sub = DecodedLines(sub.observed, sub.detected, sub.log_sigma.float(), sub.snr.float())
        out.append(_ratios_only(log_mu, sub) if problem.ratios_only else _log_line_terms(log_mu, sub).sum(-1))
    return torch.cat(out).double().numpy() if out else np.empty((0, n))


def scale_offset(log_mu: torch.Tensor, lines: DecodedLines) -> tuple[torch.Tensor, torch.Tensor]:
    """The best common log10 offset c (B, n) of the lines (ratios-only mode) and its approximate 1-sigma width: the
    weighted mean of the detected lines' log10 S/N - log10 mu_j (Gaussian approximation of the scale's likelihood)."""
    det = lines.detected[:, None, :]
    var = (1.0 / (lines.snr[:, None, :] * LN10)) ** 2 + SYSTEMATIC_DEX**2
    weight = torch.where(det, 1.0 / var, torch.zeros_like(var)).expand_as(log_mu)
    offset = torch.log10(lines.snr)[:, None, :] - log_mu
    centre = (torch.where(det, offset, torch.zeros_like(offset)) * weight).sum(-1) / weight.sum(-1)
    return centre, torch.rsqrt(weight.sum(-1))


def _ratios_only(log_mu: torch.Tensor, lines: DecodedLines) -> torch.Tensor:
    """log of the integral over the common log10 scale c of exp(sum_j log l_j(log_mu + c)), (B, n)."""
    t, w = _hermite(N_SCALE_NODES)
    t, log_w = t.to(log_mu), w.to(log_mu).log()
    centre, width = scale_offset(log_mu, lines)
    scale = 2.0 * width  # twice the approximate width: the nodes cover the tails
    total = []
    for k in range(len(t)):
        c = centre + scale * t[k]
        log_node = _log_line_terms(log_mu + c[..., None], lines).sum(-1)
        # integrand against N(centre, scale^2): multiply by scale / phi(t_k)
        total.append(log_node + log_w[k] + torch.log(scale) + 0.5 * t[k] ** 2 + 0.5 * math.log(2 * math.pi))
    return torch.logsumexp(torch.stack(total), dim=0)


def reweighted_posterior(network: Posterior, problem: StarsProblem, power: float = 1.0) -> ImportancePosterior:
    """The network's draws reweighted by this likelihood raised to `power` under the flat prior: power 1 is the model's
    exact posterior, a smaller power a wider one (model.mismatch); later rounds adapt to the weighted draws."""
    if not 0.0 < power <= 1.0:
        raise ValueError(f"the likelihood's power must be in (0, 1], got {power}")
    return ImportancePosterior(network, lambda x, y: power * log_likelihood(problem, x, y), adaptive=ADAPTIVE_ROUNDS)
