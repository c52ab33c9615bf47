"""StarsProblem: Problem protocol, parameters, priors (default and wide profiles), version, devices."""

import math

import numpy as np
import pytest
import torch

from invert.apps.stars import StarsProblem
from invert.core import Problem, simulate_dataset


@pytest.fixture(scope="module")
def problem():
    return StarsProblem()


def test_implements_problem_protocol(problem):
    assert isinstance(problem, Problem) and problem.name == "stars"
    assert problem.x_names == ("logM", "logt", "logZ", "logU", "A_V")
    assert problem.x_units == ("log10(Msun)", "log10(yr)", "log10(Z/Zsun)", "dex", "mag")
    assert len(problem.y_names) == 35 and len(set(problem.y_names)) == 35
    assert problem.y_names[0] == "log_L_Hbeta" and problem.y_names[1] == "log_OII3726/Hbeta"


def test_prior_profiles(problem):
    assert problem.x_bounds == ((4.0, 7.0), (6.0, 7.4), (math.log10(0.2), 0.0), (-4.0, -1.0), (0.0, 3.0))
    wide = StarsProblem(profile="wide")
    assert wide.x_bounds[2] == (math.log10(0.02), 0.0) and wide.version != problem.version
    x = wide.sample_prior(20_000, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and x.shape == (20_000, 5)
    lo, hi = (torch.tensor(b, dtype=torch.float32) for b in zip(*wide.x_bounds))
    assert bool(((x >= lo) & (x <= hi)).all())
    u = ((x.double() - lo.double()) / (hi - lo).double()).numpy()
    np.testing.assert_allclose(u.mean(0), 0.5, atol=0.01)
    np.testing.assert_allclose(u.std(0), math.sqrt(1 / 12), atol=0.01)
    with pytest.raises(ValueError, match="profile"):
        StarsProblem(profile="supersolar")


def test_version_records_grid_dust_noise_mode_and_prior(problem):
    v = problem.version
    for part in (problem.grid.sha256[:12], "ccm89", "r0.01-0.3", "det3", "mask0.15", "sys0.02", "absolute"):
        assert part in v
    assert StarsProblem(dust_law="calzetti").version != v
    assert StarsProblem(ratios_only=True).version != v


def test_simulate_dataset_through_core(problem):
    x, y = simulate_dataset(problem, 1000, seed=0, chunk=400)
    assert x.shape == (1000, 5) and y.shape == (1000, 35) and np.isfinite(y).all()
    x_r, y_r = simulate_dataset(StarsProblem(ratios_only=True), 300, seed=0)
    assert x_r.shape == (300, 4) and y_r.shape == (300, 34)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(problem):
    x = problem.sample_prior(1000, torch.Generator().manual_seed(0))
    y_gpu = problem.forward(x.cuda())
    assert y_gpu.is_cuda
    torch.testing.assert_close(y_gpu.cpu(), problem.forward(x), atol=1e-4, rtol=0)
    y_noisy = problem.simulate(x.cuda(), torch.Generator(device="cuda").manual_seed(0))
    assert y_noisy.is_cuda and bool(torch.isfinite(y_noisy).all())
