"""Statistical checks of invert.core.summaries; tolerances come from spreads measured over seeds (see comments)."""

import numpy as np
import pytest
from scipy import stats

from invert.core.summaries import central_interval, correlation, map_estimate, modes, multimodal, summarize

N = 4096  # posterior samples per observation, as the apps use
DRAWS = 200  # independent sample sets per distribution for rates and errors


def mixture(rng, weight, separation, size=(DRAWS, N, 1)):
    """N(0, 1) with probability 1 - weight, N(separation, 1) with probability weight."""
    return rng.standard_normal(size) + separation * (rng.random(size) < weight)


def test_summarize_columns_and_values():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((5, 1000, 2)) * [1.0, 3.0] + [0.0, 10.0]
    df = summarize(s, names=["sO2", "vhb"])
    suffixes = ["mean", "median", "map", "std", "q2.5", "q16", "q84", "q97.5", "multimodal"]
    assert list(df.columns) == [f"{p}_{k}" for p in ["sO2", "vhb"] for k in suffixes]
    assert len(df) == 5
    np.testing.assert_allclose(df["vhb_mean"], s[..., 1].mean(axis=1))
    np.testing.assert_allclose(df["vhb_median"], np.median(s[..., 1], axis=1))
    np.testing.assert_allclose(df["sO2_std"], s[..., 0].std(axis=1, ddof=1))
    np.testing.assert_allclose(df["vhb_q16"], np.quantile(s[..., 1], 0.16, axis=1))
    np.testing.assert_allclose(df["sO2_q97.5"], np.quantile(s[..., 0], 0.975, axis=1))
    np.testing.assert_allclose(df["vhb_map"], map_estimate(s)[:, 1])
    assert df["sO2_multimodal"].dtype == bool and not df["sO2_multimodal"].any()
    empty = summarize(np.empty((0, 10, 2)), names=["sO2", "vhb"])
    assert list(empty.columns) == list(df.columns) and len(empty) == 0


def test_summarize_single_observation_and_default_names():
    s = np.random.default_rng(1).standard_normal((500, 3))
    df = summarize(s, quantiles=(0.05, 0.95))
    assert len(df) == 1
    assert list(df.columns[:7]) == ["x0_mean", "x0_median", "x0_map", "x0_std", "x0_q5", "x0_q95", "x0_multimodal"]
    with pytest.raises(ValueError):
        summarize(s, names=["a", "b"])


def test_map_of_gaussian():
    # measured over 2000 draws at n = 4096: bias 0.000 sigma, rms error 0.070 sigma
    rng = np.random.default_rng(2)
    mu, sigma = 3.0, 2.0
    maps = map_estimate(mu + sigma * rng.standard_normal((DRAWS, N, 1)))[:, 0]
    assert abs(maps.mean() - mu) < 0.03 * sigma  # 6 standard errors of the mean of 200
    assert np.sqrt(np.mean((maps - mu) ** 2)) < 0.09 * sigma


@pytest.mark.parametrize(
    "name, draw, mode",
    [
        ("gamma(3)", lambda rng, size: rng.gamma(3.0, 1.0, size), 2.0),
        ("lognormal(0, 0.5)", lambda rng, size: rng.lognormal(0.0, 0.5, size), np.exp(-0.25)),
        ("beta(2, 5)", lambda rng, size: rng.beta(2.0, 5.0, size), 0.2),
    ],
)
def test_map_of_skewed_distribution_near_analytic_mode(name, draw, mode):
    # measured (2000 draws, n = 4096), in units of the distribution's std:
    # bias +0.057 / +0.058 / +0.047 (the kernel smooths towards the long tail), rms 0.074 / 0.067 / 0.095
    rng = np.random.default_rng(3)
    x = draw(rng, (DRAWS, N, 1))
    sigma = x.std()
    maps = map_estimate(x)[:, 0]
    assert abs(maps.mean() - mode) < 0.09 * sigma, name
    assert np.sqrt(np.mean((maps - mode) ** 2)) < 0.13 * sigma, name


def test_map_picks_heavier_mode_and_ignores_outliers():
    rng = np.random.default_rng(4)
    maps = map_estimate(mixture(rng, 0.7, 6.0, (50, N, 1)))[:, 0]
    assert np.all(np.abs(maps - 6.0) < 0.4)
    s = rng.standard_normal((20, N, 1))
    s[:, :3] = 1e6  # a few wild samples must not coarsen the KDE grid
    assert np.all(np.abs(map_estimate(s)) < 0.4)


def test_map_shapes_and_constant_samples():
    rng = np.random.default_rng(5)
    assert map_estimate(rng.standard_normal((300, 4))).shape == (4,)
    assert map_estimate(rng.standard_normal((2, 300, 4)), joint=True).shape == (2, 4)
    const = np.full((2, 100, 2), 0.25)
    np.testing.assert_allclose(map_estimate(const), 0.25, atol=1e-8)
    assert not multimodal(const).any()


def test_joint_map():
    # 2-D Gaussian, measured rms error 0.19 sigma per coordinate at n = 4096
    rng = np.random.default_rng(6)
    s = rng.standard_normal((DRAWS, N, 2)) * [1.0, 3.0] + [0.0, 5.0]
    maps = map_estimate(s, joint=True)
    rms = np.sqrt(np.mean((maps - [0.0, 5.0]) ** 2, axis=0)) / [1.0, 3.0]
    assert np.all(rms < 0.3)
    # two blobs with weights 0.3 / 0.7: the joint mode is in the heavier one
    heavy = rng.random((50, N, 1)) < 0.7
    maps = map_estimate(rng.standard_normal((50, N, 2)) + 6.0 * heavy, joint=True)
    assert np.all(np.abs(maps - 6.0) < 0.5)


