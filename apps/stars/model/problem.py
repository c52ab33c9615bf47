"""`StarsProblem`: young-cluster / HII-region parameters from 12 optical emission lines ("ClusterLite").

x = (logM, logt, logZ, logU, A_V), or (logt, logZ, logU, A_V) in ratios-only mode (docs/stars.md
section 1). Forward model (section 2): log10 L_j = logM + log10 Lambda_j(Z, U, t) + log10 L_sun - 0.4 A_V a_j,
Lambda_j from the shipped grid (grid.py), a_j of CCM89 or Calzetti (dust.py). Noise, censoring,
masking and the y encoding (section 3): measurement_model.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import dust
from .cosmology import log_area_cm2
from .grid import LineGrid, load_grid
from .linelist import NAMES
from .measurement_model import (
    COVERAGE_GAPS,
    ENCODING,
    R_RANGE,
    Measurement,
    draw_measurement,
    encode,
    in_limits,
    nominal_measurement,
    y_names,
)

PROFILES = {"default": math.log10(0.2), "wide": math.log10(0.02)}  # lower logZ bound (0.2 or 0.02 Zsun)
# (name, unit, prior low, prior high); logZ's low end depends on the profile
_PARAMETERS = [
    ("logM", "log10(Msun)", 4.0, 7.0),
    ("logt", "log10(yr)", 6.0, 7.4),
    ("logZ", "log10(Z/Zsun)", None, 0.0),
    ("logU", "dex", -4.0, -1.0),
    ("A_V", "mag", 0.0, 3.0),
]

__all__ = ["StarsProblem", "PROFILES"]


class StarsProblem:
    """Prior, simulator and preprocessing of the ClusterLite emission-line problem."""

    name = "stars"

    def __init__(
        self,
        ratios_only: bool = False,
        profile: str = "default",
        dust_law: str = "ccm89",
        grid: LineGrid | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """ratios_only: no distance, logM dropped from x and L_Hbeta from y; profile: "default" (Z 0.2-1 Zsun)
        or "wide" (0.02-1 Zsun); dust_law: "ccm89" or "calzetti"."""
        if profile not in PROFILES:
            raise ValueError(f"unknown prior profile {profile!r}; choose one of {', '.join(PROFILES)}")
        self.ratios_only, self.profile, self.dust_law, self.dtype = ratios_only, profile, dust_law, dtype
        self.grid = grid or load_grid()
        self.a_j = dust.line_coefficients(dust_law)  # (12,), A_j / A_V
        params = [(n, u, PROFILES[profile] if lo is None else lo, hi) for n, u, lo, hi in _PARAMETERS]
        params = params[1:] if ratios_only else params
        self.x_names = tuple(p[0] for p in params)
        self.x_units = tuple(p[1] for p in params)
        self.x_bounds = tuple((p[2], p[3]) for p in params)
        self.y_names = y_names(absolute=not ratios_only)
        self.version = (
            f"stars-clusterlite-v1-grid{self.grid.sha256[:12]}-loginterp3-{dust_law}-{ENCODING}"
            f"-{'ratios' if ratios_only else 'absolute'}-prior-{profile}"
        )

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """x ~ independent uniforms on x_bounds, (n, dx) float32."""
        lo, hi = (torch.tensor(v, dtype=torch.float64, device=generator.device) for v in zip(*self.x_bounds))
        u = torch.rand(n, len(self.x_names), generator=generator, device=generator.device, dtype=torch.float64)
        return (lo + (hi - lo) * u).to(torch.float32)

    def _columns(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(logM, logt, logZ, logU, A_V) columns of x; logM = 0 (per Msun formed) in ratios-only mode."""
        if x.ndim != 2 or x.shape[1] != len(self.x_names):
            raise ValueError(f"expected x of shape (n, {len(self.x_names)}), got {tuple(x.shape)}")
        cols = x.unbind(1)
        return ((torch.zeros_like(cols[0]),) + cols) if self.ratios_only else cols

    def log_line_luminosities(self, x: torch.Tensor, attenuated: bool = True) -> torch.Tensor:
        """log10 L_j [erg/s] (n, 12), dtype and device of x (per Msun formed in ratios-only mode)."""
        log_m, logt, log_z, logu, a_v = self._columns(x)
        log_l = self.grid.interpolate(log_z, logu, logt) + (log_m + math.log10(self.grid.l_sun))[:, None]
        if attenuated:
            log_l = log_l - 0.4 * a_v[:, None] * torch.as_tensor(self.a_j, dtype=x.dtype, device=x.device)
        return log_l

    def line_luminosities(self, x: torch.Tensor, attenuated: bool = True) -> torch.Tensor:
        """L_j [erg/s] (n, 12), float64 (values exceed the float32 range), on x's device."""
        return 10.0 ** self.log_line_luminosities(x.to(torch.float64), attenuated)

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noisy, censored, randomly masked observations y (n, dy) (docs/stars.md)."""
        m = draw_measurement(self.log_line_luminosities(x.to(self.dtype)), generator)
        return encode(m, absolute=not self.ratios_only)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Noise-free y (n, dy): every line observed at its true value with 5 % errors."""
        m = nominal_measurement(self.log_line_luminosities(x.to(self.dtype)))
        return encode(m, absolute=not self.ratios_only)

    def preprocess_lines(
        self,
        fluxes: np.ndarray,
        errors: np.ndarray,
        observed: np.ndarray | None = None,
        distance_cm: float | np.ndarray | None = None,
    ) -> np.ndarray:
        """Measured line fluxes and 1-sigma errors (n, 12), linelist order -> y (n, dy), float32.

        With distance_cm (scalar or (n,)) the inputs are fluxes in erg/s/cm2 and become luminosities
        via 4 pi D^2; without it they are taken as luminosities in erg/s (absolute mode) or in any common
        unit (ratios-only mode). A line is unobserved where `observed` is False or its flux or error is
        NaN, infinite or beyond measurement_model.VALUE_LIMITS (e.g. an error of 5e-324). Negative fluxes are
        non-detections. Rows without a detected Hbeta are NaN (flag `no_hbeta`). Errors below
        measurement_model.R_RANGE[0] (1 %) of the flux are raised to it: the training never saw smaller ones, and
        the 0.02 dex model floor dominates there anyway.
        """
        f, e = (np.atleast_2d(np.asarray(v, dtype=np.float64)) for v in (fluxes, errors))
        if f.shape != e.shape or f.shape[1] != len(NAMES):
            raise ValueError(f"expected fluxes and errors of shape (n, {len(NAMES)}), got {f.shape} and {e.shape}")
        ok = in_limits(f, e)  # finite, |flux| and error within VALUE_LIMITS
        if observed is not None:
            ok &= np.broadcast_to(np.asarray(observed, dtype=bool), f.shape)
        e = np.maximum(e, R_RANGE[0] * np.abs(f))
        log_sigma = np.log10(np.where(ok, e, 1.0))
        if distance_cm is not None:
            log_sigma = log_sigma + np.reshape(log_area_cm2(distance_cm), (-1, 1))
        snr = np.where(ok, f / np.where(ok, e, 1.0), 0.0)
        m = Measurement(torch.from_numpy(log_sigma), torch.from_numpy(snr), torch.from_numpy(ok))
        return encode(m, absolute=not self.ratios_only).to(torch.float32).numpy()

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """raw (n, 24) = [L_1..L_12, sigma_1..sigma_12] in erg/s, linelist order, NaN = unobserved -> y (n, dy)."""
        raw = np.atleast_2d(np.asarray(raw, dtype=np.float64))
        if raw.ndim != 2 or raw.shape[1] != 2 * len(NAMES):
            raise ValueError(f"expected raw line values of shape (n, {2 * len(NAMES)}), got {raw.shape}")
        return self.preprocess_lines(raw[:, : len(NAMES)], raw[:, len(NAMES) :])


BLUE_LINES = tuple(n for n in NAMES if n not in COVERAGE_GAPS[1])  # Halpha, [NII], [SII] out of coverage


class FixedErrorStars(StarsProblem):
    """The same problem observed with every line (or every line of `lines`) detected at one relative error r
    (no random masks, no censoring): the test set and the ABC pool of `invert stars evaluate`, as in
    benchmarks/stars.py; lines=BLUE_LINES is a spectrum without the red lines, where logZ has two branches."""

    def __init__(self, r: float = 0.05, lines: tuple[str, ...] = NAMES, **kwargs) -> None:
        super().__init__(**kwargs)
        self.r = r
        self.observed = torch.tensor([n in lines for n in NAMES])

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """y with the lines at relative error r."""
        m = draw_measurement(
            self.log_line_luminosities(x.to(self.dtype)),
            generator,
            mask_prob=0.0,
            r_range=(self.r, self.r),
            coverage_prob=0.0,
        )
        m.observed &= self.observed.to(m.observed.device)
        return encode(m, absolute=not self.ratios_only)
