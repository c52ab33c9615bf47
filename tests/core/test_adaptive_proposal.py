"""Adaptive importance-sampling rounds: a proposal 30x too wide still gives the exact posterior, with many effective
draws, where rounds drawn from the proposal alone collapse."""

import math

import numpy as np
from scipy.stats import multivariate_t

from invert.core.adaptive_proposal import AdaptiveRounds, StudentT, fit_student_t
from invert.core.importance import TARGET_ESS, ImportancePosterior

CENTRE, SD, WIDE, SHIFT = np.array([0.3, -0.2]), np.array([0.02, 0.05]), 30.0, 3.0  # target N(CENTRE, SD^2)


class WideProposal:
    """A stand-in cINN: a Gaussian 30x wider than the target and 3 target sds off, inside x_bounds, with log_prob."""

    method, has_density, dx, metadata, x_names = "cinn", True, 2, {}, ["a", "b"]
    x_bounds = [(-2.0, 2.0), (-2.0, 2.0)]
    centre, sd = CENTRE + SHIFT * SD, WIDE * SD

    def sample_and_log_prob(self, y: np.ndarray, n: int, seed: int = 0, rows=None) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(y)) if rows is None else np.asarray(rows)
        z = np.stack([np.random.default_rng([seed, int(r)]).standard_normal((n, 2)) for r in rows])
        x = self.centre + self.sd * z
        return x.astype(np.float32), self.log_prob(x.reshape(-1, 2), y).reshape(len(rows), n)

    def log_prob(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return -0.5 * (((x - self.centre) / self.sd) ** 2).sum(-1) - np.log(self.sd).sum() - math.log(2 * math.pi)


def log_likelihood(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -0.5 * (((x - CENTRE) / SD) ** 2).sum(-1)


def test_adaptive_rounds_recover_the_target_where_plain_rounds_collapse():
    """Plain rounds: ESS ~ 4 x 2000 x (prod of width ratios, about 1/450) x the shift's loss, a handful. Adaptive:
    at least TARGET_ESS (the rounds stop there), and the resampled draws have the target's mean (within 0.25 sd) and
    sd (within 15 %)."""
    y = np.zeros((3, 1), dtype=np.float32)
    plain = ImportancePosterior(WideProposal(), log_likelihood).draw(y, 2000, seed=0)[1]
    post = ImportancePosterior(WideProposal(), log_likelihood, adaptive=AdaptiveRounds())
    samples, diag = post.draw(y, 2000, seed=0)
    assert (plain["ess"] < 50).all() and plain["low_ess"].all()
    assert (diag["ess"] >= TARGET_ESS).all() and not diag["low_ess"].any()
    assert np.abs((samples.mean(1) - CENTRE) / SD).max() < 0.25
    assert np.abs(samples.std(1) / SD - 1).max() < 0.15
    # an observation's draws depend on its row number and the seed only
    np.testing.assert_array_equal(post.draw(y[1:2], 2000, seed=0, rows=[1])[0][0], samples[1])


def test_student_t_density_and_fit():
    """log_pdf is scipy's multivariate t; the fit of equally weighted draws is their mean and inflated covariance."""
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.3], [0.3, 0.5]])
    t = StudentT(np.array([[0.5, -1.0]]), np.linalg.cholesky(cov)[None], 4.0)
    x = rng.normal(size=(1, 5, 2))
    np.testing.assert_allclose(t.log_pdf(x)[0], multivariate_t([0.5, -1.0], cov, df=4.0).logpdf(x[0]), rtol=1e-10)
    draws = t.sample(20_000, seed=1, rows=np.array([7]))
    np.testing.assert_allclose(np.cov(draws[0].T), cov * 4.0 / 2.0, rtol=0.1)  # t covariance: df / (df - 2)
    fit = fit_student_t(draws, np.zeros((1, 20_000)), AdaptiveRounds(df=5.0, inflate=2.0, temper_ess=50.0))
    np.testing.assert_allclose(fit.centre[0], draws[0].mean(0), atol=1e-12)
    np.testing.assert_allclose(fit.chol[0] @ fit.chol[0].T, 4.0 * np.cov(draws[0].T, bias=True), rtol=1e-6)
