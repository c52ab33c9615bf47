"""Foreground-screen dust: a(lambda) = A_lambda / A_V of Cardelli, Clayton & Mathis (1989, R_V = 3.1)
and Calzetti et al. (2000, R_V = 4.05), written as bagpipes 1.3.6 `dust_attenuation_model` evaluates
them (docs/stars.md, "Equations"; evaluated at the Cloudy label = air wavelength)."""

from __future__ import annotations

import numpy as np

from .linelist import AIR_AA

LAWS = ("ccm89", "calzetti")

__all__ = ["LAWS", "ccm89", "calzetti", "attenuation", "line_coefficients"]


def ccm89(wavelength_aa: np.ndarray) -> np.ndarray:
    """A_lambda / A_V of CCM89 with R_V = 3.1 (bagpipes `_cardelli`, all five wavenumber branches)."""
    x = 1.0 / (np.asarray(wavelength_aa, dtype=np.float64) * 1e-4)  # inverse micron
    a = np.zeros_like(x)
    ir, opt = x < 1.1, (x >= 1.1) & (x < 3.3)
    uv, fuv, xuv = (x >= 3.3) & (x < 5.9), (x >= 5.9) & (x < 8.0), x >= 8.0
    a[ir] = 0.574 * x[ir] ** 1.61 + (-0.527 * x[ir] ** 1.61) / 3.1
    y = x[opt] - 1.82
    a[opt] = (
        1
        + 0.17699 * y
        - 0.50447 * y**2
        - 0.02427 * y**3
        + 0.72085 * y**4
        + 0.01979 * y**5
        - 0.77530 * y**6
        + 0.32999 * y**7
        + (
            1.41388 * y
            + 2.28305 * y**2
            + 1.07233 * y**3
            - 5.38434 * y**4
            - 0.62251 * y**5
            + 5.30260 * y**6
            - 2.09002 * y**7
        )
        / 3.1
    )
    for sel, far in ((uv, False), (fuv, True)):
        v = x[sel]
        fa = -0.04473 * (v - 5.9) ** 2 - 0.009779 * (v - 5.9) ** 3 if far else 0.0
        fb = 0.2130 * (v - 5.9) ** 2 + 0.1207 * (v - 5.9) ** 3 if far else 0.0
        a[sel] = (1.752 - 0.316 * v - 0.104 / ((v - 4.67) ** 2 + 0.341) + fa) + (
            -3.09 + 1.825 * v + 1.206 / ((v - 4.62) ** 2 + 0.263) + fb
        ) / 3.1
    v = x[xuv] - 8.0
    a[xuv] = (-1.073 - 0.628 * v + 0.137 * v**2 - 0.070 * v**3) + (
        13.670 + 4.257 * v - 0.420 * v**2 + 0.374 * v**3
    ) / 3.1
    return a


def calzetti(wavelength_aa: np.ndarray) -> np.ndarray:
    """A_lambda / A_V of Calzetti et al. (2000), R_V = 4.05 (bagpipes `_calzetti`; 0 beyond 3.1 micron)."""
    wav = np.asarray(wavelength_aa, dtype=np.float64)
    mic = wav * 1e-4
    k = np.zeros_like(wav)
    uv, opt, ir = wav < 1200.0, (wav >= 1200.0) & (wav < 6300.0), (wav >= 6300.0) & (wav < 31000.0)
    k[uv] = (mic[uv] / 0.12) ** -0.77 * (4.05 + 2.659 * (-2.156 + 1.509 / 0.12 - 0.198 / 0.12**2 + 0.011 / 0.12**3))
    k[opt] = 4.05 + 2.659 * (-2.156 + 1.509 / mic[opt] - 0.198 / mic[opt] ** 2 + 0.011 / mic[opt] ** 3)
    k[ir] = 2.659 * (-1.857 + 1.040 / mic[ir]) + 4.05
    return k / 4.05


def attenuation(law: str, wavelength_aa: np.ndarray) -> np.ndarray:
    """a(lambda) = A_lambda / A_V of the named law ("ccm89" or "calzetti")."""
    if law == "ccm89":
        return ccm89(wavelength_aa)
    if law == "calzetti":
        return calzetti(wavelength_aa)
    raise ValueError(f"unknown dust law {law!r}; choose one of {', '.join(LAWS)}")


def line_coefficients(law: str = "ccm89") -> np.ndarray:
    """a_j of the 12 ClusterLite lines (linelist order) at their air wavelengths."""
    return attenuation(law, AIR_AA)
