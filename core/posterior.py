"""Posteriors p(x | y): the contracts `PosteriorLike` and `DensityPosterior`, and `Posterior`, a trained network's.

`PosteriorLike` is what the analysis (invert.core.analysis) and the apps use: a `Posterior` (`fit`, `load`) or one
corrected by importance sampling (invert.core.importance.ImportancePosterior). `DensityPosterior` adds log densities,
which a cINN's `Posterior` has and an importance sampler needs of its proposal.
"""

from __future__ import annotations

import os
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from .bundle_format import save_bundle
from .devices import resolve_device
from .diagnostics import OODScorer
from .ensemble import flow_log_density, flow_sample
from .nets import NetConfig
from .noise import row_normals, row_seed
from .transforms import BoundedTransform, Standardizer

__all__ = ["PosteriorLike", "DensityPosterior", "Posterior"]


@runtime_checkable
class PosteriorLike(Protocol):
    """An amortized posterior p(x | y) of dx parameters: numpy in, numpy out, parameters in physical units.

    Draws of observation i depend only on seed and its row number rows[i] (default i), not on batching."""

    @property
    def method(self) -> str:
        """The method's name ("cinn", "inn", ..., "cinn+is")."""

    @property
    def dx(self) -> int:
        """Number of parameters."""

    @property
    def x_names(self) -> list[str]:
        """Parameter names."""

    @property
    def metadata(self) -> dict[str, Any]:
        """What the model records about its training (JSON-serializable)."""

    def sample(self, y_obs: np.ndarray, n: int, seed: int = 0, rows: Sequence[int] | None = None) -> np.ndarray:
        """n draws per observation: y (dy,) -> (n, dx); y (B, dy) -> (B, n, dx)."""

    def draw(
        self,
        y_obs: np.ndarray,
        n: int,
        seed: int = 0,
        rows: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Draws (B, n, dx) of observations y (B, dy) and per-observation diagnostics {name: (B,)}."""

    def ood_score(self, y_obs: np.ndarray) -> np.ndarray:
        """Out-of-distribution score (B,) of observations (B, dy) relative to the training observations."""

    def is_ood(self, y_obs: np.ndarray) -> np.ndarray:
        """True (B,) for observations unlike every training observation."""


@runtime_checkable
class DensityPosterior(PosteriorLike, Protocol):
    """A posterior with a tractable density (where has_density is true)."""

    @property
    def has_density(self) -> bool:
        """Whether sample_and_log_prob and log_prob work."""

    def sample_and_log_prob(
        self,
        y_obs: np.ndarray,
        n: int,
        seed: int = 0,
        rows: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The draws of `sample` (B, n, dx) and their log p(x | y) (B, n)."""

    def log_prob(self, x: np.ndarray, y_obs: np.ndarray) -> np.ndarray:
        """log p(x | y) (N,) of x (N, dx) with y (N, dy) or one y (dy,)."""


class Posterior:
    """The PosteriorLike of a trained network (fit, load); a DensityPosterior for the cINN."""

    def __init__(
        self,
        method: str,
        net: torch.nn.Module,
        x_bounds: Sequence[tuple[float, float]],
        x_scaler: Standardizer,
        y_scaler: Standardizer,
        net_config: NetConfig,
        metadata: dict[str, Any] | None = None,
        ood: OODScorer | None = None,
    ):
        self.method = method
        self.net = net.eval()
        self.x_bounds = [tuple(map(float, b)) for b in x_bounds]
        self.bounded = BoundedTransform(self.x_bounds)
        self.x_scaler, self.y_scaler = x_scaler, y_scaler
        self.net_config = net_config
        self.metadata = metadata or {}
        self.ood = ood
        self.device = torch.device("cpu")

    @property
    def n_nuisance(self) -> int:
        """Trailing network columns that are the simulator's noise variables, marginalized (fit's n_nuisance)."""
        return int(self.metadata.get("n_nuisance", 0))

    @property
    def dx(self) -> int:
        """Number of parameters (the network's columns less the marginalized noise variables)."""
        return self.net.dx - self.n_nuisance

    @property
    def dy(self) -> int:
        """Number of observed features."""
        return self.net.dy

    @property
    def x_names(self) -> list[str]:
        """Parameter names (from the metadata; x0, x1, ... by default)."""
        return list(self.metadata.get("x_names") or [f"x{i}" for i in range(self.dx)])

    @property
    def has_density(self) -> bool:
        """Whether log_prob and sample_and_log_prob work: the cINN's density is tractable (unless it marginalizes
        noise variables), the others' are not."""
        return self.method == "cinn" and self.n_nuisance == 0

    def to(self, device: str | torch.device) -> "Posterior":
        """Move the network to a device ("cpu", "cuda", "auto" = best available)."""
        self.device = resolve_device(device)
        self.net.to(self.device)
        return self

    def _y_tensor(self, y: np.ndarray | torch.Tensor) -> torch.Tensor:
        y_t = torch.as_tensor(np.asarray(y, dtype=np.float32) if not torch.is_tensor(y) else y, dtype=torch.float32)
        if y_t.shape[-1] != self.dy:
            raise ValueError(f"observations have {y_t.shape[-1]} features, the model expects {self.dy}")
        return self.y_scaler.forward(y_t.to(self.device).double()).float()

    def sample(
        self,
        y_obs: np.ndarray | torch.Tensor,
        n: int,
        seed: int = 0,
        rows: Sequence[int] | None = None,
        chunk_rows: int = 1 << 18,
    ) -> np.ndarray:
        """Draw n posterior samples per observation: y (dy,) -> (n, dx); y (B, dy) -> (B, n, dx).

        Observation i's samples depend only on seed and its row number rows[i] (default i; invert.core.noise),
        not on batching or on the other observations: a scan analysed in chunks gives the samples of one pass."""
        return self._sample(y_obs, n, seed, rows, chunk_rows, with_log_prob=False)[0]

    def sample_and_log_prob(
        self,
        y_obs: np.ndarray,
        n: int,
        seed: int = 0,
        rows: Sequence[int] | None = None,
        chunk_rows: int = 1 << 18,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The draws of `sample` (B, n, dx) and their log p(x | y) (B, n) from the same pass (cINN only)."""
        if not self.has_density:
            raise NotImplementedError("log densities need the cINN (method='cinn') without noise variables")
        return self._sample(np.atleast_2d(y_obs), n, seed, rows, chunk_rows, with_log_prob=True)

    def draw(
        self,
        y_obs: np.ndarray,
        n: int,
        seed: int = 0,
        rows: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Samples (B, n, dx) of observations y (B, dy) and per-observation diagnostics (none for a network alone)."""
        return self.sample(np.atleast_2d(y_obs), n, seed=seed, rows=rows), {}

    @torch.no_grad()
    def _sample(
        self,
        y_obs: np.ndarray | torch.Tensor,
        n: int,
        seed: int,
        rows: Sequence[int] | None,
        chunk_rows: int,
        with_log_prob: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Samples of `sample` and, if asked, their log densities, chunk_rows draws at a time."""
        y_arr = y_obs if torch.is_tensor(y_obs) else np.asarray(y_obs, dtype=np.float32)
        single = y_arr.ndim == 1
        y_s = self._y_tensor(y_arr.reshape(1, -1) if single else y_arr)
        row_ids = torch.as_tensor(np.arange(len(y_s)) if rows is None else np.asarray(rows), dtype=torch.int64)
        if row_ids.shape != (len(y_s),):
            raise ValueError(f"rows has shape {tuple(row_ids.shape)} for {len(y_s)} observations")
        out = np.empty((y_s.shape[0], n, self.dx), dtype=np.float32)
        log_q = np.empty((y_s.shape[0], n)) if with_log_prob else None
        per_chunk = max(1, chunk_rows // n)
        for start in range(0, y_s.shape[0], per_chunk):
            part = slice(start, start + per_chunk)
            x, lq = self._sample_rows(y_s[part], n, seed, row_ids[part].to(self.device), with_log_prob)
            out[part] = x.cpu().numpy()
            if log_q is not None:
                log_q[part] = lq.cpu().numpy()
        return (out[0], None if log_q is None else log_q[0]) if single else (out, log_q)

    def _sample_rows(
        self,
        y_s: torch.Tensor,
        n: int,
        seed: int,
        rows: torch.Tensor,
        with_log_prob: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """n posterior draws (B, n, dx) for each row of standardized y (B, dy), with the noise of row numbers rows,
        and for the cINN, if asked, their log densities (B, n)."""
        b = y_s.shape[0]
        y_rep = y_s.repeat_interleave(n, dim=0)
        log_q = None
        if self.method == "cinn":
            z = row_normals(seed, rows, n, self.net.dx).reshape(-1, self.net.dx)
            u_s, log_q = flow_sample(self.net, z, y_rep, with_log_prob)
        elif self.method == "inn":  # the INN learned g(y + noise, z): condition on y with the noise of its training
            noise = row_normals(seed, rows, n, self.net.dz + self.dy).reshape(b * n, -1)
            y_noise = torch.as_tensor(self.metadata.get("y_noise", 0.0), dtype=y_rep.dtype, device=y_rep.device)
            u_s = self.net.inverse_x(noise[:, : self.net.dz], y_rep + y_noise * noise[:, self.net.dz :])
        else:  # baselines draw their own noise: one generator per row keeps rows independent of batching
            generators = [torch.Generator(device=self.device).manual_seed(row_seed(seed, r)) for r in rows.tolist()]
            draws = [self.net.sample(y_s[i].expand(n, -1), gen) for i, gen in enumerate(generators)]
            u_s = torch.cat(draws)
        x = self.bounded.inverse(self.x_scaler.inverse(u_s.double()))[:, : self.dx]  # noise variables dropped
        if log_q is not None:  # change of variables z -> standardized u -> u -> x
            log_q = log_q + self.x_scaler.log_abs_det_forward() + self.bounded.log_abs_det_forward(x)
            log_q = log_q.reshape(b, n)
        return x.float().reshape(b, n, self.dx), log_q

    @torch.no_grad()
    def log_prob(self, x: np.ndarray | torch.Tensor, y_obs: np.ndarray | torch.Tensor) -> np.ndarray:
        """log p(x | y) in physical units (cINN only): x (N, dx) with y (N, dy) or one y (dy,)."""
        if not self.has_density:
            raise NotImplementedError(
                "log_prob needs the cINN (method='cinn') without noise variables; other posteriors have no tractable"
                " density"
            )
        x_t = torch.as_tensor(np.asarray(x, dtype=np.float64)).to(self.device)
        y_arr = np.asarray(y_obs, dtype=np.float32)
        y_s = self._y_tensor(np.broadcast_to(y_arr, (x_t.shape[0], self.dy)).copy())
        u = self.bounded.forward(x_t)
        u_s = self.x_scaler.forward(u).float()
        log_q = flow_log_density(self.net, u_s, y_s)
        log_jac = self.x_scaler.log_abs_det_forward() + self.bounded.log_abs_det_forward(x_t)
        return (log_q + log_jac).cpu().numpy()

    def ood_score(self, y_obs: np.ndarray) -> np.ndarray:
        """Out-of-distribution score of observations (B, dy) relative to the training observations."""
        return self.ood.score(y_obs)

    def is_ood(self, y_obs: np.ndarray) -> np.ndarray:
        """True for observations unlike every training observation (score above the 99.9 % training quantile)."""
        return self.ood.is_ood(y_obs)

    def save(self, path: str | os.PathLike) -> None:
        """Write the model bundle (safetensors weights + JSON metadata), atomically; `invert.core.load` reads it."""
        save_bundle(self, path)
