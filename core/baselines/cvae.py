"""Conditional variational autoencoder for p(x | y) (Kingma et al. 2014; the paper's cVAE baseline)."""

from __future__ import annotations

import torch
from torch import nn

from ..flows import mlp


class CVAENet(nn.Module):
    """Encoder q(z | x, y), decoder p(x | z, y) = N(mu(z, y), diag sigma^2) with a learned sigma, prior z ~ N(0, I).

    Works on standardized, unbounded x (the Posterior maps back to physical units and bounds).
    """

    def __init__(self, dx: int, dy: int, dz: int | None = None, hidden: int = 128, depth: int = 2):
        super().__init__()
        self.dx, self.dy, self.dz = dx, dy, dz or dx
        self.encoder = mlp(dx + dy, 2 * self.dz, hidden, depth)
        self.decoder = mlp(self.dz + dy, dx, hidden, depth)
        self.log_sigma = nn.Parameter(torch.zeros(dx))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Negative evidence lower bound per dimension (reparameterized, one z per pair)."""
        mu_z, log_var_z = self.encoder(torch.cat([x, y], dim=1)).chunk(2, dim=1)
        z = mu_z + torch.exp(0.5 * log_var_z) * torch.randn_like(mu_z)
        mu_x = self.decoder(torch.cat([z, y], dim=1))
        nll = (0.5 * ((x - mu_x) * torch.exp(-self.log_sigma)).square() + self.log_sigma).sum(dim=1)
        kl = 0.5 * (mu_z.square() + log_var_z.exp() - 1.0 - log_var_z).sum(dim=1)
        return (nll + kl).mean() / self.dx

    def sample(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One draw of x per row of y: z from the prior, then x from the decoder's Gaussian."""
        z = torch.randn(y.shape[0], self.dz, generator=generator, device=y.device)
        mu_x = self.decoder(torch.cat([z, y], dim=1))
        return mu_x + torch.exp(self.log_sigma) * torch.randn(mu_x.shape, generator=generator, device=y.device)
