"""Optical properties of the tissue layers: blood absorption mu_a and Mie-like reduced scattering mu_s'.

Model of Wirkert et al. (IPCAI 2016, repo swirkert/ipcai2016, mc/usuag.py):

    mu_a(lambda)  = ln(10) * c_Hb / M_Hb * vhb * (sO2 eps_HbO2(lambda) + (1 - sO2) eps_Hb(lambda))   [1/cm]
    mu_s'(lambda) = a_mie * (lambda / 500 nm) ** (-b_mie)                                              [1/cm]

with eps from S. Prahl's OMLC table (cm^-1/M), c_Hb = 120 g/L, M_Hb = 64 500 g/mol.
Units here: 1/cm for coefficients, mm for layer thickness (converted with `mm_to_cm`).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

C_HB_G_PER_L = 120.0  # haemoglobin concentration of whole blood
M_HB_G_PER_MOL = 64500.0  # molar mass of haemoglobin (tetramer)
B_MIE = 1.286  # scattering power (fixed, colon profile)
LAMBDA_REF_NM = 500.0  # reference wavelength of a_mie
PRAHL_COLUMNS = ("wavelength_nm", "eps_HbO2_cm-1_M-1", "eps_Hb_cm-1_M-1")
MU_A_PER_EPS = np.log(10.0) * C_HB_G_PER_L / M_HB_G_PER_MOL  # 4.2839e-3 M per (vhb * cm^-1/M)

__all__ = [
    "B_MIE",
    "C_HB_G_PER_L",
    "M_HB_G_PER_MOL",
    "extinction",
    "load_prahl_table",
    "mm_to_cm",
    "mu_a",
    "mu_s_reduced",
]


def load_prahl_table() -> np.ndarray:
    """Prahl's Hb extinction table as an array (n, 3): wavelength nm, eps_HbO2, eps_Hb in cm^-1/M."""
    path = resources.files("invert.data").joinpath("tissue/prahl_hb_extinction.csv")
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    if lines[0].split(",") != list(PRAHL_COLUMNS):
        raise ValueError(f"unexpected header in {path}: {lines[0]!r}")
    return np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])


def extinction(wavelength_nm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """eps_HbO2 and eps_Hb (cm^-1/M) linearly interpolated at the given wavelengths (must lie in the table)."""
    table = load_prahl_table()
    wl = np.asarray(wavelength_nm, dtype=float)
    if wl.min() < table[0, 0] or wl.max() > table[-1, 0]:
        raise ValueError(f"wavelengths must lie in [{table[0, 0]:g}, {table[-1, 0]:g}] nm")
    return np.interp(wl, table[:, 0], table[:, 1]), np.interp(wl, table[:, 0], table[:, 2])


def mm_to_cm(d_mm: torch.Tensor) -> torch.Tensor:
    """Convert a thickness from mm to cm."""
    return d_mm / 10.0


def mu_a(sO2: torch.Tensor, vhb: torch.Tensor, eps_hbo2: torch.Tensor, eps_hb: torch.Tensor) -> torch.Tensor:
    """Absorption coefficient (1/cm) of a blood-perfused layer; broadcasts sO2, vhb against eps."""
    return MU_A_PER_EPS * vhb * (sO2 * eps_hbo2 + (1.0 - sO2) * eps_hb)


def mu_s_reduced(a_mie: torch.Tensor, wavelength_nm: torch.Tensor, b_mie: float = B_MIE) -> torch.Tensor:
    """Reduced scattering coefficient mu_s' (1/cm) = a_mie (lambda / 500 nm)^(-b_mie)."""
    return a_mie * (wavelength_nm / LAMBDA_REF_NM) ** (-b_mie)
