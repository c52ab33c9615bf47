"""MC-dropout regression network (Gal & Ghahramani 2016; the paper's dropout baseline)."""

from __future__ import annotations

import torch
from torch import nn


class DropoutNet(nn.Module):
    """y -> x by a ReLU network with dropout after every hidden layer, trained on squared error;
    posterior samples are predictions with dropout left on (a fresh mask per sample)."""

    def __init__(self, dx: int, dy: int, hidden: int = 128, depth: int = 2, p: float = 0.2):
        super().__init__()
        self.dx, self.dy, self.p = dx, dy, p
        sizes = [dy] + [hidden] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(hidden, dx)

    def predict(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One prediction per row with random dropout masks (from `generator` when given)."""
        h = y
        for layer in self.hidden:
            h = torch.relu(layer(h))
            keep = torch.rand(h.shape, generator=generator, device=h.device) >= self.p
            h = h * keep / (1.0 - self.p)
        return self.out(h)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the dropout predictions, per dimension."""
        return (self.predict(y) - x).square().mean()

    def sample(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One MC-dropout draw per row of y."""
        return self.predict(y, generator)
