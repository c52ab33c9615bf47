"""Coverage and calibration error on hand-made posteriors whose numbers follow from counting: every observation
has the posterior samples 0, 1, 2, 3, 4, so with numpy's linear quantiles the central q-interval is
(2 - 2q, 2 + 2q) and a true value at distance r from 2 lies strictly inside it when r < 2q."""

import numpy as np
import pytest

from invert.core.diagnostics import calibration_curve, calibration_error, coverage

LEVELS = np.array([0.1, 0.3, 0.5, 0.7, 0.9])  # interval half-widths 2q = 0.2, 0.6, 1.0, 1.4, 1.8
# Parameter 0: six truths at r = 0.1, one at 1.2, three at 1.6 -> coverage 0.6, 0.6, 0.6, 0.7, 1.0,
# |coverage - q| = 0.5, 0.3, 0.1, 0, 0.1: median 0.1, mean 0.2 (miscalibrated at the low levels only).
# Parameter 1: r = 0.1, 0.4, 0.4, 0.8, 0.8, 1.2, 1.2, 1.6, 1.6, 3 -> coverage = q at every level, error 0.
R = np.array([[0.1] * 6 + [1.2] + [1.6] * 3, [0.1, 0.4, 0.4, 0.8, 0.8, 1.2, 1.2, 1.6, 1.6, 3.0]]).T
SIGNS = np.where(np.arange(len(R)) % 2, -1.0, 1.0)[:, None]  # truths on both sides of the median 2


def posterior(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples (B, 5, dx), all 0..4, and true values 2 +- r (B, dx)."""
    samples = np.broadcast_to(np.arange(5.0)[None, :, None], (len(r), 5, r.shape[1])).copy()
    return samples, 2.0 + SIGNS * r


def test_coverage_by_counting():
    samples, x = posterior(R)
    expected = np.array([[(R[:, j] < 2 * q).mean() for j in range(R.shape[1])] for q in LEVELS])
    np.testing.assert_allclose(coverage(samples, x, LEVELS), expected, atol=1e-12)
    np.testing.assert_allclose(expected[:, 0], [0.6, 0.6, 0.6, 0.7, 1.0])
    np.testing.assert_allclose(expected[:, 1], LEVELS)


def test_coverage_is_strict_and_linearly_interpolated():
    """Level 0.6: quantiles 0.2 and 0.8 of 0..4 at positions 0.8 and 3.2, so the interval is (0.8, 3.2).
    0.9 and 3.1 lie inside (not with 'nearest' quantiles, 1 and 3), 0.7 outside (not with 'lower', 0),
    0.8 on the edge is outside."""
    truths = np.array([0.9, 3.1, 0.7, 0.8])
    samples = np.broadcast_to(np.arange(5.0)[None, :, None], (len(truths), 5, 1))
    assert coverage(samples, truths[:, None], [0.6]).item() == pytest.approx(0.5)
    assert coverage(samples[:1], truths[:1, None], [0.6]).item() == 1.0
    assert coverage(samples[2:3], truths[2:3, None], [0.6]).item() == 0.0


def test_calibration_curve_is_signed():
    samples, x = posterior(R)
    q, err = calibration_curve(samples, x, LEVELS)
    np.testing.assert_array_equal(q, LEVELS)
    np.testing.assert_allclose(err[:, 0], [0.5, 0.3, 0.1, 0.0, 0.1], atol=1e-12)
    np.testing.assert_allclose(err[:, 1], 0.0, atol=1e-12)
    _, narrow = calibration_curve(samples, 2.0 + SIGNS * (R + 2.0), LEVELS)  # every truth outside: over-confident
    np.testing.assert_allclose(narrow[:, 0], -LEVELS, atol=1e-12)


def test_calibration_error_is_the_median_over_levels():
    """0.1 (the median of 0, 0.1, 0.1, 0.3, 0.5); the mean over the levels would be 0.2."""
    samples, x = posterior(R)
    result = calibration_error(samples, x, LEVELS)
    np.testing.assert_allclose(result, [0.1, 0.0], atol=1e-12)
    mean_over_levels = np.abs(calibration_curve(samples, x, LEVELS)[1]).mean(axis=0)
    np.testing.assert_allclose(mean_over_levels, [0.2, 0.0], atol=1e-12)
    assert abs(result[0] - mean_over_levels[0]) > 0.05


def test_calibration_error_at_paper_levels():
    """Default levels k/101: the median of 100 values |coverage - q|, the mean of the two middle ones
    (parameter 0: 0.127, where the mean over the levels is 0.182)."""
    samples, x = posterior(R)
    levels = [k / 101 for k in range(1, 101)]
    errors = [sorted(abs((R[:, j] < 2 * q).mean() - q) for q in levels) for j in range(R.shape[1])]
    medians = [(e[49] + e[50]) / 2 for e in errors]
    np.testing.assert_allclose(calibration_error(samples, x), medians, atol=1e-12)
    assert medians[0] - sum(errors[0]) / len(errors[0]) < -0.05
