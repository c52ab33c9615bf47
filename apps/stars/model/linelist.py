"""The 12 optical emission lines of ClusterLite (docs/stars.md): names, Cloudy labels,
air and vacuum wavelengths, and the groups fitted together when lines are measured from a spectrum."""

from __future__ import annotations

import numpy as np

NAMES = (
    "OII3726",
    "OII3729",
    "Hbeta",
    "OIII4959",
    "OIII5007",
    "HeI5876",
    "OI6300",
    "NII6548",
    "Halpha",
    "NII6583",
    "SII6716",
    "SII6731",
)
CLOUDY_LABELS = (
    "O  2  3726.03A",
    "O  2  3728.81A",
    "H  1  4861.32A",
    "O  3  4958.91A",
    "O  3  5006.84A",
    "Blnd  5875.66A",
    "O  1  6300.30A",
    "N  2  6548.05A",
    "H  1  6562.80A",
    "N  2  6583.45A",
    "S  2  6716.44A",
    "S  2  6730.82A",
)
AIR_AA = np.array(
    [3726.03, 3728.81, 4861.32, 4958.91, 5006.84, 5875.66, 6300.30, 6548.05, 6562.80, 6583.45, 6716.44, 6730.82]
)
HBETA = NAMES.index("Hbeta")
HALPHA = NAMES.index("Halpha")
# lines fitted together (shared velocity and width) on one linear continuum
GROUPS = (
    ("OII3726", "OII3729"),
    ("Hbeta",),
    ("OIII4959", "OIII5007"),
    ("HeI5876",),
    ("OI6300",),
    ("NII6548", "Halpha", "NII6583"),
    ("SII6716", "SII6731"),
)


def air_refractive_index(vacuum_aa: np.ndarray) -> np.ndarray:
    """Refractive index of standard air at a vacuum wavelength in Angstrom (IAU / Morton 2000)."""
    s2 = (1e4 / np.asarray(vacuum_aa, dtype=np.float64)) ** 2
    return 1 + 8.34254e-5 + 2.406147e-2 / (130 - s2) + 1.5998e-4 / (38.9 - s2)


def air_to_vacuum(air_aa: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Vacuum wavelength (Angstrom) of an air wavelength, by fixed-point iteration of lambda_vac = n * lambda_air."""
    air = np.asarray(air_aa, dtype=np.float64)
    vac = air.copy()
    for _ in range(iterations):
        vac = air * air_refractive_index(vac)
    return vac


def vacuum_to_air(vacuum_aa: np.ndarray) -> np.ndarray:
    """Air wavelength (Angstrom) of a vacuum wavelength."""
    vac = np.asarray(vacuum_aa, dtype=np.float64)
    return vac / air_refractive_index(vac)


VACUUM_AA = air_to_vacuum(AIR_AA)
