"""Invertible building blocks and the two networks of the package.

- `AffineCoupling`: v = [v1, v2] -> [v1, v2 * exp(s(v1, c)) + t(v1, c)], with the paper's soft
  clamp s -> alpha * 0.636 * atan(s / alpha) so |s| < alpha and the Jacobian stays bounded.
- `SplineCoupling`: v = [v1, v2] -> [v1, RQS(v2; v1, c)], a monotonic rational-quadratic spline per feature of v2
  (Durkan et al. 2019; `invert.core.splines`), the identity outside [-B, B].
- `Permutation`: a fixed random permutation of the features (log|det J| = 0).
- `ActNorm`: per-feature scale and shift, initialised from the first batch.
- `InvertibleNet`: the paper's INN, [x, 0-padding] <-> [z, padding, y].
- `ConditionalInvertibleNet`: the cINN, x <-> z given y (optionally through a summary network).

Every one of them is an `InvertibleBlock`: (v, c) -> (v', log|det dv'/dv|) forward and (v', c) -> (v, log|det dv/dv'|)
in `inverse`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from .splines import MIN_BIN, n_params, rq_spline

SOFT_CLAMP = 0.636  # ~2/pi: alpha * 0.636 * atan(s / alpha) lies in (-alpha, alpha)
# The splines' [-B, B]: the data and the latent z are standardized, so |v| > 5 is rare (6e-7 of a normal), and the
# identity beyond costs nothing there; a larger B would spread the fixed number of bins over space holding no data.
SPLINE_BOUND = 5.0
COUPLINGS = ("affine", "spline")


def mlp(d_in: int, d_out: int, hidden: int, depth: int) -> nn.Sequential:
    """ReLU multilayer perceptron whose last layer starts at zero (the block starts as identity)."""
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    last = nn.Linear(d, d_out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


def subnet_input(v1: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """What a coupling block's subnet sees: the untouched half v1 and the condition c, if any."""
    return v1 if c is None else torch.cat([v1, c], dim=1)


