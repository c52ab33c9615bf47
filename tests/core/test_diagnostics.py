"""Statistical checks of invert.core.diagnostics on problems with exact posteriors; tolerances from spreads
measured over seeds."""

import json

import numpy as np
import pytest
import torch

from invert.core.diagnostics import (
    PAPER_LEVELS,
    OODScorer,
    calibration_curve,
    calibration_error,
    calibration_error_at,
    coverage,
    resimulation_error,
    sbc_ranks,
    sbc_uniformity_pvalue,
)

B, N = 1000, 1024  # observations, posterior samples per observation


def gaussian_linear(seed, spread=1.0, dx=3, dy=4, sigma=0.5):
    """Exact posterior samples (std scaled by `spread`) of x ~ N(0, I), y = A x + N(0, sigma^2), with the true x."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((dy, dx))
    x = rng.standard_normal((B, dx))
    y = x @ a.T + sigma * rng.standard_normal((B, dy))
    cov = np.linalg.inv(np.eye(dx) + a.T @ a / sigma**2)
    mean = y @ a @ cov / sigma**2
    samples = mean[:, None] + spread * rng.standard_normal((B, N, dx)) @ np.linalg.cholesky(cov).T
    return samples, x


def test_paper_levels():
    assert len(PAPER_LEVELS) == 100
    np.testing.assert_allclose(PAPER_LEVELS[[0, 67, 68, 99]], [1 / 101, 68 / 101, 69 / 101, 100 / 101])


def test_calibration_curve_matches_paper_loop():
    samples, x = gaussian_linear(0)
    samples, x = samples[:50], x[:50]
    q, err = calibration_curve(samples, x)
    for j in range(x.shape[1]):  # the paper's evaluation loop, one observation at a time
        inliers = np.zeros(len(q))
        for s, xt in zip(samples[:, :, j], x[:, j]):
            bounds = np.quantile(s, np.stack([0.5 * (1 - q), 0.5 * (1 + q)], axis=1).ravel()).reshape(-1, 2)
            inliers += (xt > bounds[:, 0]) & (xt < bounds[:, 1])
        np.testing.assert_allclose(err[:, j], inliers / len(x) - q, atol=1e-12)


def test_calibrated_posterior():
    # exact posterior samples, measured over 30 seeds x 3 parameters (B = 1000): calibration error mean 0.009,
    # max 0.027; signed error at 68 %: std 0.015, extremes -0.042 / +0.032; SBC chi-square p-values all > 0.03
    samples, x = gaussian_linear(1)
    assert np.all(calibration_error(samples, x) < 0.035)
    assert np.all(np.abs(calibration_error_at(samples, x, 0.68)) < 0.05)
    assert np.all(sbc_uniformity_pvalue(sbc_ranks(samples, x), N) > 1e-3)
    np.testing.assert_allclose(coverage(samples, x, [0.5, 0.9]), [[0.5] * 3, [0.9] * 3], atol=0.05)


@pytest.mark.parametrize("spread, sign", [(0.5, -1), (2.0, +1)])
def test_miscalibrated_posterior(spread, sign):
    # std halved: expected error at 68 % is P(|Z| < 0.497) - 0.68 = -0.30; doubled: P(|Z| < 1.99) - 0.68 = +0.27
    samples, x = gaussian_linear(2, spread=spread)
    e68 = calibration_error_at(samples, x, 0.68)
    assert np.all(sign * e68 > 0.2)
    assert np.all(calibration_error(samples, x) > 0.15)
    assert np.all(sbc_uniformity_pvalue(sbc_ranks(samples, x), N) < 1e-10)


def test_sbc_ranks():
    samples = np.arange(10.0).reshape(1, 10, 1).repeat(2, axis=0)
    np.testing.assert_array_equal(sbc_ranks(samples, [[-1.0], [4.5]]), [[0], [5]])


def noise_free_problem(seed, b=20, n=500):
    """y = A x with dy < dx: exact posterior samples lie on the affine space A x = y."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2, 4))
    x = rng.standard_normal((b, 4))
    y = x @ a.T
    pinv = np.linalg.pinv(a)
    null = np.eye(4) - pinv @ a
    samples = (y @ pinv.T)[:, None] + rng.standard_normal((b, n, 4)) @ null.T
    a32 = torch.tensor(a, dtype=torch.float32)
    return samples, y, lambda t: t @ a32.T


