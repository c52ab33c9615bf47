"""Importance sampling with the cINN as proposal: the exact posterior of a simulator with a known likelihood.

The cINN q(x | y) is fast and close to p(x | y) but not exact (too wide or too narrow in corners of the
training distribution). Where p(y | x) can be evaluated, self-normalized importance sampling corrects it
(as Dax et al. 2023 did for gravitational waves): draw x_i ~ q(x | y), weight w_i = p(x_i) p(y | x_i) /
q(x_i | y), and resample the draws by weight. The effective sample size (sum w)^2 / sum w^2 says how well
q covered p: near the number of draws when q is close, small when q missed p's mass or is much wider.
An observation whose ESS stays below TARGET_ESS gets more rounds of proposals (up to MAX_ROUNDS x n
draws in all); if it ends below MIN_ESS its draws are resampled by the tempered weights w^beta, beta the largest
that leaves MIN_ESS effective draws (a distribution between the proposals and the target), and the `low_ess`
diagnostic says so.
With `adaptive` set (core.adaptive_proposal), those later rounds draw from a mixture of Student-t's fitted to the
weighted draws so far instead of the network, and every draw is weighted against the mixture of all the rounds'
proposals: for a network much wider than the target (a model applied to data it was not trained on) that turns a
handful of effective draws into hundreds.

Resampling is systematic (one uniform per observation, from the observation's row number and the seed),
so an observation's result does not depend on batching, like `Posterior.sample`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .adaptive_proposal import AdaptiveRounds, StudentTMixture, fit_t_mixture
from .noise import row_seed
from .posterior import DensityPosterior
from .weights import effective_sample_size, importance_weights, tempered_weights

__all__ = [
    "ImportancePosterior",
    "importance_weights",
    "effective_sample_size",
    "systematic_resample",
    "MIN_ESS",
    "TARGET_ESS",
    "MAX_ROUNDS",
]

# The one effective-draw threshold. An observation below it gets another round of proposals (up to MAX_ROUNDS); one
# that ends below it is resampled by weights tempered to it (flagged `low_ess` by the apps). On the stars model's own
# simulations such objects were covered alike by their exactly reweighted draws and by the network's own ones
# (benchmarks/stars_checks.py --seed 8001 --plain-rounds: 258 of 1,200 below 200, 68 % / 95 % coverage 0.64 / 0.93
# both ways); on spectra from another code the network's own draws covered far less than the tempered weights
# (docs/stars.md section 4).
MIN_ESS = 200.0
TARGET_ESS = MIN_ESS  # observations below it get another round of proposals ...
MAX_ROUNDS = 4  # ... up to this many rounds of n proposals
ROUND_SEED = 1_000_003  # seed offset of each further round

LogLikelihood = Callable[[np.ndarray, np.ndarray], np.ndarray]  # x (B, n, dx), y (B, dy) -> (B, n)
LogPrior = Callable[[np.ndarray], np.ndarray]  # x (B, n, dx) -> (B, n)


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
        adaptive: AdaptiveRounds | None = None,
    ) -> None:
        """log_likelihood(x, y): log p(y | x) up to a constant per observation; log_prior(x): log p(x) up to
        a constant (None: flat inside the network's x_bounds, which its draws never leave)."""
        if not network.has_density:
            raise ValueError(
                "importance sampling needs a proposal with a density: a cINN (method='cinn') without noise variables"
            )
        self.network, self.log_likelihood, self.log_prior = network, log_likelihood, log_prior
        self.min_ess, self.target_ess, self.max_rounds = min_ess, target_ess, max_rounds
        # None: every round draws from the network; else the later rounds adapt (core.adaptive_proposal)
        self.adaptive = adaptive

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
        """n draws per observation (B, n, dx) and diagnostics {"ess": (B,) the effective sample size, "low_ess": (B,)
        True where it ended below min_ess and the draws were resampled by weights tempered to min_ess}.

        Observations whose ESS stays below target_ess get further rounds of n proposals (up to max_rounds)."""
        y = np.atleast_2d(np.asarray(y_obs, dtype=np.float32))
        rows = np.arange(len(y)) if rows is None else np.asarray(rows)
        b, dx = len(y), self.dx
        proposals = np.zeros((b, self.max_rounds * n, dx), dtype=np.float32)
        log_w = np.full((b, self.max_rounds * n), -np.inf)
        log_p, log_q = log_w.copy(), log_w.copy()  # log target and the network's log density of every draw
        fitted: list[tuple[np.ndarray, StudentTMixture]] = []  # each adaptive round's rows and their proposals
        ess = np.zeros(b)
        for r in range(self.max_rounds):
            todo = np.flatnonzero(ess < self.target_ess) if r else np.arange(b)
            if not len(todo):
                break
            part, done = slice(r * n, (r + 1) * n), slice(0, (r + 1) * n)
            if self.adaptive is None or r == 0:
                x, log_q[todo, part] = self.network.sample_and_log_prob(
                    y[todo], n, seed=seed + ROUND_SEED * r, rows=rows[todo]
                )
            else:
                fitted.append((todo, fit_t_mixture(proposals[todo, : r * n], log_w[todo, : r * n], self.adaptive)))
                x = fitted[-1][1].sample(n, seed + ROUND_SEED * r, rows[todo])
                log_q[todo, part] = self._network_log_prob(x, y[todo])
            proposals[todo, part] = x
            log_p[todo, part] = np.where(np.isfinite(log_q[todo, part]), self._log_target(x, y[todo]), -np.inf)
            # the rows still to do are among those of every earlier round
            mixtures = [m[np.searchsorted(fit_rows, todo)] for fit_rows, m in fitted]
            log_w[todo, done] = log_p[todo, done] - self._mixture_log_q(
                proposals[todo, done], log_q[todo, done], mixtures
            )
            ess[todo] = effective_sample_size(importance_weights(log_w[todo]))
        # rows below min_ess: the weights w^beta, beta the largest that leaves min_ess effective draws (a distribution
        # between the proposals and the target)
        low = ess < self.min_ess
        weights = importance_weights(log_w)
        weights[low] = tempered_weights(log_w[low], self.min_ess)
        idx = systematic_resample(weights, n, seed, rows)  # rows with no finite weight are not kept below
        resampled = np.take_along_axis(proposals, idx[:, :, None], axis=1)
        empty = ~np.isfinite(log_w).any(axis=1)
        return np.where(empty[:, None, None], proposals[:, :n], resampled), {
            "ess": ess.astype(np.float32),
            "low_ess": low,
        }

    def _network_log_prob(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The network's log q(x | y) (B, n) of draws x (B, n, dx); -inf outside its x_bounds (where the prior is 0)."""
        bounds = np.asarray(getattr(self.network, "x_bounds", [(-np.inf, np.inf)] * self.dx), dtype=np.float64)
        inside = ((x >= bounds[:, 0]) & (x <= bounds[:, 1])).all(-1)
        out = np.full(x.shape[:2], -np.inf)
        # one observation per call, so that how many points go through the network together (this observation's draws
        # inside the box) never depends on the chunk: its matrix products' float results can (one point alone differs)
        for i in np.flatnonzero(inside.any(axis=1)):
            keep = inside[i]
            out[i, keep] = self.network.log_prob(x[i, keep].astype(np.float32), np.repeat(y[i : i + 1], keep.sum(), 0))
        return out

    @staticmethod
    def _mixture_log_q(x: np.ndarray, log_q: np.ndarray, fitted: list[StudentTMixture]) -> np.ndarray:
        """log of the equal mixture of the network (log_q, (B, n)) and the adaptive rounds' proposals at draws x
        (B, n, dx)."""
        parts = [log_q] + [t.log_pdf(x) for t in fitted]
        return np.logaddexp.reduce(np.stack(parts), axis=0) - np.log(len(parts))

    def _log_target(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """log p(x) + log p(y | x) (B, n) of draws x (B, n, dx) of observations y (B, dy), up to a constant."""
        log_target = self.log_likelihood(x, y)
        return log_target if self.log_prior is None else log_target + self.log_prior(x)

    def sample(self, y_obs: np.ndarray, n: int, seed: int = 0, rows: Sequence[int] | None = None) -> np.ndarray:
        """n posterior draws per observation: y (dy,) -> (n, dx); y (B, dy) -> (B, n, dx)."""
        y = np.asarray(y_obs, dtype=np.float32)
        s = self.draw(y, n, seed, rows)[0]
        return s[0] if y.ndim == 1 else s
