"""Importance weights: normalized from log weights, their effective sample size, and weights tempered to a given
effective sample size (used by core.importance and core.adaptive_proposal)."""

from __future__ import annotations

import numpy as np

__all__ = ["importance_weights", "effective_sample_size", "tempered_weights"]


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


def tempered_weights(log_w: np.ndarray, min_ess: float, steps: int = 30) -> np.ndarray:
    """Normalized weights w^beta (B, n), beta per row the largest in [0, 1] with ESS >= min_ess (bisection; beta = 0,
    equal weights on the finite draws, where even those fall short)."""
    finite = np.isfinite(log_w)
    finite_log_w = np.where(finite, log_w, 0.0)  # so that beta = 0 gives 0, not -inf x 0

    def at(beta: np.ndarray) -> np.ndarray:
        return importance_weights(np.where(finite, finite_log_w * beta[:, None], -np.inf))

    lo = np.where(effective_sample_size(at(np.ones(len(log_w)))) >= min_ess, 1.0, 0.0)
    hi = np.ones(len(log_w))
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        good = effective_sample_size(at(mid)) >= min_ess
        lo, hi = np.where(good, mid, lo), np.where(good, hi, mid)
    return at(lo)