def test_multimodal_false_positive_rate_below_one_percent():
    # measured: 0 of 200 for each below (also 0 for Cauchy, t3, exponential; about 2 % for lognormal(0, 1) at n = 128)
    rng = np.random.default_rng(7)
    size = (DRAWS, N)
    unimodal = np.stack(
        [
            rng.standard_normal(size),
            rng.random(size),
            rng.lognormal(0.0, 1.0, size),
            rng.beta(2.0, 5.0, size),
            rng.gamma(2.0, 1.0, size),
            stats.truncnorm.rvs(-0.5, 2.0, size=size, random_state=8),
            np.abs(rng.standard_normal(size)),
        ],
        axis=-1,
    )
    assert multimodal(unimodal).mean(axis=0).max() < 0.01


@pytest.mark.parametrize("weight", [0.5, 0.2])
def test_multimodal_detects_separated_mixture(weight):
    # measured detection at separation 5 sigma: 100 % for 0.5/0.5 and 0.8/0.2 (at 4 sigma: 100 % and 86 %)
    rng = np.random.default_rng(9)
    assert multimodal(mixture(rng, weight, 5.0)).mean() >= 0.99


def test_central_interval_matches_numpy_quantiles():
    rng = np.random.default_rng(10)
    s = rng.standard_normal((4, 777, 3))
    lo, hi = central_interval(s, 0.68)
    assert lo.shape == (4, 3)
    np.testing.assert_allclose(lo, np.quantile(s, 0.16, axis=1))
    np.testing.assert_allclose(hi, np.quantile(s, 0.84, axis=1))
    lo, hi = central_interval(s, [0.5, 0.95])
    assert lo.shape == (2, 4, 3)
    np.testing.assert_allclose(hi[1], np.quantile(s, 0.975, axis=1))
    lo1, hi1 = central_interval(s[0], 0.9)
    assert lo1.shape == (3,)
    np.testing.assert_allclose(hi1, np.quantile(s[0], 0.95, axis=0))


def test_correlation():
    rng = np.random.default_rng(11)
    rho = 0.6
    cov = np.array([[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 1.0]])
    s = rng.multivariate_normal(np.zeros(3), cov, size=(8, N))
    c = correlation(s)
    assert c.shape == (8, 3, 3)
    np.testing.assert_allclose(c[3], np.corrcoef(s[3], rowvar=False), atol=1e-12)
    # standard error of a sample correlation: (1 - rho^2) / sqrt(n) = 0.01
    assert np.all(np.abs(c[:, 0, 1] - rho) < 0.04)
    s[:, :, 2] = 1.0  # a parameter without spread
    c = correlation(s[0])
    assert c[2, 2] == 1.0 and c[0, 2] == 0.0


def test_modes_positions_and_weights_of_a_mixture():
    rng = np.random.default_rng(11)
    s = mixture(rng, 0.3, 6.0, (50, N, 1))
    found = modes(s)
    assert len(found) == 50 and all(len(m[0]) == 2 for m in found)
    (p1, w1), (p2, w2) = np.array([m[0] for m in found]).transpose(1, 2, 0)  # (mode, position/weight, draw)
    # heaviest first; weights are the masses on either side of the dip (binomial spread ~0.007 at n = 4096)
    assert np.all(np.abs(p1) < 0.4) and np.all(np.abs(p2 - 6.0) < 0.4)
    assert np.all(np.abs(w1 - 0.7) < 0.03) and np.all(np.abs(w1 + w2 - 1.0) < 1e-9)
    np.testing.assert_allclose(p1, map_estimate(s)[:, 0])  # the heavier peak is also the highest here


def test_modes_of_three_components_and_of_unimodal_samples():
    rng = np.random.default_rng(12)
    three = np.concatenate([rng.normal(0, 1, 2000), rng.normal(6, 1, 1000), rng.normal(12, 0.5, 1096)])[:, None]
    (found,) = modes(three)
    assert [round(p) for p, _ in found] == [0, 12, 6]
    np.testing.assert_allclose([w for _, w in found], [2000 / 4096, 1096 / 4096, 1000 / 4096], atol=0.02)
    single = rng.standard_normal((N, 2))
    found = modes(single)
    assert [len(m) for m in found] == [1, 1] and all(w == 1.0 for m in found for _, w in m)
    np.testing.assert_allclose([m[0][0] for m in found], map_estimate(single))


def test_modes_agree_with_the_multimodal_flag():
    rng = np.random.default_rng(13)
    s = np.concatenate([mixture(rng, w, d, (40, N, 1)) for w in (0.1, 0.3) for d in (2.5, 3.5, 5.0)], axis=2)
    flags = multimodal(s)
    counts = np.array([[len(m) for m in row] for row in modes(s)])
    np.testing.assert_array_equal(counts >= 2, flags)
    assert 0.1 < flags.mean() < 0.9  # the cases straddle the threshold, so the comparison means something


def test_summarize_with_modes():
    rng = np.random.default_rng(14)
    s = np.stack([mixture(rng, 0.4, 6.0, (N, 1))[..., 0], rng.standard_normal((N,))], axis=-1)[None]
    df = summarize(s, ["a", "b"], n_modes=2)
    assert list(df.columns[9:14]) == ["a_n_modes", "a_mode1", "a_weight1", "a_mode2", "a_weight2"]
    row = df.iloc[0]
    assert row["a_n_modes"] == 2 and row["b_n_modes"] == 1 and np.isnan(row["b_mode2"]) and row["b_weight1"] == 1.0
    assert abs(row["a_weight1"] - 0.6) < 0.03 and abs(row["a_mode2"] - 6.0) < 0.4
    assert list(summarize(np.empty((0, 5, 2)), ["a", "b"], n_modes=2).columns) == list(df.columns)
