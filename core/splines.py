"""Monotonic rational-quadratic splines (Durkan et al. 2019, "Neural Spline Flows"): the elementwise map of
`flows.SplineCoupling`.

On [-B, B] the map is a spline through K + 1 knots (x_k, y_k), from (-B, -B) to (B, B), with derivatives d_k > 0 at
the knots; within each bin it is a ratio of two quadratics (Gregory & Delbourgo 1982), monotone, with a closed-form
inverse (a quadratic equation). Outside [-B, B] it is the identity, and d_0 = d_K = 1 make the map C1 there.

Each transformed feature has 3K - 1 raw parameters (an unconstrained network output): K bin widths, K bin heights
(softmax, at least MIN_BIN of 2B each) and the K - 1 inner derivatives (softplus, at least MIN_DERIVATIVE). All zeros
give equal bins and unit derivatives, i.e. the identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MIN_BIN = 1e-3  # smallest bin width and height, as a fraction of 2B
MIN_DERIVATIVE = 1e-3  # smallest derivative at a knot
DERIVATIVE_SHIFT = math.log(math.expm1(1 - MIN_DERIVATIVE))  # MIN_DERIVATIVE + softplus(0 + shift) = 1


def n_params(bins: int) -> int:
    """Raw parameters per transformed feature of a spline with `bins` bins."""
    return 3 * bins - 1


def _knots(raw: torch.Tensor, bound: float) -> torch.Tensor:
    """Knot positions -B = k_0 < ... < k_K = B (..., K + 1) from raw bin sizes (..., K)."""
    bins = raw.shape[-1]
    size = MIN_BIN + (1 - MIN_BIN * bins) * torch.softmax(raw, dim=-1)
    inner = torch.cumsum(size[..., :-1], dim=-1)  # the last knot is set to exactly 1, not summed
    return 2 * bound * F.pad(F.pad(inner, (1, 0), value=0.0), (0, 1), value=1.0) - bound


def rq_spline(
    v: torch.Tensor, params: torch.Tensor, bound: float, inverse: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spline (or, with inverse, its inverse) applied to v (...) with raw parameters params (..., 3K - 1):
    (output, log|d output / d v|), both elementwise."""
    bins = (params.shape[-1] + 1) // 3
    xk = _knots(params[..., :bins], bound)
    yk = _knots(params[..., bins : 2 * bins], bound)
    dk = F.pad(MIN_DERIVATIVE + F.softplus(params[..., 2 * bins :] + DERIVATIVE_SHIFT), (1, 1), value=1.0)

    inside = v.abs() < bound
    u = v.clamp(-bound, bound)[..., None]  # clamped, so that the unused spline branch of the tails stays finite
    k = (u >= (yk if inverse else xk)[..., 1:-1]).sum(-1, keepdim=True)  # bin of each input, 0 ... K - 1
    x0, x1, y0, y1, d0, d1 = (t.gather(-1, i).squeeze(-1) for t in (xk, yk, dk) for i in (k, k + 1))
    u = u.squeeze(-1)
    w, h = x1 - x0, y1 - y0
    s = h / w  # the bin's slope
    if inverse:  # solve y = y0 + h (s xi^2 + d0 xi (1 - xi)) / (s + (d0 + d1 - 2 s) xi (1 - xi)) for xi in [0, 1]
        dy = u - y0
        a = h * (s - d0) + dy * (d0 + d1 - 2 * s)
        b = h * d0 - dy * (d0 + d1 - 2 * s)
        c = -s * dy
        xi = 2 * c / (-b - torch.sqrt((b * b - 4 * a * c).clamp(min=0)))
    else:
        xi = (u - x0) / w
    t = xi * (1 - xi)
    denom = s + (d0 + d1 - 2 * s) * t
    out = x0 + xi * w if inverse else y0 + h * (s * xi**2 + d0 * t) / denom
    log_deriv = 2 * torch.log(s) + torch.log(d1 * xi**2 + 2 * s * t + d0 * (1 - xi) ** 2) - 2 * torch.log(denom)
    return torch.where(inside, out, v), torch.where(inside, -log_deriv if inverse else log_deriv, 0.0)
