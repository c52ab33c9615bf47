"""Ensembles of cINNs: K networks from different initial weights whose equal mixture is the posterior.

Deep ensembles are the cheapest known gain in calibration: each member's errors are partly its own, and the
mixture q(u | y) = (1/K) sum_k q_k(u | y) averages them out. The members train side by side on the same batches
(each on its own maximum-likelihood loss), a draw comes from one member (draw i from member i mod K, so the
mixture weights are exact), and its density is the mixture's.

`flow_log_density` and `flow_sample` give one face to a single cINN and an ensemble, in standardized units.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .flows import ConditionalInvertibleNet

LOG_2PI = math.log(2 * math.pi)


def normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) per row, in float64."""
    return -0.5 * (z.double().square().sum(1) + z.shape[1] * LOG_2PI)


class FlowEnsemble(nn.Module):
    """K conditional invertible networks of the same shape; their equal mixture is the posterior."""

    def __init__(self, members: list[ConditionalInvertibleNet]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, not {len(members)}")
        self.members = nn.ModuleList(members)
        self.dx, self.dy = members[0].dx, members[0].dy

    def member_log_densities(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log q_k(u | y) of every member, (K, B), in float64."""
        return torch.stack([_single_log_density(m, u, y) for m in self.members])

    def log_density(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log of the equal mixture, (B,)."""
        return torch.logsumexp(self.member_log_densities(u, y), dim=0) - math.log(len(self.members))

    def sample(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Draws u (B, dx) from the mixture given latent normals z (B, dx), row i through member i mod K."""
        u = torch.empty_like(z)
        k = torch.arange(z.shape[0], device=z.device) % len(self.members)
        for i, member in enumerate(self.members):
            rows = k == i
            u[rows] = member.inverse(z[rows], y[rows])[0]
        return u


def members(net: nn.Module) -> list[nn.Module]:
    """The networks that train side by side: an ensemble's members, or the network itself."""
    return list(net.members) if isinstance(net, FlowEnsemble) else [net]


def _single_log_density(net: nn.Module, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log q(u | y) of one cINN: log N(f(u; y)) + log|det df/du|, float64."""
    z, log_det = net(u, y)
    return normal_log_prob(z) + log_det.double()


def flow_log_density(net: nn.Module, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log q(u | y) (B,) of a cINN or an ensemble of them, in standardized units."""
    return net.log_density(u, y) if isinstance(net, FlowEnsemble) else _single_log_density(net, u, y)


def flow_sample(
    net: nn.Module, z: torch.Tensor, y: torch.Tensor, with_log_prob: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draws u (B, dx) from the latent normals z given y and, if asked, their log densities (B,), in standardized
    units (free for one cINN; an ensemble evaluates every member at every draw)."""
    if isinstance(net, FlowEnsemble):
        u = net.sample(z, y)
        return u, net.log_density(u, y) if with_log_prob else None
    u, log_det_inverse = net.inverse(z, y)
    return u, normal_log_prob(z) - log_det_inverse.double() if with_log_prob else None
