"""Per-observation summaries of posterior samples: mean, median, MAP, std, central intervals,
correlations and a multi-modality flag.

Samples have shape (B, n, dx): B observations with n posterior samples of dx parameters each;
a single observation may be given as (n, dx), and the batch axis is then dropped from the result.
All computations are in float64.

Columns of `summarize` (one row per observation), for each parameter `{name}` in order:

    {name}_mean        posterior mean
    {name}_median      posterior median
    {name}_map         MAP: mode of the parameter's 1-D marginal (see below)
    {name}_std         posterior standard deviation (ddof=1)
    {name}_q2.5 ...    marginal quantiles, labelled in percent: with the default
                       quantiles (0.025, 0.16, 0.84, 0.975) these are _q2.5, _q16, _q84, _q97.5,
                       i.e. the central 95 % and 68 % intervals
    {name}_multimodal  True when the 1-D marginal has more than one significant mode
    with n_modes = k > 0 also (see `modes`):
    {name}_n_modes     number of significant modes of the 1-D marginal
    {name}_mode1 ...   position and weight of the k heaviest modes (NaN where there are fewer),
    {name}_weight1 ... ordered by weight

MAP.  The default is the mode of each parameter's 1-D marginal posterior (the paper's tissue
evaluation reports the MAP of the sO2 marginal; marginal modes are also far less noisy than a
joint mode in many dimensions).  It is the global maximum of a Gaussian kernel density estimate
(KDE), computed on a grid of GRID_SIZE points: the sorted samples are thinned to at most
KDE_POINTS evenly spaced order statistics (which keep the empirical distribution of all n samples),
binned on the grid and convolved with the kernel by FFT; the grid maximum is refined by a parabola
through its neighbours.  The bandwidth is Silverman's scale with the exponent of mode estimation,
h = 0.9 min(std, IQR/1.349) n^(-1/7) (Silverman's n^(-1/5) is tuned to the density, not its maximum,
and gives a noisier mode; the MAP's error on Gaussian and skewed marginals is measured in
tests/core/test_summaries.py).
The grid covers the samples but at most one 1-99 % inter-quantile span beyond the 1 % and 99 %
quantiles, so that a few far outliers cannot coarsen it.
`map_estimate(samples, joint=True)` gives the joint mode instead: mean shift on a dx-dimensional
Gaussian KDE of at most JOINT_POINTS samples (per-parameter bandwidths std (4 / ((dx + 2) m))^(1/(dx + 4))),
started from the vector of marginal modes and JOINT_STARTS - 1 samples; the end point of highest
density wins.  In many dimensions the joint KDE mode is noisy, much more so than the marginal modes.
The time of `summarize` is part of the scan times measured by benchmarks/throughput.py (README.md,
"Large scans, GPUs and clusters").

Multi-modality.  A marginal is flagged when its KDE (above) can be split at some point g into two
parts that each hold at least MIN_MODE_MASS of the probability, and the density at g is at most
DIP_RATIO times the lower of the two highest peaks on either side.
`modes` lists the modes themselves: the KDE is split at the deepest such point (lowest density
relative to the lower peak), and each part again by the same rule, until no part can be split; each
final part is one mode, at its density maximum (refined as the MAP), with its probability as weight.
A marginal has two or more modes exactly when it is flagged multimodal; the heaviest mode need not
be the MAP (the highest peak).

The KDE columns (MAP, multimodal, n_modes, modes) cost most of `summarize` at a few hundred samples: 512
grid points per marginal whatever the number of samples. `summarize(..., kde=names)` computes them for those
parameters only; the others' are empty (NaN, and None in the multimodal flag), e.g. for every pixel of an
image but the few a report details (apps/tissue/analysis.py).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp

KDE_POINTS = 1024  # samples per observation used by the kernel density estimates
GRID_SIZE = 512  # grid points of the 1-D marginal KDE
MIN_MODE_MASS = 0.10  # probability a secondary mode must hold to count
DIP_RATIO = 0.7  # density between two modes must be at most this fraction of the lower peak
JOINT_POINTS = 512  # samples per observation in the joint KDE
JOINT_STARTS = 16  # mean-shift starting points of the joint MAP: the marginal modes and strided samples
JOINT_ITERATIONS = 20  # mean-shift iterations of the joint MAP


def _as_batch(samples: np.ndarray) -> tuple[np.ndarray, bool]:
    """Samples as float64 (B, n, dx), and whether a single (n, dx) observation was given."""
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim not in (2, 3):
        raise ValueError(f"samples must have shape (B, n, dx) or (n, dx), got {s.shape}")
    if s.shape[-2] < 2:
        raise ValueError("at least two samples per observation are needed")
    return (s[None], True) if s.ndim == 2 else (s, False)


def _unbatch(a: np.ndarray, single: bool) -> np.ndarray:
    return a[0] if single else a


def _sorted_marginals(s: np.ndarray) -> np.ndarray:
    """The 1-D marginals of (B, n, dx) samples as sorted rows, shape (B * dx, n)."""
    rows = np.ascontiguousarray(s.transpose(0, 2, 1)).reshape(-1, s.shape[1])
    rows.sort(axis=1)
    return rows


def _sorted_quantile(rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles q (k,) of rows sorted along the last axis (numpy's linear interpolation), shape (..., k)."""
    n = rows.shape[-1]
    pos = np.asarray(q, dtype=np.float64) * (n - 1)
    i = np.floor(pos).astype(np.int64)
    j = np.minimum(i + 1, n - 1)
    return rows[..., i] + (pos - i) * (rows[..., j] - rows[..., i])


