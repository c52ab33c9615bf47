"""Built-in problems for tests, demos and benchmarks.

- `GaussianMixture8`: the paper's 8-mode toy (Ardizzone et al. 2019, Sec. 4.1): x in the plane from
  8 Gaussians (sigma 0.2) at (+-2.4142, +-1) and (+-1, +-2.4142); y = one-hot label of the mode,
  with some labels shared by two modes, so their posteriors are bimodal.
- `InverseKinematics`: a planar arm on a vertical rail (Kruse et al. 2021, arXiv 2101.10763).
- `INN_TOY_NET`, `INN_TOY_TRAIN`: the paper's INN settings for these 2-D toys; `mode_shares` scores samples of gmm8.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .estimator import TrainConfig
from .nets import NetConfig

MODES = torch.tensor(
    [
        [-2.4142, 1.0],
        [-1.0, 2.4142],
        [1.0, 2.4142],
        [2.4142, 1.0],
        [2.4142, -1.0],
        [1.0, -2.4142],
        [-1.0, -2.4142],
        [-2.4142, -1.0],
    ]
)


# The paper's INN on 2-D toys: a small network, lr 1e-2 and batch 400 (the settings of the paper's toy code);
# the default network and lr fail on the 8-mode toy (tests/core/test_estimator.py, benchmarks/posteriors.py).
INN_TOY_NET = NetConfig(n_blocks=6, hidden=16, depth=3)
INN_TOY_TRAIN = TrainConfig(batch_size=400, lr=1e-2, patience=None, max_epochs=80)


def mode_shares(samples: np.ndarray, sigma: float) -> np.ndarray:
    """Share of samples within 3 sigma of each of the 8 modes."""
    d = torch.cdist(torch.from_numpy(samples), MODES)
    nearest = d.argmin(1)
    inside = d.min(1).values < 3 * sigma
    return np.array([float(((nearest == k) & inside).float().mean()) for k in range(len(MODES))])


class GaussianMixture8:
    """The paper's 8-mode toy; `label_map[k]` is the label of mode k (shared labels = ambiguity)."""

    name = "gmm8"
    version = "gmm8-v1"
    x_units = ("1", "1")
    x_names = ("x1", "x2")

    def __init__(self, label_map: tuple[int, ...] = (0, 1, 2, 3, 0, 1, 4, 5), sigma: float = 0.2):
        self.label_map = torch.tensor(label_map)
        self.sigma = sigma
        self.n_labels = int(self.label_map.max()) + 1
        self.x_bounds = [(-math.inf, math.inf)] * 2
        self.y_names = tuple(f"label{k}" for k in range(self.n_labels))

    def modes_of(self, label: int) -> torch.Tensor:
        """Indices of the modes carrying a label."""
        return torch.nonzero(self.label_map == label).flatten()

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """x from the equal-weight mixture of the 8 Gaussians."""
        k = torch.randint(0, 8, (n,), generator=generator, device=generator.device)
        eps = torch.randn(n, 2, generator=generator, device=generator.device)
        return MODES.to(eps)[k] + self.sigma * eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot label of the mode nearest to x."""
        nearest = torch.cdist(x, MODES.to(x)).argmin(dim=1)
        return torch.nn.functional.one_hot(self.label_map.to(x.device)[nearest], self.n_labels).to(x.dtype)

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The label is noise-free: same as `forward`."""
        return self.forward(x)

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Observations are used as given."""
        return np.asarray(raw, dtype=np.float32)

    def observation(self, label: int) -> np.ndarray:
        """The one-hot y of a label."""
        return np.eye(self.n_labels, dtype=np.float32)[label]

    def sample_posterior(self, label: int, n: int, generator: torch.Generator) -> torch.Tensor:
        """Exact posterior samples: equal mixture of the label's modes."""
        modes = self.modes_of(label)
        k = modes[torch.randint(0, len(modes), (n,), generator=generator)]
        return MODES[k] + self.sigma * torch.randn(n, 2, generator=generator)


class InverseKinematics:
    """Arm on a rail: x = (rail height, three joint angles) -> y = end-effector position (Kruse et al. 2021)."""

    name = "inverse_kinematics"
    version = "ik-kruse2021-v1"
    x_names = ("rail", "theta1", "theta2", "theta3")
    x_units = ("1", "rad", "rad", "rad")
    y_names = ("y1", "y2")
    prior_std = torch.tensor([0.25, 0.5, 0.5, 0.5])
    lengths = (0.5, 0.5, 1.0)

    def __init__(self) -> None:
        self.x_bounds = [(-math.inf, math.inf)] * 4

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Independent Gaussian priors N(0, 0.25^2) on the rail, N(0, 0.5^2) on the angles."""
        return torch.randn(n, 4, generator=generator, device=generator.device) * self.prior_std.to(generator.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """End-effector position: y1 along the rail, y2 away from it."""
        angle = torch.cumsum(x[:, 1:], dim=1)
        lengths = torch.tensor(self.lengths, dtype=x.dtype, device=x.device)
        y1 = x[:, 0] + (lengths * torch.sin(angle)).sum(1)
        y2 = (lengths * torch.cos(angle)).sum(1)
        return torch.stack([y1, y2], dim=1)

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noise-free: same as `forward`."""
        return self.forward(x)

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Observations are used as given."""
        return np.asarray(raw, dtype=np.float32)
