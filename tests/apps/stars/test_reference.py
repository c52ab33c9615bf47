"""The approximate likelihood-weighted reference posterior of `invert stars evaluate`
(apps/stars/model/approximate_reference.py)."""

import numpy as np
import pytest
import torch

from invert.apps.stars.model.approximate_reference import reference_posterior
from invert.apps.stars.model.problem import BLUE_LINES, FixedErrorStars
from invert.core.summaries import central_interval


@pytest.mark.parametrize("ratios_only", [False, True])
def test_reference_is_calibrated_for_the_line_ratio_parameters(ratios_only):
    """Blue lines at 20 % errors (broad posteriors, so 4e5 draws suffice): measured 68 % coverage 0.70-0.75 for
    logt, logZ, logU. (logM and A_V come out too narrow at such errors, 0.45-0.6: the likelihood uses the
    measured relative errors; at the 5 % of `evaluate` logM covers 0.6, A_V 0.75.)"""
    problem = FixedErrorStars(r=0.2, lines=BLUE_LINES, ratios_only=ratios_only)
    gen = torch.Generator().manual_seed(4)
    x = problem.sample_prior(60, gen)
    y = problem.simulate(x, gen).numpy()
    samples, ess = reference_posterior(problem, y, draws=400_000, seed=1, keep=2000, chunk=200_000)
    assert samples.shape == (60, 2000, len(problem.x_names)) and np.isfinite(samples).all()
    lo_b, hi_b = np.array(problem.x_bounds).T
    assert ((samples >= lo_b - 1e-6) & (samples <= hi_b + 1e-6)).all()
    assert np.median(ess) > 300 and ess.min() > 50  # measured 1000-1800 and 110-150
    lo, hi = central_interval(samples, 0.68)
    inside = ((x.numpy() >= lo) & (x.numpy() <= hi)).mean(axis=0)
    ratios = [problem.x_names.index(p) for p in ("logt", "logZ", "logU")]
    assert (np.abs(inside[ratios] - 0.68) < 0.15).all(), inside  # binomial sd of 60 observations: 0.06


def test_blue_lines_only_leave_the_red_lines_unobserved():
    problem = FixedErrorStars(lines=BLUE_LINES)
    gen = torch.Generator().manual_seed(0)
    y = problem.simulate(problem.sample_prior(5, gen), gen).numpy()
    all_lines = FixedErrorStars().simulate(problem.sample_prior(5, gen), gen).numpy()
    from invert.apps.stars.model.predictive import line_values

    observed = line_values(problem, y).detected.sum(axis=1)
    assert (observed == len(BLUE_LINES)).all() and (line_values(problem, all_lines).detected.sum(axis=1) == 12).all()
