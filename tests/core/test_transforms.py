"""Bounded-parameter transforms keep samples inside the prior support; Jacobians are right."""

import math

import torch

from invert.core.transforms import BoundedTransform, Standardizer

BOUNDS = [(0.0, 1.0), (0.1, math.inf), (-math.inf, 2.0), (-math.inf, math.inf)]


def test_round_trip_and_support():
    t = BoundedTransform(BOUNDS)
    x = torch.tensor([[0.3, 5.0, -1.0, 7.0], [0.99, 0.2, 1.9, -3.0]], dtype=torch.float64)
    torch.testing.assert_close(t.inverse(t.forward(x)), x)
    u = 30 * torch.randn(1000, 4, dtype=torch.float64)
    x_back = t.inverse(u)
    assert torch.all(x_back[:, 0] >= 0) and torch.all(x_back[:, 0] <= 1)
    assert torch.all(x_back[:, 1] >= 0.1) and torch.all(x_back[:, 2] <= 2.0)


def test_log_det_matches_autograd():
    t = BoundedTransform(BOUNDS)
    x = torch.tensor([[0.3, 5.0, -1.0, 7.0]], dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(t.forward, x).reshape(4, 4)
    assert abs(float(t.log_abs_det_forward(x)) - float(torch.linalg.slogdet(jac).logabsdet)) < 1e-9


def test_standardizer():
    v = torch.randn(500, 3, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.1]) + 4
    s = Standardizer.fit(v)
    w = s.forward(v)
    torch.testing.assert_close(w.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close(s.inverse(w), v)
