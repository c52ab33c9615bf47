"""`TissueProblem`: blood oxygenation from the band reflectances of a camera on a 3-layer colon-tissue model.

x (13): [sO2, vhb1, amie1, g1, d1, vhb2, amie2, g2, d2, vhb3, amie3, g3, d3], layer 1 on top
(docs/tissue.md). y: preprocessed band reflectances, one per camera band (default: the 8-band camera of
IPCAI 2016). Forward model: optics.py (mu_a, mu_s') -> adding_doubling.py (Rd per wavelength) -> camera.py
(band filters, noise, preprocessing).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import optics
from .adding_doubling import AddingDoubling
from .camera import Camera, add_noise, camera_from_dict, load_camera, preprocess_raw, preprocess_reflectance

N_LAYERS = 3
LAYER_INDEX = (1.36, 1.36, 1.38)  # refractive index of layers 1-3 (air above and below)
AMIE_MEAN, AMIE_STD = 18.9, 10.2  # cm^-1, truncated normal prior of a_mie

# (name, unit, prior low, prior high, hard bounds); amie prior is a truncated normal on its bounds
_PARAMETERS = [("sO2", "1", 0.0, 1.0, (0.0, 1.0))]
for _i, (_d_lo, _d_hi) in enumerate([(0.600, 1.010), (0.415, 0.847), (0.395, 0.603)], start=1):
    _PARAMETERS += [
        (f"vhb{_i}", "1", 1e-4, 0.10, (0.0, 0.10)),
        (f"amie{_i}", "cm^-1", 0.1, 60.0, (0.1, 60.0)),
        (f"g{_i}", "1", 0.80, 0.95, (0.80, 0.95)),
        (f"d{_i}", "mm", _d_lo, _d_hi, (_d_lo, _d_hi)),
    ]

__all__ = ["TissueProblem", "problem_for"]


def _amie_cdf(value: float) -> float:
    """CDF of the untruncated normal N(18.9, 10.2^2) of a_mie."""
    return 0.5 * (1.0 + math.erf((value - AMIE_MEAN) / (AMIE_STD * math.sqrt(2.0))))


SOLVER_VERSION = "tissue-ad{quad_pts}-deltaM-fresnel1.36/1.38"


class TissueProblem:
    """Prior (profile `ipcai-colon`), simulator and preprocessing of the tissue-oxygenation problem."""

    name = "tissue"
    x_names = tuple(p[0] for p in _PARAMETERS)
    x_units = tuple(p[1] for p in _PARAMETERS)
    x_bounds = tuple(p[4] for p in _PARAMETERS)

    def __init__(
        self,
        snr: float | None = None,
        quad_pts: int = 16,
        dtype: torch.dtype = torch.float32,
        camera: Camera | None = None,
        chunk_elements: int | None = None,
    ) -> None:
        """camera: default the IPCAI 2016 camera; snr: one SNR for every band (default: the camera's);
        quad_pts: angles per hemisphere; chunk_elements: sample*wavelength elements per solver call
        (default 8192 on CPU, 131072 on CUDA)."""
        self.camera = (camera or load_camera()).with_snr(snr)
        self.snr = self.camera.effective_snr  # one number for messages and the re-simulation noise level
        self.quad_pts, self.dtype, self.chunk_elements = quad_pts, dtype, chunk_elements
        self.y_names = tuple(self.camera.band_names)
        self.solver = AddingDoubling(LAYER_INDEX[0], LAYER_INDEX[-1], quad_pts)
        wavelengths = self.camera.solver_wavelengths()
        eps_hbo2, eps_hb = optics.extinction(wavelengths)
        self._wavelengths = torch.tensor(wavelengths, dtype=torch.float64)
        self._eps = torch.tensor(np.stack([eps_hbo2, eps_hb]), dtype=torch.float64)  # (2, n_wl)
        self._bands = torch.tensor(self.camera.band_matrix(), dtype=torch.float64)  # (bands, n_wl)
        self.version = f"{SOLVER_VERSION.format(quad_pts=quad_pts)}-{self.camera.token()}-clip1e-5-lognorm-v1"

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """x ~ prior `ipcai-colon`: uniforms, and a_mie ~ N(18.9, 10.2^2) truncated to [0.1, 60] (float32)."""
        device = generator.device
        u = torch.rand(n, len(_PARAMETERS), generator=generator, device=device, dtype=torch.float64)
        lo = torch.tensor([p[2] for p in _PARAMETERS], dtype=torch.float64, device=device)
        hi = torch.tensor([p[3] for p in _PARAMETERS], dtype=torch.float64, device=device)
        x = lo + (hi - lo) * u
        # truncated normal by inverse CDF: u in (Phi(alpha), Phi(beta))
        p_lo, p_hi = _amie_cdf(0.1), _amie_cdf(60.0)
        amie = [self.x_names.index(f"amie{i}") for i in range(1, N_LAYERS + 1)]
        q = p_lo + (p_hi - p_lo) * u[:, amie]
        x[:, amie] = (AMIE_MEAN + AMIE_STD * math.sqrt(2.0) * torch.special.erfinv(2.0 * q - 1.0)).clamp(0.1, 60.0)
        return x.to(torch.float32)

    def layer_optics(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """mu_a, mu_s (1/cm), g and d (cm), each (n, n_wavelengths, 3), from x (n, 13)."""
        x = x.to(torch.float64)
        layers = x[:, 1:].reshape(-1, N_LAYERS, 4)  # (n, layer, [vhb, amie, g, d])
        vhb, amie, g, d_mm = (layers[:, None, :, j] for j in range(4))  # (n, 1, 3)
        eps = self._eps.to(x.device)[:, None, :, None]  # (2, 1, n_wl, 1)
        wl = self._wavelengths.to(x.device)[None, :, None]
        mu_a = optics.mu_a(x[:, 0, None, None], vhb, eps[0], eps[1])
        mu_s = optics.mu_s_reduced(amie, wl) / (1.0 - g)
        shape = mu_a.shape
        return mu_a, mu_s.expand(shape), g.expand(shape), optics.mm_to_cm(d_mm).expand(shape)

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """Monochromatic diffuse reflectance Rd at the solver wavelengths, (n, n_wavelengths), float64."""
        mu_a, mu_s, g, d = (v.reshape(-1, N_LAYERS) for v in self.layer_optics(x))
        step = self.chunk_elements or (131072 if x.is_cuda else 8192)
        rd = (
            torch.cat(
                [
                    self.solver.reflectance(mu_a[i : i + step], mu_s[i : i + step], g[i : i + step], d[i : i + step])
                    for i in range(0, mu_a.shape[0], step)
                ]
            )
            if mu_a.shape[0]
            else mu_a.new_zeros(0)
        )
        return rd.reshape(x.shape[0], -1)

    def reflectance(self, x: torch.Tensor) -> torch.Tensor:
        """Band-averaged diffuse reflectance (n, bands), float64, noise-free."""
        return self.spectrum(x) @ self._bands.to(x.device).T

    def observe(self, reflectance: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noisy preprocessed observations y from noise-free band reflectances (n, bands)."""
        return preprocess_reflectance(add_noise(reflectance, self.camera.snr, generator)).to(self.dtype)

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noisy preprocessed observations y (n, bands) on x's device."""
        return self.observe(self.reflectance(x), generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Noise-free preprocessed observations y (n, bands)."""
        return preprocess_reflectance(self.reflectance(x)).to(self.dtype)

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Raw band intensities (n, bands), ascending band order, any positive scale -> y; invalid rows -> NaN."""
        raw = np.asarray(raw)
        if raw.ndim != 2 or raw.shape[1] != len(self.y_names):
            raise ValueError(f"expected raw band values of shape (n, {len(self.y_names)}), got {raw.shape}")
        return preprocess_raw(raw)


def problem_for(meta: dict) -> TissueProblem:
    """The tissue problem a model or simulation file was made for, from its metadata: its camera (files made
    before camera files record only an SNR: the IPCAI 2016 camera at that SNR)."""
    if "camera" in meta:
        return TissueProblem(camera=camera_from_dict(meta["camera"], where="camera stored in the file"))
    return TissueProblem(snr=float(meta.get("snr", 10.0)))
