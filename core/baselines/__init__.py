"""Baselines of the paper's comparison (Ardizzone et al. 2019, Sec. 4): rejection ABC, a conditional
VAE and an MC-dropout network. The two networks train through `invert.core.fit(method="cvae" or
"dropout")` and sample through the same `Posterior`; ABC needs no training."""

from .abc import RejectionABC
from .cvae import CVAENet
from .dropout import DropoutNet

__all__ = ["RejectionABC", "CVAENet", "DropoutNet"]
