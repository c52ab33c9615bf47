"""Adaptive proposals for the later rounds of importance sampling (core.importance), when the network's draws are
much wider than the target or off its centre.

After a round, a multivariate Student-t is fitted to the draws so far, weighted by their importance weights
tempered to w^tau (tau the largest in [0, 1] that leaves `temper_ess` effective draws, so that one or two heavy
draws still give a usable covariance), its covariance inflated by `inflate`^2. The next round draws from it. Every
draw of every round is then weighted against the equal mixture of all the round proposals, the network's included
(deterministic-mixture weights: w = p(x) p(y | x) / ((1/R) sum_r q_r(x))), so the network stays a defensive
component and the weights stay exact for any fitted t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from .noise import row_seed
from .weights import effective_sample_size, importance_weights

__all__ = ["AdaptiveRounds", "StudentT", "fit_student_t"]


@dataclass(frozen=True)
class AdaptiveRounds:
    """Settings of the adaptive rounds: the t's degrees of freedom, covariance inflation and tempering ESS."""

    df: float = 5.0
    inflate: float = 1.5
    temper_ess: float = 50.0


@dataclass
class StudentT:
    """A multivariate Student-t per observation: centres (B, d), Cholesky factors (B, d, d), degrees of freedom."""

    centre: np.ndarray
    chol: np.ndarray
    df: float

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density (B, n) of points x (B, n, d)."""
        d = x.shape[-1]
        z = np.linalg.solve(self.chol[:, None], (x - self.centre[:, None])[..., None])[..., 0]
        log_det = np.log(np.diagonal(self.chol, axis1=1, axis2=2)).sum(-1)[:, None]
        norm = gammaln((self.df + d) / 2) - gammaln(self.df / 2) - d / 2 * math.log(self.df * math.pi)
        return norm - log_det - (self.df + d) / 2 * np.log1p((z**2).sum(-1) / self.df)

    def sample(self, n: int, seed: int, rows: np.ndarray) -> np.ndarray:
        """n draws (B, n, d), those of row r from seed and r only."""
        out = np.empty((len(self.centre), n, self.centre.shape[1]))
        for i, r in enumerate(rows):
            rng = np.random.default_rng(row_seed(seed, int(r)))
            z = rng.standard_normal((n, self.centre.shape[1]))
            out[i] = self.centre[i] + (z @ self.chol[i].T) * np.sqrt(self.df / rng.chisquare(self.df, n))[:, None]
        return out


def _tempered_weights(log_w: np.ndarray, min_ess: float, steps: int = 30) -> np.ndarray:
    """Normalized weights w^tau (B, n), tau per row the largest in [0, 1] with ESS >= min_ess (bisection)."""

    log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
    finite = np.isfinite(log_w)
    lo = np.where(effective_sample_size(importance_weights(log_w)) >= min_ess, 1.0, 0.0)
    hi = np.ones(len(log_w))
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        scaled = np.where(finite, log_w * mid[:, None], -np.inf)
        good = effective_sample_size(importance_weights(scaled)) >= min_ess
        lo, hi = np.where(good, mid, lo), np.where(good, hi, mid)
    return importance_weights(np.where(finite, log_w * lo[:, None], -np.inf))


def fit_student_t(x: np.ndarray, log_w: np.ndarray, settings: AdaptiveRounds) -> StudentT:
    """The t of the module docstring for draws x (B, n, d) with unnormalized log weights (B, n)."""
    w = _tempered_weights(log_w, settings.temper_ess)
    centre = np.einsum("bn,bnd->bd", w, x)
    dev = x - centre[:, None]
    cov = np.einsum("bn,bnd,bne->bde", w, dev, dev) * settings.inflate**2
    scale = np.maximum(np.einsum("bdd->bd", cov).max(-1), 1e-300)[:, None, None]
    cov = cov + 1e-9 * scale * np.eye(x.shape[-1])  # a single heavy draw: a tiny ball, not a singular matrix
    return StudentT(centre, np.linalg.cholesky(cov), settings.df)
