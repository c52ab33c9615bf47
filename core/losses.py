"""Training losses: multi-scale inverse-multiquadratic MMD (paper's INN) and maximum likelihood (cINN)."""

from __future__ import annotations

from typing import Sequence

import torch

# Inverse multiquadratics C/(C + d) of the official 8-mode toy code of Ardizzone et al. 2019
# (vislearn/analyzing_inverse_problems, widths h = 0.2, 0.5, 0.9, 1.3, C = h^2): heavy tails keep a
# gradient for outputs far from the target. Its other configurations' generalized kernels
# ((C, a) = (0.2, 2), (1.5, 2), (3, 2) for L_z) let |z| run away to ~500 on the toy in our runs.
KERNELS_Z = tuple((h * h, 1.0) for h in (0.2, 0.5, 0.9, 1.3))
KERNELS_X = KERNELS_Z


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise |a_i - b_j|^2 via one matrix product (much faster to differentiate than cdist)."""
    d = a.square().sum(1, keepdim=True) + b.square().sum(1) - 2 * a @ b.T
    return d.clamp_min(0)


def imq_kernel(d: torch.Tensor, scales: Sequence[tuple[float, float]]) -> torch.Tensor:
    """Sum over (C, a) of the generalized inverse multiquadratic C^a ((C + d) / a)^-a, d = |u - v|^2."""
    k = torch.zeros_like(d)
    for c, a in scales:
        k = k + c**a * ((c + d) / a) ** (-a)
    return k


def mmd(p: torch.Tensor, q: torch.Tensor, scales: Sequence[tuple[float, float]]) -> torch.Tensor:
    """Biased (V-statistic) estimate of MMD^2 between the samples p (n, d) and q (m, d)."""
    kpp = imq_kernel(_squared_distances(p, p), scales).mean()
    kqq = imq_kernel(_squared_distances(q, q), scales).mean()
    kpq = imq_kernel(_squared_distances(p, q), scales).mean()
    return kpp + kqq - 2 * kpq


def gaussian_nll(z: torch.Tensor, log_det: torch.Tensor) -> torch.Tensor:
    """Maximum-likelihood loss of a normalizing flow: mean of 0.5|z|^2 - log|det J|, per dimension."""
    return (0.5 * z.square().sum(dim=1) - log_det).mean() / z.shape[1]