class InvertibleBlock(nn.Module, ABC):
    """The contract of an invertible map v -> v' of R^D, optionally conditioned on c (B, dc).

    forward(v, c) returns (v', log|det dv'/dv|) and inverse(v', c) returns (v, log|det dv/dv'|), each log-determinant
    per row (B,): inverse(forward(v, c)[0], c) gives back v and minus forward's log-determinant."""

    @abstractmethod
    def forward(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """v (B, D) -> (v' (B, D), log|det dv'/dv| (B,))."""

    @abstractmethod
    def inverse(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """v' (B, D) -> (v (B, D), log|det dv/dv'| (B,))."""


class AffineCoupling(InvertibleBlock):
    """Affine coupling block with soft-clamped log-scales, optionally conditioned on c."""

    def __init__(self, dim: int, cond_dim: int = 0, hidden: int = 128, depth: int = 2, alpha: float = 2.0):
        super().__init__()
        self.d1 = dim // 2
        self.d2 = dim - self.d1
        self.alpha = alpha
        if self.d1 + cond_dim == 0:
            raise ValueError("a 1-D coupling block needs a condition")
        self.subnet = mlp(self.d1 + cond_dim, 2 * self.d2, hidden, depth)

    def _scale_shift(self, v1: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.subnet(subnet_input(v1, c)).chunk(2, dim=1)
        return self.alpha * SOFT_CLAMP * torch.atan(s / self.alpha), t

    def forward(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """[v1, v2] -> [v1, v2 * exp(s) + t], s and t from (v1, c); log|det| = sum of s."""
        v1, v2 = v[:, : self.d1], v[:, self.d1 :]
        s, t = self._scale_shift(v1, c)
        return torch.cat([v1, v2 * torch.exp(s) + t], dim=1), s.sum(dim=1)

    def inverse(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """[v1, v2] -> [v1, (v2 - t) * exp(-s)]; log|det| = -sum of s."""
        v1, v2 = v[:, : self.d1], v[:, self.d1 :]
        s, t = self._scale_shift(v1, c)
        return torch.cat([v1, (v2 - t) * torch.exp(-s)], dim=1), -s.sum(dim=1)


class SplineCoupling(InvertibleBlock):
    """Rational-quadratic spline coupling block (Durkan et al. 2019), optionally conditioned on c."""

    def __init__(
        self, dim: int, cond_dim: int = 0, hidden: int = 128, depth: int = 2, bins: int = 8, bound: float = SPLINE_BOUND
    ):
        super().__init__()
        self.d1 = dim // 2
        self.d2 = dim - self.d1
        self.bound = bound
        if self.d1 + cond_dim == 0:
            raise ValueError("a 1-D coupling block needs a condition")
        if bins * MIN_BIN >= 1:
            raise ValueError(f"{bins} spline bins of at least {MIN_BIN} of the range each do not fit")
        self.subnet = mlp(self.d1 + cond_dim, self.d2 * n_params(bins), hidden, depth)

    def _spline(self, v: torch.Tensor, c: torch.Tensor | None, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """[v1, v2] -> [v1, RQS(v2)] or its inverse, the spline's parameters from (v1, c); log|det| per row."""
        v1, v2 = v[:, : self.d1], v[:, self.d1 :]
        params = self.subnet(subnet_input(v1, c)).unflatten(1, (self.d2, -1))
        out, log_deriv = rq_spline(v2, params, self.bound, inverse)
        return torch.cat([v1, out], dim=1), log_deriv.sum(dim=1)

    def forward(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """[v1, v2] -> [v1, RQS(v2)]; log|det| = sum of log RQS'(v2)."""
        return self._spline(v, c, inverse=False)

    def inverse(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """[v1, v2] -> [v1, RQS^-1(v2)]; log|det| = minus the sum of log RQS' at the result."""
        return self._spline(v, c, inverse=True)


class Permutation(InvertibleBlock):
    """Fixed random permutation of the features, drawn from a seeded generator."""

    def __init__(self, dim: int, seed: int):
        super().__init__()
        perm = torch.randperm(dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Permute the features; log|det| = 0."""
        return v[:, self.perm], v.new_zeros(v.shape[0])

    def inverse(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Undo the permutation; log|det| = 0."""
        return v[:, self.inv_perm], v.new_zeros(v.shape[0])


class ActNorm(InvertibleBlock):
    """Per-feature affine normalisation; scale and shift are set from the first training batch."""

    def __init__(self, dim: int):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.shift = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False))

    def forward(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(v + shift) * exp(log_scale) (initializing both from the first training batch)."""
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                self.shift.copy_(-v.mean(0))
                self.log_scale.copy_(-torch.log(v.std(0) + 1e-6))
                self.initialized.fill_(True)
        out = (v + self.shift) * torch.exp(self.log_scale)
        return out, self.log_scale.sum().expand(v.shape[0])

    def inverse(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """v * exp(-log_scale) - shift."""
        return v * torch.exp(-self.log_scale) - self.shift, -self.log_scale.sum().expand(v.shape[0])


class CouplingStack(InvertibleBlock):
    """A chain of [ActNorm?, coupling block, Permutation] blocks, the coupling blocks affine (AffineCoupling) or
    spline (SplineCoupling); the invertible core of both nets."""

    def __init__(
        self,
        dim: int,
        cond_dim: int = 0,
        n_blocks: int = 8,
        hidden: int = 128,
        depth: int = 2,
        alpha: float = 2.0,
        actnorm: bool = False,
        seed: int = 0,
        coupling: str = "affine",
        bins: int = 8,
    ):
        super().__init__()
        if coupling not in COUPLINGS:
            raise ValueError(f"coupling must be one of {COUPLINGS}, not {coupling!r}")
        blocks: list[InvertibleBlock] = []
        for i in range(n_blocks):
            if actnorm:
                blocks.append(ActNorm(dim))
            if coupling == "affine":
                blocks.append(AffineCoupling(dim, cond_dim, hidden, depth, alpha))
            else:
                blocks.append(SplineCoupling(dim, cond_dim, hidden, depth, bins))
            blocks.append(Permutation(dim, seed=seed * 1000 + i))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Map v -> v' and return log|det dv'/dv| per row."""
        log_det = v.new_zeros(v.shape[0])
        for block in self.blocks:
            v, ld = block(v, c)
            log_det = log_det + ld
        return v, log_det

    def inverse(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Map v' -> v and return log|det dv/dv'| per row."""
        log_det = v.new_zeros(v.shape[0])
        for block in reversed(self.blocks):
            v, ld = block.inverse(v, c)
            log_det = log_det + ld
        return v, log_det


class InvertibleNet(InvertibleBlock):
    """The paper's INN: f([x, 0]) = [z, pad, y]; x = g([z, pad, y]) samples the posterior."""

    def __init__(self, dx: int, dy: int, dz: int, width: int | None = None, **stack_kwargs):
        super().__init__()
        self.dx, self.dy, self.dz = dx, dy, dz
        self.width = width or max(dx, dy + dz)
        if self.width < max(dx, dy + dz):
            raise ValueError(f"width {self.width} < max(dx, dy + dz) = {max(dx, dy + dz)}")
        self.stack = CouplingStack(self.width, **stack_kwargs)

    def pad_x(self, x: torch.Tensor, noise: float = 0.0) -> torch.Tensor:
        """[x, padding]; the padding is zero or small noise."""
        pad = noise * torch.randn(x.shape[0], self.width - self.dx, device=x.device, dtype=x.dtype)
        return torch.cat([x, pad], dim=1)

    def split_out(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Split the output into (z, padding, y)."""
        return out[:, : self.dz], out[:, self.dz : self.width - self.dy], out[:, self.width - self.dy :]

    def forward(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """[x, pad] -> ([z, pad, y], log|det J|)."""
        return self.stack(v, c)

    def inverse(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """[z, pad, y] -> ([x, pad], log|det J^-1|)."""
        return self.stack.inverse(v, c)

    def inverse_x(self, z: torch.Tensor, y: torch.Tensor, pad_noise: float = 0.0) -> torch.Tensor:
        """x = g(z, y): the first dx outputs of the inverse of [z, pad, y], the padding zero or small noise."""
        pad = pad_noise * torch.randn(y.shape[0], self.width - self.dz - self.dy, device=y.device, dtype=y.dtype)
        return self.inverse(torch.cat([z, pad, y], dim=1))[0][:, : self.dx]


class ConditionalInvertibleNet(InvertibleBlock):
    """The cINN: z = f(x; y) with z ~ N(0, I) under the posterior; x = f^-1(z; y)."""

    def __init__(self, dx: int, dy: int, summary_dim: int | None = None, summary_hidden: int = 128, **stack_kwargs):
        super().__init__()
        self.dx, self.dy = dx, dy
        if summary_dim:  # a learned summary network compresses long y (spectra) first
            self.summary: nn.Module = nn.Sequential(
                nn.Linear(dy, summary_hidden),
                nn.ReLU(),
                nn.Linear(summary_hidden, summary_hidden),
                nn.ReLU(),
                nn.Linear(summary_hidden, summary_dim),
            )
            cond_dim = summary_dim
        else:
            self.summary = nn.Identity()
            cond_dim = dy
        self.stack = CouplingStack(dx, cond_dim=cond_dim, **stack_kwargs)

    def forward(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> (z, log|det dz/dx|) given the observations c = y (required)."""
        return self.stack(v, self._condition(c))

    def inverse(self, v: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z -> (x, log|det dx/dz|) given the observations c = y (required)."""
        return self.stack.inverse(v, self._condition(c))

    def _condition(self, y: torch.Tensor | None) -> torch.Tensor:
        """The condition of the coupling blocks: y, or its learned summary."""
        if y is None:
            raise ValueError("the cINN needs the observations y as its condition")
        return self.summary(y)
