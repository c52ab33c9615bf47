"""Distances for flux <-> luminosity (docs/stars.md, "Equations"): L = 4 pi D_L^2 F."""

from __future__ import annotations

import math

import numpy as np

MPC_CM = 3.0857e24  # cm per Mpc
H0, OM0 = 70.0, 0.3  # bagpipes' flat Lambda-CDM

__all__ = ["MPC_CM", "luminosity_distance_cm", "distance_cm", "log_area_cm2"]


def luminosity_distance_cm(z: float | np.ndarray) -> np.ndarray:
    """Luminosity distance (cm) at redshift z in FlatLambdaCDM(H0=70, Om0=0.3)."""
    from astropy.cosmology import FlatLambdaCDM

    z = np.asarray(z, dtype=np.float64)
    if np.any(~np.isfinite(z)) or np.any(z < 0):
        raise ValueError("redshift must be finite and >= 0")
    return np.asarray(FlatLambdaCDM(H0=H0, Om0=OM0).luminosity_distance(z).value) * MPC_CM


def distance_cm(distance_mpc: float | None = None, redshift: float | None = None) -> float:
    """D in cm from an explicit distance (Mpc, wins) or else from the redshift."""
    if distance_mpc is not None:
        if not (math.isfinite(distance_mpc) and distance_mpc > 0):
            raise ValueError(f"distance must be a positive number of Mpc, got {distance_mpc}")
        return float(distance_mpc) * MPC_CM
    if redshift is None:
        raise ValueError("need a distance or a redshift")
    if redshift <= 0:
        raise ValueError(f"redshift {redshift} gives no luminosity distance; pass a distance in Mpc")
    return float(luminosity_distance_cm(redshift))


def log_area_cm2(distance_cm: float | np.ndarray) -> np.ndarray:
    """log10(4 pi D^2), D in cm: add to log10 flux (erg/s/cm2) to get log10 luminosity (erg/s)."""
    return np.log10(4.0 * np.pi) + 2.0 * np.log10(np.asarray(distance_cm, dtype=np.float64))
