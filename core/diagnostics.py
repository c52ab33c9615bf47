"""Diagnostics of posterior samples: calibration, coverage, SBC ranks, re-simulation error, and an
out-of-distribution score of observations relative to the training observations.

Samples have shape (B, n, dx) (B observations, n posterior samples of dx parameters), true
parameters x_true (B, dx), observations y (B, dy).  All statistics are computed in float64.

Calibration error (Ardizzone et al. 2019, Sec. 4.2, as in their evaluation code): for each
confidence q in PAPER_LEVELS = (1/101, 2/101, ..., 100/101), the fraction of observations whose
true value lies strictly inside the central q-interval [quantile((1-q)/2), quantile((1+q)/2)] of
the marginal posterior samples, minus q.  Positive values: under-confident (intervals too wide),
negative: over-confident.  `calibration_error` is the median of its absolute value over the
levels; `calibration_error_at(..., 0.68)` is the signed value at 68 % (the paper's code reports it
at the 69th level, q = 69/101 = 0.683; here the level is exactly the one asked for).
Quantiles use numpy's default linear interpolation between order statistics.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch
from scipy import stats

from .summaries import central_interval

OOD_QUANTILE = 0.999  # the share of training observations an OODScorer's threshold keeps in distribution
PAPER_LEVELS = np.linspace(0.0, 1.0, 101, endpoint=False)[1:]  # q_k = k/101, k = 1..100


def _samples_and_truth(samples: np.ndarray, x_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples (B, n, dx) and true parameters (B, dx) as float64, with their shapes checked."""
    s = np.asarray(samples, dtype=np.float64)
    x = np.asarray(x_true, dtype=np.float64)
    if s.ndim != 3 or x.shape != (s.shape[0], s.shape[2]):
        raise ValueError(f"samples (B, n, dx) and x_true (B, dx) expected, got {s.shape} and {x.shape}")
    return s, x


def coverage(samples: np.ndarray, x_true: np.ndarray, levels: np.ndarray = PAPER_LEVELS) -> np.ndarray:
    """Fraction of observations whose true x lies strictly inside the central interval of each level, (L, dx)."""
    s, x = _samples_and_truth(samples, x_true)
    lo, hi = central_interval(s, np.atleast_1d(levels))
    return ((lo < x) & (x < hi)).mean(axis=1)


