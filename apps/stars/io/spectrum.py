"""What the spectrum loaders share (stars.md section 4): a checked Spectrum from arrays, the flux-density unit
from --flux-unit or BUNIT, the redshift and object name a file states, and the lines measured in one spectrum
(with its redshift estimated from the strongest emission peak, and noted, when neither file nor options give it).

A spectrum that cannot be used at all raises InputError (wavelengths not monotonic or missing the optical range,
no usable flux or error); pixels with a flux or error beyond measurement_model.VALUE_LIMITS, or a negative error,
are masked with a warning.
"""

from __future__ import annotations

import os

import astropy.units as u
import numpy as np
from astropy.io import fits

from invert.apps.kit.errors import InputError

from ..model.measurement_model import VALUE_LIMITS
from .assemble import assemble
from .linefit import estimate_redshift, measure_lines
from .observations import LineObservations, PlotSpectrum, Spectrum
from .spectral_axis import check_optical, monotonic_order, pixel_widths
from .units import flux_density_unit

__all__ = ["file_redshift", "flux_unit_of", "from_spectrum", "make_spectrum", "object_name"]

REDSHIFT_KEYS = ("Z", "REDSHIFT")


def make_spectrum(
    name: str,
    wave: np.ndarray,
    flux: np.ndarray,
    sigma: np.ndarray,
    medium: str,
    source: str,
    warn: list[str] | None = None,
) -> Spectrum:
    """A checked Spectrum (increasing wavelengths, some usable pixels); InputError for an unusable spectrum."""
    wave, flux, sigma = (np.asarray(a, dtype=np.float64).ravel() for a in (wave, flux, sigma))
    order = monotonic_order(wave, source)
    wave, flux, sigma = wave[order], flux[order], sigma[order]
    check_optical(wave, source)
    lo, hi = VALUE_LIMITS
    if not (np.abs(flux) <= hi).any():
        raise InputError(f"{source}: every flux value is NaN, infinite or beyond {hi:g} erg/s/cm2/Angstrom")
    spec = Spectrum(name=name, wave=wave, width=pixel_widths(wave), flux=flux, sigma=sigma, medium=medium)
    if not spec.good.any():
        raise InputError(
            f"{source}: no pixel has a usable error (inverse variance all 0, or errors NaN, <= 0 or "
            f"outside {lo:g}-{hi:g} erg/s/cm2/Angstrom)"
        )
    with np.errstate(invalid="ignore"):
        extreme = int((np.isfinite(flux) & np.isfinite(sigma) & (sigma > 0) & ~spec.good).sum())
    if extreme and warn is not None:
        warn.append(
            f"{source}: {extreme} pixel(s) with a flux or error beyond {hi:g} erg/s/cm2/Angstrom (or an "
            f"error below {lo:g}) masked"
        )
    return spec


def file_redshift(hdul: fits.HDUList, index: int) -> float | None:
    """Z or REDSHIFT from the data HDU's header or the primary header, else None."""
    for header in (hdul[index].header, hdul[0].header):
        for key in REDSHIFT_KEYS:
            value = header.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
                return float(value)
    return None


def flux_unit_of(header: fits.Header, source: str, flux_unit: str | None, notes: list[str]) -> u.UnitBase:
    """The flux-density unit from --flux-unit (noted when it replaces BUNIT) or BUNIT; InputError otherwise."""
    stated = str(header.get("BUNIT", "")).strip()
    if flux_unit is not None:
        unit = flux_density_unit(flux_unit, "--flux-unit", notes)
        if stated:
            notes.append(f"{source}: flux unit {unit} from --flux-unit used instead of BUNIT {stated!r}")
        return unit
    if not stated:
        raise InputError(f"{source}: no flux unit (BUNIT missing); give --flux-unit, e.g. '1e-17 erg/s/cm2/Angstrom'")
    return flux_density_unit(stated, f"{source} BUNIT", notes)


def object_name(hdul: fits.HDUList, name: str) -> str:
    """OBJECT from the primary header, else the file name without folder and extension."""
    obj = str(hdul[0].header.get("OBJECT", "")).strip()
    return obj or os.path.splitext(os.path.basename(name))[0]


def from_spectrum(
    spec: Spectrum, z: float | None, z_source: str, notes: list[str], warn: list[str]
) -> LineObservations:
    """Measure the lines of one spectrum (estimating z when none is known)."""
    if z is None:
        z, how = estimate_redshift(spec)
        z_source = "estimated"
    fit = measure_lines(spec, z)
    if z_source == "estimated":
        z = fit.refined_redshift(z)
        notes.append(f"{spec.name}: redshift estimated as z = {z:.5f} from {how} (no redshift in the file or options)")
    plot = PlotSpectrum(spec.name, spec.wave, spec.flux, spec.sigma, fit.model, z, spec.medium)
    return assemble(
        np.array([spec.name], dtype=object),
        fit.flux[None],
        fit.error[None],
        np.array([z]),
        z_source,
        spec.medium,
        [plot],
        notes,
        warn,
    )
