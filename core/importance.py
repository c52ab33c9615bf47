"""Importance sampling with the cINN as proposal: the exact posterior of a simulator with a known likelihood.

The cINN q(x | y) is fast and close to p(x | y) but not exact (too wide or too narrow in corners of the
training distribution). Where p(y | x) can be evaluated, self-normalized importance sampling corrects it
(as Dax et al. 2023 did for gravitational waves): draw x_i ~ q(x | y), weight w_i = p(x_i) p(y | x_i) /
q(x_i | y), and resample the draws by weight. The effective sample size (sum w)^2 / sum w^2 says how well
q covered p: near the number of draws when q is close, small when q missed p's mass or is much wider.
An observation whose ESS stays below TARGET_ESS gets more rounds of proposals (up to MAX_ROUNDS x n
draws in all); if it ends below MIN_ESS the network's own draws are kept, and the ESS column says so.

Resampling is systematic (one uniform per observation, from the observation's row number and the seed),
so an observation's result does not depend on batching, like `Posterior.sample`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .noise import row_seed
from .posterior import DensityPosterior

__all__ = [
    "ImportancePosterior",
    "importance_weights",
    "effective_sample_size",
    "systematic_resample",
    "MIN_ESS",
    "TARGET_ESS",
    "MAX_ROUNDS",
]

MIN_ESS = 50.0  # below this many effective draws the reweighting is noisier than the network it corrects
TARGET_ESS = 200.0  # observations below it get another round of proposals ...
MAX_ROUNDS = 4  # ... up to this many rounds of n proposals
ROUND_SEED = 1_000_003  # seed offset of each further round

LogLikelihood = Callable[[np.ndarray, np.ndarray], np.ndarray]  # x (B, n, dx), y (B, dy) -> (B, n)
LogPrior = Callable[[np.ndarray], np.ndarray]  # x (B, n, dx) -> (B, n)


def importance_weights(log_w: np.ndarray) -> np.ndarray:
    """Normalized weights (B, n) from unnormalized log weights log p(x) p(y | x) - log q(x | y) (B, n)."""
    log_w = np.asarray(log_w, dtype=np.float64)
    log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
    top = log_w.max(axis=1, keepdims=True)
    w = np.exp(log_w - np.where(np.isfinite(top), top, 0.0))
    total = w.sum(axis=1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def effective_sample_size(weights: np.ndarray) -> np.ndarray:
    """(sum w)^2 / sum w^2 per row of normalized weights (B, n); 0 where every weight is 0."""
    sq = (weights**2).sum(axis=1)
    return np.divide(1.0, sq, out=np.zeros_like(sq), where=sq > 0)


def systematic_resample(weights: np.ndarray, n: int, seed: int, rows: np.ndarray) -> np.ndarray:
    """Indices (B, n) drawn by weight, systematically: positions (u + k) / n, u uniform per row."""
    u = np.array([np.random.default_rng(row_seed(seed, int(r))).random() for r in rows])
    positions = (u[:, None] + np.arange(n)) / n
    cum = np.cumsum(weights, axis=1)
    cum[:, -1] = 1.0
    idx = [np.searchsorted(c, p, side="right") for c, p in zip(cum, positions)]
    return np.stack(idx).clip(0, weights.shape[1] - 1) if idx else np.empty((0, n), dtype=np.int64)


class ImportancePosterior:
    """p(x | y) proportional to prior x likelihood, sampled by reweighting the draws of a cINN (a PosteriorLike)."""

    def __init__(
        self,
        network: DensityPosterior,
        log_likelihood: LogLikelihood,
        log_prior: LogPrior | None = None,
        min_ess: float = MIN_ESS,
        target_ess: float = TARGET_ESS,
        max_rounds: int = MAX_ROUNDS,
    ) -> None:
        """log_likelihood(x, y): log p(y | x) up to a constant per observation; log_prior(x): log p(x) up to
        a constant (None: flat inside the network's x_bounds, which its draws never leave)."""
        if not network.has_density:
            raise ValueError("importance sampling needs a proposal with a density: a cINN (method='cinn')")
        self.network, self.log_likelihood, self.log_prior = network, log_likelihood, log_prior
        self.min_ess, self.target_ess, self.max_rounds = min_ess, target_ess, max_rounds

    @property
    def method(self) -> str:
        """The proposal's method with "+is" appended."""
        return f"{self.network.method}+is"

    @property
    def dx(self) -> int:
        """Number of parameters."""
        return self.network.dx

    @property
    def metadata(self) -> dict:
        """The proposal network's metadata."""
        return self.network.metadata

    @property
    def x_names(self) -> list[str]:
        """Parameter names."""
        return self.network.x_names

    def ood_score(self, y_obs: np.ndarray) -> np.ndarray:
        """The network's out-of-distribution score."""
        return self.network.ood_score(y_obs)

    def is_ood(self, y_obs: np.ndarray) -> np.ndarray:
        """The network's out-of-distribution flag."""
        return self.network.is_ood(y_obs)

    def draw(
        self,
        y_obs: np.ndarray,
        n: int,
        seed: int = 0,
        rows: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """n resampled draws per observation (B, n, dx) and the effective sample size of each, {"ess": (B,)}.

        Observations whose ESS stays below target_ess get further rounds of n proposals (up to max_rounds)."""
        y = np.atleast_2d(np.asarray(y_obs, dtype=np.float32))
        rows = np.arange(len(y)) if rows is None else np.asarray(rows)
        b, dx = len(y), self.dx
        proposals = np.zeros((b, self.max_rounds * n, dx), dtype=np.float32)
        log_w = np.full((b, self.max_rounds * n), -np.inf)
        ess = np.zeros(b)
        for r in range(self.max_rounds):
            todo = np.flatnonzero(ess < self.target_ess) if r else np.arange(b)
            if not len(todo):
                break
            part = slice(r * n, (r + 1) * n)
            x, log_q = self.network.sample_and_log_prob(y[todo], n, seed=seed + ROUND_SEED * r, rows=rows[todo])
            proposals[todo, part] = x
            log_w[todo, part] = self._log_target(x, y[todo]) - log_q
            ess[todo] = effective_sample_size(importance_weights(log_w[todo]))
        idx = systematic_resample(importance_weights(log_w), n, seed, rows)  # rows with ESS 0 are not kept below
        resampled = np.take_along_axis(proposals, idx[:, :, None], axis=1)
        keep = (ess >= self.min_ess)[:, None, None]
        return np.where(keep, resampled, proposals[:, :n]), {"ess": ess.astype(np.float32)}

    def _log_target(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """log p(x) + log p(y | x) (B, n) of draws x (B, n, dx) of observations y (B, dy), up to a constant."""
        log_target = self.log_likelihood(x, y)
        return log_target if self.log_prior is None else log_target + self.log_prior(x)

    def sample(self, y_obs: np.ndarray, n: int, seed: int = 0, rows: Sequence[int] | None = None) -> np.ndarray:
        """n posterior draws per observation: y (dy,) -> (n, dx); y (B, dy) -> (B, n, dx)."""
        y = np.asarray(y_obs, dtype=np.float32)
        s = self.draw(y, n, seed, rows)[0]
        return s[0] if y.ndim == 1 else s
