"""The `Problem` protocol: what an application tells the engine about its inverse problem.

Notation (Ardizzone et al. 2019): x = physical parameters, y = observations.
A problem owns its prior, its simulator and the preprocessing that turns a raw
measurement into the observation vector y the networks see.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Problem(Protocol):
    """An inverse problem: prior p(x), simulator x -> y, and observation preprocessing."""

    name: str
    version: str  # changes whenever simulate/forward/preprocess would give other y for the same x
    x_names: Sequence[str]
    x_units: Sequence[str]
    x_bounds: Sequence[tuple[float, float]]  # hard support of the prior; +-inf for unbounded
    y_names: Sequence[str]

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw n parameter vectors x ~ p(x), shape (n, dx), float32."""
        ...

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noisy, preprocessed observations y ~ p(y | x), shape (n, dy), float32, on x's device."""
        ...

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Noise-free preprocessed observations y = f(x) (for re-simulation), shape (n, dy)."""
        ...

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Turn raw user measurements (n, n_raw) into observations y (n, dy) as `simulate` makes them."""
        ...


@runtime_checkable
class NoiseVariables(Protocol):
    """A simulator that shows its own random variables u: y = g(x, u) with u ~ p(u) drawn inside `simulate`.

    `fit(..., n_nuisance=len(u_names))` can then learn p(x, u | y) from pairs ([x, u], y), whose y is a function
    of [x, u], and marginalize u (invert.core.simulation.simulate_dataset(..., with_noise=True) draws them)."""

    u_names: Sequence[str]
    u_bounds: Sequence[tuple[float, float]]  # hard support of p(u); +-inf for unbounded

    def simulate_with_noise(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, u): the observations `simulate` gives for the same generator state, and the noise (n, du) behind them."""
        ...


def prior_std(problem: Problem, n: int = 200_000, seed: int = 0) -> np.ndarray:
    """Standard deviation of each parameter under the prior (Monte Carlo over n draws), (dx,)."""
    x = problem.sample_prior(n, torch.Generator().manual_seed(seed))
    return x.double().std(0).numpy()


def problem_metadata(problem: Problem) -> dict[str, object]:
    """What a simulation file or model bundle records about its problem: name, simulator version, names, units."""
    return {
        "problem": problem.name,
        "simulator": problem.version,
        "x_names": list(problem.x_names),
        "x_units": list(problem.x_units),
        "y_names": list(problem.y_names),
    }
