"""Multispectral camera model: 10 nm box band filters, multiplicative noise, and the observation preprocessing.

Camera of Wirkert et al. (IPCAI 2016): 8 bands, stored in ascending order. A band value is the
mean of Rd over [c - 5, c + 5] nm, integrated with the trapezoid rule on the 11 integer
wavelengths c - 5 ... c + 5 (weights (0.5, 1, ..., 1, 0.5) / 10).

Preprocessing (swirkert/ipcai2016 regression/preprocessing.py): y = unit-length(-ln(R / sum_b R)).
It removes any per-row positive scale, so raw camera counts and reflectances give the same y.
Simulated reflectances are first clipped to the physical range [1e-5, 1] (noise can make them
negative); user data are only required to be positive and finite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch

R_MIN, R_MAX = 1e-5, 1.0  # physical clip range of simulated reflectance

__all__ = ["Camera", "add_noise", "features", "load_camera", "preprocess_raw", "preprocess_reflectance"]


@dataclass(frozen=True)
class Camera:
    """Band centres (nm, ascending), box filter width (nm) and default per-band SNR."""

    band_centers_nm: tuple[int, ...]
    box_width_nm: int = 10
    snr: float = 10.0

    @property
    def band_names(self) -> list[str]:
        """Observation names, e.g. 'R470'."""
        return [f"R{c}" for c in self.band_centers_nm]

    def solver_wavelengths(self) -> np.ndarray:
        """The integer wavelengths (nm) at which Rd is computed: c - w/2 ... c + w/2 for every band, band-major."""
        half = self.box_width_nm // 2
        return np.concatenate([np.arange(c - half, c + half + 1) for c in self.band_centers_nm]).astype(float)

    def band_matrix(self) -> np.ndarray:
        """Matrix (n_bands, n_wavelengths) of trapezoid weights: band value = M @ Rd(solver wavelengths)."""
        n_pts = self.box_width_nm + 1
        w = np.ones(n_pts)
        w[[0, -1]] = 0.5
        w /= self.box_width_nm
        m = np.zeros((len(self.band_centers_nm), len(self.band_centers_nm) * n_pts))
        for b in range(len(self.band_centers_nm)):
            m[b, b * n_pts : (b + 1) * n_pts] = w
        return m


def load_camera(name: str = "camera_ipcai2016.json") -> Camera:
    """Load a shipped camera description from `invert.data/tissue/`."""
    with resources.files("invert.data").joinpath(f"tissue/{name}").open("r", encoding="utf-8") as f:
        spec = json.load(f)
    if spec.get("filter_model", "box") != "box":
        raise ValueError(f"unsupported filter model {spec['filter_model']!r}")
    width = float(spec["box_width_nm"])
    if width != int(width) or int(width) % 2:
        raise ValueError("box_width_nm must be an even integer")
    return Camera(tuple(int(c) for c in spec["band_centers_nm"]), int(width), float(spec["snr_default"]))


def add_noise(r: torch.Tensor, snr: float, generator: torch.Generator) -> torch.Tensor:
    """Multiplicative Gaussian noise per band: R + (R / snr) * N(0, 1)."""
    eps = torch.randn(r.shape, generator=generator, device=r.device, dtype=r.dtype)
    return r + (r / snr) * eps


def features(r: torch.Tensor) -> torch.Tensor:
    """Scale-free observation y = unit-length(-ln(R / sum_b R)) of positive band values R (n, bands)."""
    f = -torch.log(r / r.sum(dim=-1, keepdim=True))
    return f / torch.linalg.vector_norm(f, dim=-1, keepdim=True)


def preprocess_reflectance(r: torch.Tensor) -> torch.Tensor:
    """Simulated (possibly noisy) reflectance -> y: clip to [1e-5, 1], then `features`."""
    return features(r.clamp(R_MIN, R_MAX))


def preprocess_raw(raw: np.ndarray) -> np.ndarray:
    """User band intensities (n, bands), any positive per-row scale -> y (float32); a row with a value <= 0 or
    a non-finite value gives NaN.

    The sum normalisation comes first, so the scale of counts never meets the [1e-5, 1] clip of
    simulated reflectance; for reflectances within [1e-5, 1] both paths give the same y.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2:
        raise ValueError(f"raw must have shape (n, bands), got {raw.shape}")
    bad = ~np.all(np.isfinite(raw) & (raw > 0), axis=1)
    safe = np.where(bad[:, None], 1.0, raw)
    y = features(torch.from_numpy(safe)).numpy()
    y[bad] = np.nan
    return y.astype(np.float32)
