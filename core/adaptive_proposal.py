"""Adaptive proposals for the later rounds of importance sampling (core.importance), when the network's draws are
much wider than the target or off its centre.

After a round, a mixture of `components` multivariate Student-t's is fitted to the draws so far, weighted by their
importance weights tempered to w^tau (tau the largest in [0, 1] that leaves `temper_ess` effective draws, so that one
or two heavy draws still give a usable covariance): the means, covariances and shares of a Gaussian mixture fitted to
the weighted draws by expectation-maximization (started from slices along the draws' first principal axis), each
covariance inflated by `inflate`^2 and each share at least `min_share` (so that a mode that the fit gives little
weight still gets draws). One t per mode keeps a two-branch posterior two-branched where a single t, centred between
the branches, draws mostly between them. The next round draws from the mixture. Every draw of every round is then
weighted against the equal mixture of all the round proposals, the network's included (deterministic-mixture
weights: w = p(x) p(y | x) / ((1/R) sum_r q_r(x))), so the network stays a defensive component and the weights stay
exact for any fitted mixture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import gammaln, logsumexp

from .noise import row_seed
from .weights import tempered_weights

__all__ = ["AdaptiveRounds", "StudentTMixture", "fit_t_mixture"]


@dataclass(frozen=True)
class AdaptiveRounds:
    """Settings of the adaptive rounds: the t's degrees of freedom, covariance inflation, tempering ESS, number of
    mixture components, their smallest share and the expectation-maximization steps of the fit."""

    df: float = 5.0
    inflate: float = 1.5
    temper_ess: float = 50.0
    components: int = 2
    min_share: float = 0.1
    em_steps: int = 30


@dataclass
class StudentTMixture:
    """A mixture of multivariate Student-t's per observation: shares (B, K), centres (B, K, d), Cholesky factors
    (B, K, d, d), degrees of freedom."""

    share: np.ndarray
    centre: np.ndarray
    chol: np.ndarray
    df: float

    def __getitem__(self, rows: np.ndarray) -> StudentTMixture:
        """The mixtures of observations `rows`."""
        return StudentTMixture(self.share[rows], self.centre[rows], self.chol[rows], self.df)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density (B, n) of points x (B, n, d)."""
        d = x.shape[-1]
        norm = gammaln((self.df + d) / 2) - gammaln(self.df / 2) - d / 2 * math.log(self.df * math.pi)
        parts = _component_log_densities(
            x, self.share, self.centre, self.chol, lambda z2: norm - (self.df + d) / 2 * np.log1p(z2 / self.df)
        )
        return logsumexp(parts, axis=-1)

    def sample(self, n: int, seed: int, rows: np.ndarray) -> np.ndarray:
        """n draws (B, n, d), those of row r from seed and r only."""
        out = np.empty((len(self.share), n, self.centre.shape[-1]))
        for i, r in enumerate(rows):
            rng = np.random.default_rng(row_seed(seed, int(r)))
            k = rng.choice(self.share.shape[1], size=n, p=self.share[i])
            z = np.einsum("nde,ne->nd", self.chol[i, k], rng.standard_normal((n, self.centre.shape[-1])))
            out[i] = self.centre[i, k] + z * np.sqrt(self.df / rng.chisquare(self.df, n))[:, None]
        return out


def _component_log_densities(
    x: np.ndarray,
    share: np.ndarray,
    centre: np.ndarray,
    chol: np.ndarray,
    log_kernel: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """log(share_k) + log density (B, n, k) of points x (B, n, d) under each component k of a location-scale mixture
    (shares (B, k), centres (B, k, d), Cholesky factors (B, k, d, d)), whose standardized density is
    exp(log_kernel(squared Mahalanobis distance))."""
    parts = []
    for k in range(share.shape[1]):
        z = np.linalg.solve(chol[:, k, None], (x - centre[:, k, None])[..., None])[..., 0]
        log_det = np.log(np.diagonal(chol[:, k], axis1=1, axis2=2)).sum(-1)[:, None]
        parts.append(np.log(np.maximum(share[:, k, None], 1e-300)) - log_det + log_kernel((z**2).sum(-1)))
    return np.stack(parts, axis=-1)


def _moments(w: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean (B, d) and covariance (B, d, d) of draws x (B, n, d) with weights w (B, n) that sum to 1."""
    centre = np.einsum("bn,bnd->bd", w, x)
    dev = x - centre[:, None]
    return centre, np.einsum("bn,bnd,bne->bde", w, dev, dev)


def _initial_split(x: np.ndarray, w: np.ndarray, k: int, moments: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Responsibilities (B, n, k): k slices of equal weight along the first principal axis of the weighted draws in
    units of their spread per parameter; moments: the draws' weighted mean and covariance (`_moments`)."""
    centre, cov = moments
    sd = np.sqrt(np.maximum(np.einsum("bdd->bd", cov), 1e-300))
    axis = np.linalg.eigh(cov / sd[:, :, None] / sd[:, None, :])[1][..., -1]  # eigenvalues ascending
    proj = np.einsum("bnd,bd->bn", (x - centre[:, None]) / sd[:, None], axis)
    order = np.argsort(proj, axis=1)
    rank = np.cumsum(np.take_along_axis(w, order, axis=1), axis=1)  # weight below each draw along the axis
    cum = np.empty_like(rank)
    np.put_along_axis(cum, order, rank, axis=1)
    return np.eye(k)[np.minimum((cum * k).astype(int), k - 1)]


def _m_step(x: np.ndarray, w: np.ndarray, resp: np.ndarray, ridge: np.ndarray) -> tuple[np.ndarray, ...]:
    """Shares (B, k), means (B, k, d) and covariance Cholesky factors (B, k, d, d) of the components of draws x
    (B, n, d) with weights w (B, n) and responsibilities resp (B, n, k)."""
    share = np.einsum("bn,bnk->bk", w, resp)
    w_k = w[..., None] * resp / np.maximum(share[:, None], 1e-300)  # each component's weights, summing to 1
    moments = [_moments(w_k[..., j], x) for j in range(resp.shape[-1])]
    centre = np.stack([m[0] for m in moments], axis=1)
    return share, centre, np.linalg.cholesky(np.stack([m[1] for m in moments], axis=1) + ridge[:, None])


def _responsibilities(x: np.ndarray, share: np.ndarray, centre: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """The probability (B, n, k) that each draw x (B, n, d) came from each Gaussian component."""
    log_dens = _component_log_densities(x, share, centre, chol, lambda z2: -0.5 * z2)
    return np.exp(log_dens - logsumexp(log_dens, axis=-1, keepdims=True))


def fit_t_mixture(x: np.ndarray, log_w: np.ndarray, settings: AdaptiveRounds) -> StudentTMixture:
    """The mixture of the module docstring for draws x (B, n, d) with unnormalized log weights (B, n)."""
    w = tempered_weights(log_w, settings.temper_ess)
    moments = _moments(w, x)
    scale = np.maximum(np.einsum("bdd->bd", moments[1]).max(-1), 1e-300)[:, None, None]
    ridge = 1e-9 * scale * np.eye(x.shape[-1])  # a component on one heavy draw: a tiny ball, not a singular matrix
    share, centre, chol = _m_step(x, w, _initial_split(x, w, settings.components, moments), ridge)
    for _ in range(settings.em_steps):  # expectation-maximization
        share, centre, chol = _m_step(x, w, _responsibilities(x, share, centre, chol), ridge)
    share = np.maximum(share, settings.min_share)
    return StudentTMixture(share / share.sum(-1, keepdims=True), centre, chol * settings.inflate, settings.df)
