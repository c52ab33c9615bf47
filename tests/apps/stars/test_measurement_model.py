"""Noise model of section 3: relative errors, Gaussian noise, Hbeta always detected, censoring of
non-detections at 3 sigma, random masking (p = 0.15, never Hbeta), the 0.02 dex systematic floor,
and the y encoding of simulate()."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from invert.apps.stars import StarsProblem
from invert.apps.stars.model import measurement_model
from invert.apps.stars.model.linelist import HBETA, NAMES

N = 20_000
OTHERS = [j for j in range(12) if j != HBETA]
LOG_R = (math.log10(0.01), math.log10(0.3))


@pytest.fixture(scope="module")
def problem():
    return StarsProblem()


@pytest.fixture(scope="module")
def sim(problem):
    g = torch.Generator().manual_seed(7)
    x = problem.sample_prior(N, g)
    return x, problem.simulate(x, g).numpy()


def _columns(problem, y, prefix):
    return y[:, [i for i, n in enumerate(problem.y_names) if n.startswith(prefix)]]


def test_relative_errors_and_gaussian_noise():
    log_l = torch.zeros(N, 12, dtype=torch.float64)
    m = measurement_model.draw_measurement(log_l, torch.Generator().manual_seed(0), systematic_dex=0.0)
    log_r = m.log_sigma.numpy()  # sigma / F_true with F_true = 1
    assert log_r.min() >= LOG_R[0] and log_r.max() <= LOG_R[1]
    for j in (0, HBETA, 11):  # log-uniform per line
        assert stats.kstest((log_r[:, j] - LOG_R[0]) / (LOG_R[1] - LOG_R[0]), "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(log_r[:, 0], log_r[:, 1])[0, 1]) < 0.03  # independent per line
    eps = m.snr.numpy() - 10.0**-log_r  # (F_obs - F) / sigma
    assert stats.kstest(eps[:, OTHERS].ravel()[:50_000], "norm").pvalue > 1e-3
    # Hbeta is conditioned on S/N >= 3: its eps is a normal truncated at 3 - 1/r
    assert m.snr[:, HBETA].min() >= 3.0
    a = 3.0 - 10.0 ** -log_r[:, HBETA]
    u = (stats.norm.cdf(eps[:, HBETA]) - stats.norm.cdf(a)) / stats.norm.sf(a)
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_masking_rate_and_hbeta_never_masked(problem, sim):
    _, y = sim
    missing = _columns(problem, y, "log_r_") == measurement_model.MISSING_LOG_R
    assert not missing[:, HBETA].any()
    gap_lines = {NAMES.index(name) for gap in measurement_model.COVERAGE_GAPS for name in gap}
    for j in OTHERS:
        kept = (1 - measurement_model.MASK_PROB) * (1 - measurement_model.COVERAGE_PROB * (j in gap_lines))
        assert missing[:, j].mean() == pytest.approx(1 - kept, abs=0.01), NAMES[j]
    # a coverage gap masks its lines together: both [OII] lines missing far more often than independent masks give
    both_oii = missing[:, [NAMES.index("OII3726"), NAMES.index("OII3729")]].all(axis=1).mean()
    gap, mask = measurement_model.COVERAGE_PROB, measurement_model.MASK_PROB
    assert both_oii == pytest.approx(gap + (1 - gap) * mask**2, abs=0.01)
    values = y[:, 1:12]
    fill = np.broadcast_to(np.float32(measurement_model.MISSING_FILL), values.shape)
    np.testing.assert_array_equal(values[missing[:, OTHERS]], fill[missing[:, OTHERS]])
    np.testing.assert_array_equal(values == fill, missing[:, OTHERS])  # measurements never hit the fill exactly
    assert np.isfinite(y).all()


def test_censoring_rate_matches_the_noise_model(problem, sim):
    _, y = sim
    log_r = _columns(problem, y, "log_r_")[:, OTHERS]
    det = _columns(problem, y, "det_")
    observed = log_r != measurement_model.MISSING_LOG_R
    censored = observed & (det == 0)
    # P(F_obs < 3 sigma) = E_r[Phi(3 - 1/r)], log r uniform
    grid = np.linspace(*LOG_R, 20001)
    expected = np.trapezoid(stats.norm.cdf(3.0 - 10.0**-grid), grid) / (LOG_R[1] - LOG_R[0])
    assert censored.sum() / observed.sum() == pytest.approx(expected, abs=0.004)
    # upper limits carry log r = -log10 3; detections log r <= -log10 3; detections only where observed
    np.testing.assert_allclose(log_r[censored], -math.log10(3.0), atol=1e-6)
    assert log_r[observed].max() <= -math.log10(3.0) + 1e-6
    assert not (det[~observed] == 1).any()


def test_systematic_floor_adds_in_quadrature(problem, sim):
    x, y = sim
    log_hb = problem.log_line_luminosities(x.double())[:, HBETA].numpy()
    precise = _columns(problem, y, "log_r_")[:, HBETA] < math.log10(0.012)  # measurement error <= 0.005 dex
    assert precise.sum() > 500
    scatter = np.std(y[precise, 0] - log_hb[precise])
    assert scatter == pytest.approx(math.hypot(0.02, 0.003), rel=0.1)


def test_simulate_is_reproducible_and_noisy(problem):
    x = problem.sample_prior(100, torch.Generator().manual_seed(0))
    y1 = problem.simulate(x, torch.Generator().manual_seed(5))
    y2 = problem.simulate(x, torch.Generator().manual_seed(5))
    y3 = problem.simulate(x, torch.Generator().manual_seed(6))
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    assert y1.dtype == torch.float32 and y1.shape == (100, 35)


def test_nominal_measurement_has_everything_detected():
    m = measurement_model.nominal_measurement(torch.zeros(3, 12))
    assert m.detected.all()
    y = measurement_model.encode(m, absolute=False)
    assert y.shape == (3, 34) and len(measurement_model.y_names(absolute=False)) == 34
    assert [n for n in measurement_model.y_names() if n.startswith("det_")] == [f"det_{NAMES[j]}" for j in OTHERS]