def calibration_curve(
    samples: np.ndarray, x_true: np.ndarray, levels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Confidence levels q (L,) and calibration error coverage(q) - q per parameter (L, dx); default: PAPER_LEVELS."""
    q = PAPER_LEVELS if levels is None else np.atleast_1d(np.asarray(levels, dtype=np.float64))
    return q, coverage(samples, x_true, q) - q[:, None]


def calibration_error(samples: np.ndarray, x_true: np.ndarray, levels: np.ndarray | None = None) -> np.ndarray:
    """Median over confidence levels of the absolute calibration error, per parameter (dx,)."""
    return np.median(np.abs(calibration_curve(samples, x_true, levels)[1]), axis=0)


def calibration_error_at(samples: np.ndarray, x_true: np.ndarray, level: float = 0.68) -> np.ndarray:
    """Signed calibration error at one confidence level, per parameter (dx,); negative means over-confident."""
    return calibration_curve(samples, x_true, [level])[1][0]


def sbc_ranks(samples: np.ndarray, x_true: np.ndarray) -> np.ndarray:
    """Simulation-based-calibration rank of each true value among its n posterior samples, (B, dx) ints in [0, n]."""
    s, x = _samples_and_truth(samples, x_true)
    return (s < x[:, None, :]).sum(axis=1)


def sbc_uniformity_pvalue(ranks: np.ndarray, n_samples: int, bins: int = 20) -> np.ndarray:
    """Chi-square p-value per parameter (dx,) that SBC ranks (B, dx) in [0, n_samples] are uniform, in `bins` bins."""
    ranks = np.asarray(ranks)
    bin_of_rank = np.arange(n_samples + 1) * bins // (n_samples + 1)
    expected = np.bincount(bin_of_rank, minlength=bins) / (n_samples + 1) * ranks.shape[0]
    observed = np.stack([np.bincount(bin_of_rank[r], minlength=bins) for r in ranks.T], axis=1)
    chi2 = (((observed - expected[:, None]) ** 2) / expected[:, None]).sum(axis=0)
    return stats.chi2.sf(chi2, bins - 1)


def resimulation_error(
    samples: np.ndarray,
    y_obs: np.ndarray,
    forward: Callable[[torch.Tensor], torch.Tensor],
    statistic: str = "mean",
    chunk_size: int = 65536,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Mean (or median) over samples of the distance |forward(x) - y_obs|, per observation (B,).

    A float for (n, dx) samples.  `forward` is the noise-free simulator; samples go through it in float32
    chunks on `device`, distances are taken in float64.
    """
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    s = np.asarray(samples, dtype=np.float64)
    single = s.ndim == 2
    s = s[None] if single else s
    b, n, dx = s.shape
    if b == 0:
        return np.empty(0)
    y = torch.as_tensor(np.asarray(y_obs, dtype=np.float64).reshape(b, -1))
    x = torch.from_numpy(s.reshape(b * n, dx)).float()
    distances = []
    with torch.no_grad():
        for start in range(0, b * n, chunk_size):
            f = forward(x[start : start + chunk_size].to(device)).double().cpu()
            distances.append((f - y[torch.arange(start, start + len(f)) // n]).norm(dim=1))
    d = torch.cat(distances).reshape(b, n).numpy()
    out = np.mean(d, axis=1) if statistic == "mean" else np.median(d, axis=1)
    return float(out[0]) if single else out


class OODScorer:
    """Out-of-distribution score of observations y relative to the training observations.

    method "mahalanobis": the Mahalanobis distance to the training mean (whitened, standardized y).
    method "knn": the distance, in the same whitened space, to the k-th nearest of at most
    n_reference stored training observations; it also catches y off a curved training manifold
    that lie inside the training ellipsoid.  The threshold is the `quantile` of the scores of
    training observations (for "knn", of those not stored as references), so that about
    1 - quantile of in-distribution observations are flagged.
    """

    def __init__(
        self,
        mean: np.ndarray,
        whitening: np.ndarray,
        threshold: float,
        quantile: float,
        reference: np.ndarray | None = None,
        k: int = 0,
    ):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.whitening = np.asarray(whitening, dtype=np.float64)
        self.threshold = float(threshold)
        self.quantile = float(quantile)
        self.reference = None if reference is None else np.asarray(reference, dtype=np.float64)
        self.k = int(k)

    @classmethod
    def fit(
        cls,
        y: np.ndarray,
        quantile: float = OOD_QUANTILE,
        method: str = "mahalanobis",
        k: int = 5,
        n_reference: int = 2048,
        seed: int = 0,
    ) -> OODScorer:
        """Fit on training observations y (N, dy)."""
        y = np.asarray(y, dtype=np.float64)
        mean, whitening = y.mean(axis=0), _whitening(y)
        if method == "mahalanobis":
            scorer = cls(mean, whitening, np.inf, quantile)
            return cls(mean, whitening, np.quantile(scorer.score(y), quantile), quantile)
        if method != "knn":
            raise ValueError(f"method must be 'mahalanobis' or 'knn', got {method!r}")
        order = np.random.default_rng(seed).permutation(len(y))
        n_ref = min(n_reference, len(y) // 2)
        reference = (y[order[:n_ref]] - mean) @ whitening
        scorer = cls(mean, whitening, np.inf, quantile, reference, k)
        return cls(mean, whitening, np.quantile(scorer.score(y[order[n_ref:]]), quantile), quantile, reference, k)

    def score(self, y: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """OOD score per observation (B,); larger is further from the training observations."""
        z = (np.atleast_2d(np.asarray(y, dtype=np.float64)) - self.mean) @ self.whitening
        if self.reference is None:
            return np.linalg.norm(z, axis=1)
        return np.concatenate([self._kth_distance(zc) for zc in np.split(z, range(chunk, len(z), chunk))])

    def _kth_distance(self, z: np.ndarray) -> np.ndarray:
        d2 = (z**2).sum(1)[:, None] + (self.reference**2).sum(1)[None] - 2.0 * z @ self.reference.T
        return np.sqrt(np.maximum(np.partition(d2, self.k - 1, axis=1)[:, self.k - 1], 0.0))

    def is_ood(self, y: np.ndarray) -> np.ndarray:
        """True where the score exceeds the threshold (or is NaN), (B,) bool."""
        return ~(self.score(y) <= self.threshold)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The fitted state as float64 numpy arrays (scalars 0-d), storable as JSON lists or safetensors."""
        state = {"mean": self.mean, "whitening": self.whitening, "threshold": self.threshold, "quantile": self.quantile}
        if self.reference is not None:
            state |= {"reference": self.reference, "k": self.k}
        return {key: np.asarray(value, dtype=np.float64) for key, value in state.items()}

    @classmethod
    def from_state(cls, state: Mapping[str, object]) -> OODScorer:
        """Rebuild a scorer from `state_dict()` output (numpy arrays, nested lists or floats)."""
        reference = state.get("reference")
        return cls(
            state["mean"],
            state["whitening"],
            float(np.asarray(state["threshold"])),
            float(np.asarray(state["quantile"])),
            reference,
            int(np.asarray(state.get("k", 0))),
        )


def _whitening(y: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Matrix W with cov((y - mean) @ W) = I: standardization, then PCA whitening (eigenvalues >= floor x largest)."""
    std = y.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    eigenvalues, vectors = np.linalg.eigh(np.atleast_2d(np.cov(y / std, rowvar=False)))
    eigenvalues = np.maximum(eigenvalues, floor * eigenvalues.max())
    return (vectors / np.sqrt(eigenvalues)) / std[:, None]
