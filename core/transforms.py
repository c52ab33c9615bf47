"""Maps between physical units and the unbounded, standardized space the networks work in.

x -> u = logit((x - lo) / (hi - lo))  for parameters bounded on both sides,
     u = log(x - lo) or log(hi - x)   for one-sided bounds, u = x otherwise;
then u and y are standardized with means and scales from the training set.
Inverting with sigmoid / exp keeps every posterior sample strictly inside the prior's support.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

EPS = 1e-6  # relative distance to a bound below which training values are pulled inside


class BoundedTransform:
    """Elementwise bijection from the box x_bounds to R^dx, with its log-Jacobian."""

    def __init__(self, bounds: Sequence[tuple[float, float]]):
        self.bounds = [(float(lo), float(hi)) for lo, hi in bounds]
        lo = torch.tensor([b[0] for b in self.bounds], dtype=torch.float64)
        hi = torch.tensor([b[1] for b in self.bounds], dtype=torch.float64)
        if bool((hi <= lo).any()):
            raise ValueError("every bound must satisfy lower < upper")
        self.lo, self.hi = lo, hi
        self.two = torch.isfinite(lo) & torch.isfinite(hi)
        self.lower_only = torch.isfinite(lo) & ~torch.isfinite(hi)
        self.upper_only = ~torch.isfinite(lo) & torch.isfinite(hi)

    def _params(self, t: torch.Tensor):
        return (
            self.lo.to(t),
            self.hi.to(t),
            self.two.to(t.device),
            self.lower_only.to(t.device),
            self.upper_only.to(t.device),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Physical x -> unbounded u (values on or beyond a bound are pulled just inside)."""
        lo, hi, two, low, up = self._params(x)
        span = torch.where(two, hi - lo, torch.ones_like(lo))
        p = ((x - lo) / span).clamp(EPS, 1 - EPS)
        u = torch.where(two, torch.log(p) - torch.log1p(-p), x)
        scale = torch.where(torch.isfinite(span), span, torch.ones_like(span)).abs()
        u = torch.where(low, torch.log((x - lo).clamp_min(EPS * scale)), u)
        u = torch.where(up, torch.log((hi - x).clamp_min(EPS * scale)), u)
        return u

    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        """Unbounded u -> physical x inside the bounds."""
        lo, hi, two, low, up = self._params(u)
        x = torch.where(two, lo + (hi - lo) * torch.sigmoid(u), u)
        x = torch.where(low, lo + torch.exp(u), x)
        x = torch.where(up, hi - torch.exp(u), x)
        return x

    def log_abs_det_forward(self, x: torch.Tensor) -> torch.Tensor:
        """log|du/dx| summed over parameters, per row."""
        lo, hi, two, low, up = self._params(x)
        p = ((x - lo) / torch.where(two, hi - lo, torch.ones_like(lo))).clamp(EPS, 1 - EPS)
        ld = torch.zeros_like(x)
        ld = torch.where(
            two, -torch.log(p) - torch.log1p(-p) - torch.log(torch.where(two, hi - lo, torch.ones_like(lo))), ld
        )
        ld = torch.where(low, -torch.log((x - lo).clamp_min(EPS)), ld)
        ld = torch.where(up, -torch.log((hi - x).clamp_min(EPS)), ld)
        return ld.sum(dim=1)


class Standardizer:
    """Affine map v -> (v - mean) / std with statistics from training data."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean, self.std = mean.double(), std.double()

    @classmethod
    def fit(cls, v: torch.Tensor) -> "Standardizer":
        """Statistics of the columns of v."""
        return cls(v.double().mean(0), v.double().std(0))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Standardize."""
        return (v - self.mean.to(v)) / self.std.to(v)

    def inverse(self, s: torch.Tensor) -> torch.Tensor:
        """Undo the standardization."""
        return s * self.std.to(s) + self.mean.to(s)

    def log_abs_det_forward(self) -> float:
        """log|det| of the forward map (a constant)."""
        return -float(torch.log(self.std).sum())


def unbounded(n: int) -> list[tuple[float, float]]:
    """Bounds of n parameters without any support restriction."""
    return [(-math.inf, math.inf)] * n
