"""Importance weights: normalized from log weights, and their effective sample size (used by core.importance and
core.adaptive_proposal)."""

from __future__ import annotations

import numpy as np

__all__ = ["importance_weights", "effective_sample_size"]


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
