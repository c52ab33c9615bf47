"""The networks of the fitting methods: their architecture settings (`NetConfig`) and `build_net`.

Both training (`estimator.fit`) and loading (`bundle.load`) build a method's network from here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .baselines.cvae import CVAENet
from .baselines.dropout import DropoutNet
from .ensemble import FlowEnsemble
from .flows import ConditionalInvertibleNet, InvertibleNet

METHODS = ("cinn", "inn", "cvae", "dropout")  # the last two: the paper's baselines (invert.core.baselines)


@dataclass
class NetConfig:
    """Architecture of the invertible network."""

    n_blocks: int = 8
    hidden: int = 128
    depth: int = 2
    alpha: float = 2.0  # affine couplings: soft clamp of the log-scales, |s| < alpha
    actnorm: bool = False
    dz: int | None = None  # INN: latent size (default max(dx - dy, min(dx, 2))); cVAE: default dx
    width: int | None = None  # INN only: total width D >= max(dx, dy + dz)
    summary_dim: int | None = None  # cINN only: learned summary of long y
    coupling: str | None = None  # "affine" (the paper's) or "spline" (rational-quadratic); None: DEFAULT_COUPLING
    bins: int = 8  # spline couplings: bins of each spline
    ensemble: int = 1  # cINN only: K > 1 networks from seeds seed, seed + 1, ...; the posterior is their mixture


# The coupling blocks of each invertible method where NetConfig leaves them open: splines for the cINN (closer to
# the reference posteriors than affine couplings: benchmarks/posteriors.py), the paper's affine blocks for the INN.
DEFAULT_COUPLING = {"cinn": "spline", "inn": "affine"}


def resolved(method: str, cfg: NetConfig) -> NetConfig:
    """cfg with the method's default coupling filled in (what a model file stores)."""
    if cfg.coupling is None and method in DEFAULT_COUPLING:
        return replace(cfg, coupling=DEFAULT_COUPLING[method])
    return cfg


def build_net(method: str, dx: int, dy: int, cfg: NetConfig, seed: int) -> torch.nn.Module:
    """The network of a method, with a seeded initialization."""
    cfg = resolved(method, cfg)
    torch.manual_seed(seed)
    stack = dict(
        n_blocks=cfg.n_blocks,
        hidden=cfg.hidden,
        depth=cfg.depth,
        alpha=cfg.alpha,
        actnorm=cfg.actnorm,
        seed=seed,
        coupling=cfg.coupling,
        bins=cfg.bins,
    )
    if method == "cinn" and cfg.ensemble > 1:
        single = replace(cfg, ensemble=1)
        return FlowEnsemble([build_net(method, dx, dy, single, seed + k) for k in range(cfg.ensemble)])
    if method == "cinn":
        return ConditionalInvertibleNet(dx, dy, summary_dim=cfg.summary_dim, **stack)
    if cfg.ensemble != 1:
        raise ValueError(f"ensembles are of cINNs (method 'cinn'), not of {method!r}")
    if method == "cvae":
        return CVAENet(dx, dy, cfg.dz, hidden=cfg.hidden, depth=cfg.depth)
    if method == "dropout":
        return DropoutNet(dx, dy, hidden=cfg.hidden, depth=cfg.depth)
    dz = cfg.dz or max(dx - dy, min(dx, 2))
    return InvertibleNet(dx, dy, dz, width=cfg.width, **stack)