def test_resimulation_error_of_exact_samples_is_zero():
    samples, y, forward = noise_free_problem(0)
    err = resimulation_error(samples, y, forward, chunk_size=777)
    assert err.shape == (20,)
    assert np.all(err < 1e-5 * np.linalg.norm(y, axis=1).mean())  # float32 round-off only


def test_resimulation_error_statistics():
    samples, y, forward = noise_free_problem(1)
    rng = np.random.default_rng(2)
    perturbed = samples + 0.1 * rng.standard_normal(samples.shape)
    a = forward(torch.eye(4)).numpy().T
    distances = np.linalg.norm(perturbed @ a.T - y[:, None], axis=2)
    np.testing.assert_allclose(
        resimulation_error(perturbed, y, forward, chunk_size=999), distances.mean(axis=1), rtol=1e-4
    )
    np.testing.assert_allclose(
        resimulation_error(perturbed, y, forward, "median"), np.median(distances, axis=1), rtol=1e-4
    )
    single = resimulation_error(perturbed[3], y[3], forward)
    assert isinstance(single, float) and single == pytest.approx(distances[3].mean(), rel=1e-4)


def correlated_observations(rng, n, dy=6):
    mixing = np.random.default_rng(100).standard_normal((dy, dy))
    return rng.standard_normal((n, dy)) @ mixing.T + 5.0, mixing


@pytest.mark.parametrize("method", ["mahalanobis", "knn"])
def test_ood_rate_and_shift(method):
    # measured over 10 training sets (20 000 each): in-distribution flag rate at quantile 0.99 is 0.0100 +- 0.001
    rng = np.random.default_rng(3)
    y_train, mixing = correlated_observations(rng, 20_000)
    y_test, _ = correlated_observations(rng, 20_000)
    scorer = OODScorer.fit(y_train, quantile=0.99, method=method)
    assert 0.006 < scorer.is_ood(y_test).mean() < 0.015
    shifted = y_test[:100] + 10.0 * mixing[:, 0]  # 10 sigma along one latent direction
    assert scorer.is_ood(shifted).all()
    assert scorer.is_ood(np.full((1, 6), np.nan)).all()


def test_knn_flags_off_manifold_observation_that_mahalanobis_misses():
    rng = np.random.default_rng(4)
    t = rng.standard_normal(20_000)
    y = np.stack([t, t**2], axis=1) + 0.05 * rng.standard_normal((20_000, 2))  # a parabola
    off, on = np.array([[0.0, 2.0]]), np.array([[1.0, 1.0]])
    mahalanobis = OODScorer.fit(y, quantile=0.99)
    knn = OODScorer.fit(y, quantile=0.99, method="knn")
    assert not mahalanobis.is_ood(off)[0]  # inside the training ellipsoid
    assert knn.is_ood(off)[0] and not knn.is_ood(on)[0]


@pytest.mark.parametrize("method", ["mahalanobis", "knn"])
def test_ood_state_round_trip_through_json(method):
    rng = np.random.default_rng(5)
    y, _ = correlated_observations(rng, 5000)
    scorer = OODScorer.fit(y, method=method, n_reference=500)
    state = scorer.state_dict()
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in state.values())
    restored = OODScorer.from_state(json.loads(json.dumps({k: v.tolist() for k, v in state.items()})))
    probe, _ = correlated_observations(rng, 50)
    np.testing.assert_array_equal(restored.score(probe), scorer.score(probe))
    assert restored.threshold == scorer.threshold
