"""The shipped ClusterLite line grid and its trilinear interpolation in log space (docs/stars.md
section 2, eq. 1): log10 Lambda_j(log10 Z, logU, log10 t), Lambda_j in Lsun per Msun formed."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from astropy.io import fits

from .linelist import CLOUDY_LABELS

GRID_FILE = "clusterlite_lines_v1.fits"

__all__ = ["GRID_FILE", "LineGrid", "load_grid", "default_grid_path"]


def default_grid_path() -> Path:
    """Path of the grid file shipped in invert.data.stars."""
    return Path(str(resources.files("invert.data.stars") / GRID_FILE))


@dataclass(frozen=True, eq=False)
class LineGrid:
    """log10 Lambda_j at the nodes (Z, logU, age, line) and a batched torch interpolator over them."""

    log_lambda: np.ndarray  # (nZ, nU, nT, n_lines) log10 Lsun/Msun, float64 of the stored float32
    log_z: np.ndarray  # log10 Z/Zsun nodes, ascending
    logu: np.ndarray  # logU nodes
    logt: np.ndarray  # log10 age/yr nodes
    labels: tuple[str, ...]
    l_sun: float  # erg/s
    sha256: str  # of the grid file
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node coordinates (log10 Z, logU, log10 t)."""
        return self.log_z, self.logu, self.logt

    def _tensors(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """Flattened table (nZ*nU*nT, n_lines) and the three node vectors on device/dtype (cached)."""
        key = (str(device), dtype)
        if key not in self._cache:
            table = torch.as_tensor(self.log_lambda.reshape(-1, len(self.labels)), dtype=dtype, device=device)
            self._cache[key] = (table, *(torch.as_tensor(a, dtype=dtype, device=device) for a in self.axes))
        return self._cache[key]

    def interpolate(self, log_z: torch.Tensor, logu: torch.Tensor, logt: torch.Tensor) -> torch.Tensor:
        """log10 Lambda_j (n, n_lines) at points (n,), trilinear in the node cell; inputs clamped to the node hull."""
        table, *nodes = self._tensors(log_z.device, log_z.dtype)
        idx, w = zip(*(_locate(a, v.to(a)) for a, v in zip(nodes, (log_z, logu, logt))))
        n_u, n_t = len(self.logu), len(self.logt)
        base = (idx[0] * n_u + idx[1]) * n_t + idx[2]
        out = 0.0
        for dz in (0, 1):
            for du in (0, 1):
                for dt in (0, 1):
                    weight = (w[0] if dz else 1 - w[0]) * (w[1] if du else 1 - w[1]) * (w[2] if dt else 1 - w[2])
                    out = out + weight[:, None] * table[base + (dz * n_u + du) * n_t + dt]
        return out


def _locate(nodes: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell index i (nodes[i] <= v <= nodes[i+1]) and fractional position w in [0, 1] of clamped v."""
    v = v.clamp(nodes[0], nodes[-1])
    i = (torch.searchsorted(nodes, v, right=True) - 1).clamp(0, len(nodes) - 2)
    return i, (v - nodes[i]) / (nodes[i + 1] - nodes[i])


@functools.lru_cache(maxsize=4)
def load_grid(path: str | None = None, labels: tuple[str, ...] = CLOUDY_LABELS) -> LineGrid:
    """Read the grid file (default: the shipped one) for the given Cloudy line labels."""
    path = Path(path) if path else default_grid_path()
    raw = path.read_bytes()
    with fits.open(path) as hdul:
        h = hdul[0].header
        data = np.asarray(hdul[0].data, dtype=np.float64)
        table_labels = [s.strip() for s in hdul["LINES"].data["LABEL"]]
    missing = [lab for lab in labels if lab not in table_labels]
    if missing:
        raise ValueError(f"{path}: lines {missing} not in the grid")
    cols = [table_labels.index(lab) for lab in labels]
    sel = data[..., cols]
    if not np.all(sel > 0):
        raise ValueError(f"{path}: non-positive line luminosities for the selected lines")
    log_z = np.log10([h[f"ZMET{i + 1}"] for i in range(data.shape[0])])
    logu = np.array([h[f"LOGU{i + 1}"] for i in range(data.shape[1])], dtype=np.float64)
    logt = np.array([h[f"LOGT{i + 1}"] for i in range(data.shape[2])], dtype=np.float64)
    return LineGrid(np.log10(sel), log_z, logu, logt, tuple(labels), float(h["LSUN"]), hashlib.sha256(raw).hexdigest())
