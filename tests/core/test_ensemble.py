"""Ensembles of cINNs: the mixture density, its draws, and their agreement."""

import math

import numpy as np
import pytest
import torch

import invert.core as ic
from invert.core.ensemble import FlowEnsemble, flow_log_density, flow_sample, members
from invert.core.flows import ConditionalInvertibleNet


def _randomized(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """The network with all weights random (a fresh cINN is the identity, which would make every test trivial)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    return net.double()


def _ensemble(dx: int, dy: int, k: int) -> FlowEnsemble:
    nets = [_randomized(ConditionalInvertibleNet(dx, dy, n_blocks=2, hidden=16, seed=i), seed=i) for i in range(k)]
    return FlowEnsemble(nets)


def test_mixture_density_is_the_mean_of_the_members():
    ens = _ensemble(dx=2, dy=3, k=3)
    u, y = torch.randn(50, 2, dtype=torch.float64), torch.randn(50, 3, dtype=torch.float64)
    by_hand = torch.stack([flow_log_density(m, u, y) for m in ens.members]).exp().mean(0).log()
    torch.testing.assert_close(flow_log_density(ens, u, y), by_hand)


def test_mixture_density_integrates_to_one():
    ens = _ensemble(dx=1, dy=2, k=3)
    grid = torch.linspace(-30, 30, 60001, dtype=torch.float64)[:, None]
    y = torch.tensor([[0.3, -1.0]], dtype=torch.float64).expand(len(grid), -1)
    density = flow_log_density(ens, grid, y).exp()
    assert torch.trapezoid(density, grid[:, 0]).item() == pytest.approx(1.0, abs=2e-3)


def test_draws_carry_their_mixture_density_and_come_from_every_member():
    ens = _ensemble(dx=2, dy=3, k=2)
    n = 4000
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.randn(1, 3, dtype=torch.float64).expand(n, -1)
    u, log_q = flow_sample(ens, z, y)
    torch.testing.assert_close(log_q, flow_log_density(ens, u, y))
    for i, member in enumerate(ens.members):  # row i comes from member i mod K
        rows = slice(i, None, 2)
        torch.testing.assert_close(u[rows], member.inverse(z[rows], y[rows])[0])


def test_draws_follow_the_mixture():
    """1-D: the share of draws below a point equals the mixture's probability there (quadrature)."""
    ens = _ensemble(dx=1, dy=1, k=2)
    n = 20000
    z = torch.randn(n, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = torch.full((n, 1), 0.5, dtype=torch.float64)
    u, _ = flow_sample(ens, z, y)
    grid = torch.linspace(-30, 30, 60001, dtype=torch.float64)[:, None]
    density = flow_log_density(ens, grid, torch.full((len(grid), 1), 0.5, dtype=torch.float64)).exp()
    cdf = torch.cumulative_trapezoid(density, grid[:, 0])
    for q in (0.1, 0.5, 0.9):
        at = grid[1:, 0][torch.searchsorted(cdf, torch.tensor(q, dtype=torch.float64))]
        share = (u[:, 0] < at).double().mean().item()
        assert share == pytest.approx(q, abs=4 * math.sqrt(q * (1 - q) / n))


def test_members_and_single_network_face():
    net = _randomized(ConditionalInvertibleNet(2, 2, n_blocks=2, hidden=8), seed=0)
    assert members(net) == [net]
    ens = _ensemble(dx=2, dy=2, k=2)
    assert members(ens) == list(ens.members)
    with pytest.raises(ValueError, match="at least 2"):
        FlowEnsemble([net])


def test_fitted_ensemble_samples_scores_and_round_trips(tmp_path):
    """fit with NetConfig(ensemble=3): the draws' log densities are log_prob's, and a saved model gives the same."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2))
    y = x + 0.3 * rng.normal(size=x.shape)
    post = ic.fit(x, y, net=ic.NetConfig(n_blocks=2, hidden=16, ensemble=3), max_epochs=2, progress=False)
    assert isinstance(post.net, FlowEnsemble) and len(post.net.members) == 3
    draws, log_q = post.sample_and_log_prob(y[:2], 8, seed=1)
    np.testing.assert_allclose(post.log_prob(draws[1], y[1]), log_q[1], atol=1e-4)
    post.save(tmp_path / "m.invert")
    again = ic.load(tmp_path / "m.invert")
    np.testing.assert_array_equal(again.sample(y[:2], 8, seed=1), draws)


@pytest.mark.parametrize("k", [0, 2.5, True, "3"])
def test_fit_refuses_an_ensemble_size_that_is_not_a_whole_number(k):
    """ensemble=True is not an ensemble of one: a bool, a fraction, a string or zero is refused before training."""
    x = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(ValueError, match="ensemble must be a whole number"):
        ic.fit(x, x, ensemble=k, max_epochs=1, progress=False)