def _mode_bandwidth(rows: np.ndarray, n: int) -> np.ndarray:
    """Kernel width 0.9 min(std, IQR/1.349) n^(-1/7) for sorted rows (M, m) standing for n samples, above zero."""
    std = rows.std(axis=1, ddof=1)
    q25, q75 = _sorted_quantile(rows, np.array([0.25, 0.75])).T
    iqr_scale = (q75 - q25) / 1.349
    scale = np.where(iqr_scale > 0, np.minimum(std, iqr_scale), std)
    floor = 1e-9 * np.maximum(1.0, np.abs(rows[:, rows.shape[1] // 2]))
    return np.maximum(0.9 * scale * n ** (-1 / 7), floor)


def _marginal_kde(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian KDE of sorted rows (M, n) on a grid: density (M, GRID_SIZE), first grid point (M,), step (M,)."""
    m, n = rows.shape
    stride = math.ceil(n / KDE_POINTS)
    kept = rows[:, stride // 2 :: stride]  # evenly spaced order statistics: the empirical CDF of all n
    h = _mode_bandwidth(kept, n)
    q01, q99 = _sorted_quantile(rows, np.array([0.01, 0.99])).T
    lo = np.maximum(rows[:, 0], 2 * q01 - q99) - 3 * h
    hi = np.minimum(rows[:, -1], 2 * q99 - q01) + 3 * h
    step = (hi - lo) / (GRID_SIZE - 1)
    index = np.rint((kept - lo[:, None]) / step[:, None])
    inside = (index >= 0) & (index < GRID_SIZE)
    flat = np.where(inside, index + GRID_SIZE * np.arange(m)[:, None], m * GRID_SIZE).astype(np.int64)
    counts = np.bincount(flat.ravel(), minlength=m * GRID_SIZE + 1)[:-1].reshape(m, GRID_SIZE)
    kernel = np.exp(-2.0 * (np.pi * np.fft.rfftfreq(GRID_SIZE) * (h / step)[:, None]) ** 2)
    # the 3 h margins make wrap-around negligible
    smooth = np.fft.irfft(np.fft.rfft(counts, axis=1) * kernel, n=GRID_SIZE, axis=1)
    density = np.maximum(smooth, 0.0) / (kept.shape[1] * step[:, None])
    return density, lo, step


def _grid_mode(density: np.ndarray, lo: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Location of each row's density maximum, refined by a parabola through the neighbouring grid points."""
    j = np.argmax(density, axis=1)
    jc = np.clip(j, 1, density.shape[1] - 2)
    r = np.arange(density.shape[0])
    before, at, after = density[r, jc - 1], density[r, jc], density[r, jc + 1]
    curvature = before - 2.0 * at + after
    safe = np.where(curvature < 0, curvature, -1.0)
    delta = np.where((j == jc) & (curvature < 0), np.clip(0.5 * (before - after) / safe, -0.5, 0.5), 0.0)
    return lo + (j + delta) * step


def _significant_modes(density: np.ndarray) -> np.ndarray:
    """Whether each row's density splits into two parts of mass >= MIN_MODE_MASS at a dip <= DIP_RATIO x lower peak."""
    cdf = np.cumsum(density, axis=1)
    cdf /= cdf[:, -1:]
    left_peak = np.maximum.accumulate(density, axis=1)
    right_peak = np.maximum.accumulate(density[:, ::-1], axis=1)[:, ::-1]
    dip = density <= DIP_RATIO * np.minimum(left_peak, right_peak)
    balanced = (cdf >= MIN_MODE_MASS) & (cdf <= 1.0 - MIN_MODE_MASS)
    return np.any(dip & balanced, axis=1)


def _kernel_log_weights(p: np.ndarray, u: np.ndarray, u_norm: np.ndarray) -> np.ndarray:
    """Gaussian kernel log-weights -|p - u_i|^2 / 2 of points p (C, k, d) against samples u (C, m, d): (C, k, m)."""
    return np.minimum(p @ u.transpose(0, 2, 1) - 0.5 * (p**2).sum(-1)[..., None] - 0.5 * u_norm, 0.0)


def _joint_mode(s: np.ndarray, marginal_modes: np.ndarray, chunk: int = 16) -> np.ndarray:
    """Joint MAP of (B, n, dx) samples, (B, dx): mean shift on a Gaussian KDE of at most JOINT_POINTS samples."""
    x = s[:, :: math.ceil(s.shape[1] / JOINT_POINTS)]
    m, dx = x.shape[1:]
    center = x.mean(axis=1, keepdims=True)
    scale = np.maximum(x.std(axis=1, ddof=1, keepdims=True), 1e-12) * (4.0 / ((dx + 2) * m)) ** (1.0 / (dx + 4))
    u = (x - center) / scale  # in bandwidth units: the kernel is exp(-|u - u_i|^2 / 2)
    strided = u[:, :: math.ceil(m / (JOINT_STARTS - 1))]
    starts = np.concatenate([(marginal_modes[:, None] - center) / scale, strided], axis=1)
    modes = []
    for uc, p in zip(np.split(u, range(chunk, len(u), chunk)), np.split(starts, range(chunk, len(u), chunk))):
        u_norm = (uc**2).sum(-1)[:, None]
        for _ in range(JOINT_ITERATIONS):
            log_w = _kernel_log_weights(p, uc, u_norm)
            w = np.exp(log_w - log_w.max(axis=2, keepdims=True))
            p = (w @ uc) / w.sum(axis=2, keepdims=True)
        best = logsumexp(_kernel_log_weights(p, uc, u_norm), axis=2).argmax(axis=1)
        modes.append(p[np.arange(len(p)), best])
    return np.concatenate(modes) * scale[:, 0] + center[:, 0]


def _marginal_kdes(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid KDEs of the dx marginals of (B, n, dx) samples, rows ordered (observation, parameter)."""
    return _marginal_kde(_sorted_marginals(s))


def map_estimate(samples: np.ndarray, joint: bool = False) -> np.ndarray:
    """MAP per observation, (B, dx): modes of the 1-D marginals, or with joint=True the joint mode."""
    s, single = _as_batch(samples)
    modes = _grid_mode(*_marginal_kdes(s)).reshape(s.shape[0], s.shape[2])
    return _unbatch(_joint_mode(s, modes) if joint else modes, single)


def multimodal(samples: np.ndarray) -> np.ndarray:
    """Per-parameter flag, (B, dx) bool: the 1-D marginal has two or more significant modes."""
    s, single = _as_batch(samples)
    density, _, _ = _marginal_kdes(s)
    return _unbatch(_significant_modes(density).reshape(s.shape[0], s.shape[2]), single)


def _split_modes(density: np.ndarray, lo: float, step: float) -> list[tuple[float, float]]:
    """Modes (position, weight) of one grid density by recursive splitting at its deepest significant dip."""
    total = density.sum()
    parts, done = [(0, density.size)], []
    while parts:
        a, b = parts.pop()
        d = density[a:b]
        left = np.maximum.accumulate(d)
        right = np.maximum.accumulate(d[::-1])[::-1]
        mass = np.cumsum(d) / total
        lower_peak = np.minimum(left, right)
        ok = (d <= DIP_RATIO * lower_peak) & (mass >= MIN_MODE_MASS) & (mass[-1] - mass >= MIN_MODE_MASS)
        if ok.any():
            g = a + int(np.argmin(np.where(ok, d / np.maximum(lower_peak, 1e-300), np.inf)))
            parts += [(a, g + 1), (g + 1, b)]
        else:
            inside = np.zeros_like(density)
            inside[a:b] = d
            position = float(_grid_mode(inside[None], np.array([lo]), np.array([step]))[0])
            done.append((position, float(d.sum() / total)))
    return sorted(done, key=lambda m: -m[1])


def modes(samples: np.ndarray) -> list:
    """Significant modes of each parameter's 1-D marginal as (position, weight) pairs, heaviest first.

    A list over parameters for (n, dx) samples, a list of such lists for (B, n, dx)."""
    s, single = _as_batch(samples)
    b, _, dx = s.shape
    density, lo, step = _marginal_kdes(s)
    return _unbatch(_modes_of(density, lo, step, b, dx), single)


def _modes_of(density: np.ndarray, lo: np.ndarray, step: np.ndarray, b: int, dx: int) -> list:
    """Modes of each KDE row, as a [B][dx] list; rows without a significant dip are their MAP with weight 1."""
    flagged = _significant_modes(density)
    single = _grid_mode(density, lo, step)
    rows = [
        _split_modes(density[r], lo[r], step[r]) if flagged[r] else [(float(single[r]), 1.0)] for r in range(b * dx)
    ]
    return [rows[i * dx : (i + 1) * dx] for i in range(b)]


def central_interval(samples: np.ndarray, level: float | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Central credible interval [q((1-level)/2), q((1+level)/2)] per parameter as lo, hi.

    Each of shape (B, dx), or (L, B, dx) for L levels; the batch axis is dropped for (n, dx) samples."""
    s, single = _as_batch(samples)
    level = np.asarray(level, dtype=np.float64)
    if np.any((level < 0) | (level > 1)):
        raise ValueError("levels must lie in [0, 1]")
    probabilities = np.concatenate([(1 - level.ravel()) / 2, (1 + level.ravel()) / 2])
    q = _sorted_quantile(np.sort(s, axis=1).transpose(0, 2, 1), probabilities)
    lo, hi = np.split(np.moveaxis(q, -1, 0), 2)
    shape = level.shape + ((s.shape[2],) if single else (s.shape[0], s.shape[2]))
    return lo.reshape(shape), hi.reshape(shape)


def correlation(samples: np.ndarray) -> np.ndarray:
    """Posterior correlation matrices, (B, dx, dx); a parameter with zero spread gets correlation 0 with the others."""
    s, single = _as_batch(samples)
    centered = s - s.mean(axis=1, keepdims=True)
    cov = np.einsum("bni,bnj->bij", centered, centered)
    std = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.nan_to_num(cov / (std[:, :, None] * std[:, None, :]))
    corr[:, np.arange(s.shape[2]), np.arange(s.shape[2])] = 1.0
    return _unbatch(np.clip(corr, -1.0, 1.0), single)


def _percent_label(q: float) -> str:
    return f"{100 * q:.10g}"


def summarize(
    samples: np.ndarray,
    names: Sequence[str] | None = None,
    quantiles: Sequence[float] = (0.025, 0.16, 0.84, 0.975),
    n_modes: int = 0,
    kde: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per observation with mean, median, MAP, std, quantiles and multi-modality flag per parameter.

    With n_modes > 0 also the number of modes and the positions and weights of the n_modes heaviest; the columns
    are listed in the module docstring. kde: the parameters whose KDE columns (MAP, multimodal, modes) are
    computed (default all); the others' are empty: NaN, None in the multimodal flag."""
    s, _ = _as_batch(samples)
    b, n, dx = s.shape
    names = [f"x{j}" for j in range(dx)] if names is None else list(names)
    if len(names) != dx:
        raise ValueError(f"{len(names)} names for {dx} parameters")
    if kde is not None and not set(kde) <= set(names):
        raise ValueError(f"kde names {sorted(set(kde) - set(names))} are not among the parameters")
    if b == 0:
        keys = ["mean", "median", "map", "std", *(f"q{_percent_label(q)}" for q in quantiles), "multimodal"]
        keys += ["n_modes"] if n_modes else []
        keys += [f"{k}{i}" for i in range(1, n_modes + 1) for k in ("mode", "weight")]
        return pd.DataFrame(columns=[f"{name}_{key}" for name in names for key in keys], dtype=float)
    rows = _sorted_marginals(s)
    qs = _sorted_quantile(rows, np.array([0.5, *quantiles])).reshape(b, dx, -1)
    stats = {
        "mean": s.mean(axis=1),
        "median": qs[..., 0],
        "map": None,
        "std": s.std(axis=1, ddof=1),
        **{f"q{_percent_label(q)}": qs[..., k + 1] for k, q in enumerate(quantiles)},
    }
    picked = list(range(dx)) if kde is None else [j for j, name in enumerate(names) if name in kde]
    stats |= _kde_columns(rows.reshape(b, dx, n)[:, picked].reshape(-1, n), b, picked, dx, n_modes)
    return pd.DataFrame({f"{name}_{key}": value[:, j] for j, name in enumerate(names) for key, value in stats.items()})


def _kde_columns(rows: np.ndarray, b: int, picked: list[int], dx: int, n_modes: int) -> dict[str, np.ndarray]:
    """The KDE columns of `summarize` (map, multimodal, modes), (b, dx) each, from the sorted marginals (b * k, n) of
    the parameters picked (k of dx); the others' cells NaN (None in the multimodal flag)."""
    k = len(picked)
    density, lo, step = _marginal_kde(rows) if k else (np.empty((0, GRID_SIZE)), np.empty(0), np.empty(0))

    def spread(values: np.ndarray, empty: object) -> np.ndarray:
        """(b, k) values as (b, dx) columns, `empty` in the columns not picked."""
        if k == dx:
            return values.reshape(b, dx)
        out = np.full((b, dx), empty, dtype=float if empty is np.nan else object)
        out[:, picked] = values.reshape(b, k)
        return out

    stats = {
        "map": spread(_grid_mode(density, lo, step), np.nan),
        "multimodal": spread(_significant_modes(density), None),
    }
    if n_modes:
        found = _modes_of(density, lo, step, b, k)
        stats["n_modes"] = spread(np.array([[len(m) for m in row] for row in found]), np.nan)
        table = np.full((b, k, n_modes, 2), np.nan)
        for i, row in enumerate(found):
            for j, m in enumerate(row):
                table[i, j, : min(len(m), n_modes)] = m[:n_modes]
        for m in range(n_modes):
            stats[f"mode{m + 1}"] = spread(table[:, :, m, 0], np.nan)
            stats[f"weight{m + 1}"] = spread(table[:, :, m, 1], np.nan)
    return stats
