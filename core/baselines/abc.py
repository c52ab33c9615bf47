"""Rejection ABC (the paper's reference method): keep the simulations nearest to each observation."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..devices import resolve_device
from ..problem import Problem
from ..simulation import simulate_dataset


class RejectionABC:
    """Posterior samples of an observation = the x of the n pool simulations whose y lie nearest to it
    (Euclidean distance in y standardized by the pool's std). With N pool simulations the acceptance
    rate is n / N; the posterior is exact as n / N -> 0."""

    def __init__(self, x_pool: np.ndarray, y_pool: np.ndarray, device: str = "auto", sim_time_s: float = 0.0):
        self.device = resolve_device(device)
        self.x_pool = torch.as_tensor(np.asarray(x_pool, dtype=np.float32))
        y = torch.as_tensor(np.asarray(y_pool, dtype=np.float32))
        self.scale = y.std(dim=0).clamp_min(1e-12)
        self.y_pool = (y / self.scale).to(self.device)
        self.n_sims, self.sim_time_s = len(y), sim_time_s

    @classmethod
    def simulate(
        cls, problem: Problem, n_sims: int, seed: int = 0, device: str = "auto", progress: bool = False
    ) -> "RejectionABC":
        """Simulate a pool of n_sims pairs in large batches on the best device."""
        dev = resolve_device(device)
        t0 = time.perf_counter()
        x, y = simulate_dataset(problem, n_sims, seed=seed, chunk=1 << 17, device=dev, progress=progress)
        return cls(x, y, str(dev), time.perf_counter() - t0)

    @torch.no_grad()
    def sample(self, y_obs: np.ndarray, n: int, seed: int = 0, obs_chunk: int = 32) -> np.ndarray:
        """The n nearest pool simulations' x per observation: (dy,) -> (n, dx); (B, dy) -> (B, n, dx). Deterministic."""
        y = np.asarray(y_obs, dtype=np.float32)
        single = y.ndim == 1
        y_t = torch.as_tensor(y.reshape(1, -1) if single else y) / self.scale
        if n > self.n_sims:
            raise ValueError(f"{n} samples asked of a pool of {self.n_sims} simulations")
        out = np.empty((len(y_t), n, self.x_pool.shape[1]), dtype=np.float32)
        for start in range(0, len(y_t), obs_chunk):
            block = y_t[start : start + obs_chunk].to(self.device)
            nearest = torch.cdist(block, self.y_pool).topk(n, dim=1, largest=False).indices.cpu()
            out[start : start + obs_chunk] = self.x_pool[nearest].numpy()
        return out[0] if single else out
