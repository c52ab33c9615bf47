"""The networks of the fitting methods: their architecture settings (`NetConfig`) and `build_net`.

Both training (`estimator.fit`) and loading (`bundle.load`) build a method's network from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .baselines.cvae import CVAENet
from .baselines.dropout import DropoutNet
from .flows import ConditionalInvertibleNet, InvertibleNet

METHODS = ("cinn", "inn", "cvae", "dropout")  # the last two: the paper's baselines (invert.core.baselines)


@dataclass
class NetConfig:
    """Architecture of the invertible network."""

    n_blocks: int = 8
    hidden: int = 128
    depth: int = 2
    alpha: float = 2.0
    actnorm: bool = False
    dz: int | None = None  # INN: latent size (default max(dx - dy, min(dx, 2))); cVAE: default dx
    width: int | None = None  # INN only: total width D >= max(dx, dy + dz)
    summary_dim: int | None = None  # cINN only: learned summary of long y


def build_net(method: str, dx: int, dy: int, cfg: NetConfig, seed: int) -> torch.nn.Module:
    """The network of a method, with a seeded initialization."""
    torch.manual_seed(seed)
    stack = dict(
        n_blocks=cfg.n_blocks, hidden=cfg.hidden, depth=cfg.depth, alpha=cfg.alpha, actnorm=cfg.actnorm, seed=seed
    )
    if method == "cinn":
        return ConditionalInvertibleNet(dx, dy, summary_dim=cfg.summary_dim, **stack)
    if method == "cvae":
        return CVAENet(dx, dy, cfg.dz, hidden=cfg.hidden, depth=cfg.depth)
    if method == "dropout":
        return DropoutNet(dx, dy, hidden=cfg.hidden, depth=cfg.depth)
    dz = cfg.dz or max(dx - dy, min(dx, 2))
    return InvertibleNet(dx, dy, dz, width=cfg.width, **stack)
