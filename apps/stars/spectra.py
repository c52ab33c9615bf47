"""Readers of single spectra (stars.md section 4): layout A (SDSS spec/spec-lite table) and B (1-D image with WCS).

Each returns a Spectrum in the observed frame (Angstrom, F_lambda in erg/s/cm2/Angstrom, 1-sigma errors) and the
redshift the file states (None if it states none). A file whose spectrum cannot be used at all raises InputError
(so does one whose wavelengths miss the optical range, or an SDSS table whose columns differ in shape); pixels
with a flux or error beyond observations.VALUE_LIMITS, or a negative error, are masked with a warning.
"""

from __future__ import annotations

import os

import astropy.units as u
import numpy as np
from astropy.io import fits

from .errors import InputError
from .linetable import column_values
from .observations import VALUE_LIMITS, Spectrum
from .spectral_axis import check_optical, monotonic_order, pixel_widths, wavelength_axis
from .units import flambda_factor, flux_density_unit

__all__ = ["SDSS_FLUX_UNIT", "file_redshift", "flux_unit_of", "make_spectrum", "read_sdss", "read_spectrum_1d"]

SDSS_FLUX_UNIT = "1e-17 erg/(s cm2 Angstrom)"  # SDSS spectra carry no TUNIT (stars.md layout A)
SDSS_COLUMNS = ("LOGLAM", "FLUX", "IVAR")
ERROR_HDUS = {"ERR": "sigma", "ERROR": "sigma", "SIGMA": "sigma", "VAR": "variance", "VARIANCE": "variance",
              "IVAR": "ivar"}
REDSHIFT_KEYS = ("Z", "REDSHIFT")


def make_spectrum(name: str, wave: np.ndarray, flux: np.ndarray, sigma: np.ndarray, medium: str, source: str,
                  warn: list[str] | None = None) -> Spectrum:
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
        raise InputError(f"{source}: no pixel has a usable error (inverse variance all 0, or errors NaN, <= 0 or "
                         f"outside {lo:g}-{hi:g} erg/s/cm2/Angstrom)")
    with np.errstate(invalid="ignore"):
        extreme = int((np.isfinite(flux) & np.isfinite(sigma) & (sigma > 0) & ~spec.good).sum())
    if extreme and warn is not None:
        warn.append(f"{source}: {extreme} pixel(s) with a flux or error beyond {hi:g} erg/s/cm2/Angstrom (or an "
                     f"error below {lo:g}) masked")
    return spec


def read_sdss(hdul: fits.HDUList, index: int, name: str, flux_unit: str | None, notes: list[str],
              warn: list[str] | None = None) -> tuple[Spectrum, float | None]:
    """Layout A: 10**loglam vacuum Angstrom, flux and 1/sqrt(ivar) in 1e-17 erg/s/cm2/Angstrom, z from SPECOBJ."""
    hdu = hdul[index]
    source = f"{name} HDU {index} ({hdu.name})"
    cols = {c.name.upper(): c for c in hdu.columns}
    data = hdu.data
    if data is None or len(data) == 0:
        raise InputError(f"{source}: the spectrum table has no rows")
    loglam, flux, ivar = (column_values(data, cols[key].name, source, scalar=False) for key in SDSS_COLUMNS)
    if len({a.shape for a in (loglam, flux, ivar)}) > 1:
        sizes = ", ".join(f"{cols[key].name} {a[0].size} (TFORM {str(cols[key].format)!r})"
                          for key, a in zip(SDSS_COLUMNS, (loglam, flux, ivar)))
        raise InputError(f"{source}: columns {', '.join(cols[k].name for k in SDSS_COLUMNS)} need the same number "
                         f"of values per row: {sizes}")
    loglam, flux, ivar = loglam.ravel(), flux.ravel(), ivar.ravel()
    if not np.isfinite(loglam).all():
        raise InputError(f"{source}: some loglam values are NaN or infinite")
    if (ivar <= 0).all() or not np.isfinite(ivar).any():
        raise InputError(f"{source}: ivar is 0 (or not finite) in every pixel: no usable pixel")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sigma = np.where(ivar > 0, 1 / np.sqrt(ivar), np.nan)
    stated = cols["FLUX"].unit
    if flux_unit is not None:
        unit = flux_density_unit(flux_unit, "--flux-unit", notes)
    elif stated:
        unit = flux_density_unit(stated, f"{source} TUNIT of flux", notes)
    else:
        unit = flux_density_unit(SDSS_FLUX_UNIT, source, notes)
        notes.append(f"{source}: SDSS flux has no unit in the file; taken as {SDSS_FLUX_UNIT} (SDSS convention)")
    notes.append(f"{source}: wavelengths 10**loglam taken as vacuum Angstrom (SDSS convention)")
    with np.errstate(over="ignore"):  # an overflow gives inf: refused (wavelengths) or a masked pixel
        wave = 10.0**loglam
        factor = flambda_factor(unit, wave)
        spec = make_spectrum(_object_name(hdul, name), wave, flux * factor, sigma * factor, "vacuum", source, warn)
    return spec, _sdss_redshift(hdul, name)


def read_spectrum_1d(hdul: fits.HDUList, index: int, name: str, wave_unit: str | None, flux_unit: str | None,
                     snr: float | None, notes: list[str], warn: list[str]) -> Spectrum:
    """Layout B: wavelengths from the WCS of axis 1, flux unit from BUNIT, errors from an ERR/VAR/IVAR HDU or --snr."""
    hdu = hdul[index]
    source = f"{name} HDU {index} ({hdu.name})"
    flux = np.asarray(hdu.data, dtype=np.float64).ravel()
    wave, medium = wavelength_axis(hdu.header, 1, len(flux), source, wave_unit, notes)
    unit = flux_unit_of(hdu.header, source, flux_unit, notes)
    sigma = _error_spectrum(hdul, index, len(flux), name, notes, warn)
    if sigma is None:
        if snr is None:
            raise InputError(f"{source}: no error spectrum (an ERR, ERROR, VAR or IVAR HDU of the same length); "
                             "give --snr")
        if not snr > 0:
            raise InputError(f"--snr must be positive, got {snr}")
        level = float(np.nanmedian(np.abs(flux))) / snr
        if not level > 0:
            raise InputError(f"{source}: --snr needs a flux with a non-zero median")
        sigma = np.full(len(flux), level)
        notes.append(f"{source}: no error spectrum; constant error median(|flux|)/{snr:g} per pixel from --snr")
    factor = flambda_factor(unit, wave)
    with np.errstate(over="ignore"):  # an overflow gives inf: a masked pixel
        return make_spectrum(_object_name(hdul, name), wave, flux * factor, sigma * factor, medium, source, warn)


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
        raise InputError(f"{source}: no flux unit (BUNIT missing); give --flux-unit, "
                         "e.g. '1e-17 erg/s/cm2/Angstrom'")
    return flux_density_unit(stated, f"{source} BUNIT", notes)


def _error_spectrum(hdul: fits.HDUList, index: int, n: int, name: str, notes: list[str],
                    warn: list[str]) -> np.ndarray | None:
    """1-sigma errors (flux units) from an ERR/ERROR/SIGMA, VAR/VARIANCE or IVAR image of n pixels, or None."""
    for i, hdu in enumerate(hdul):
        kind = ERROR_HDUS.get(hdu.name.upper())
        if i == index or kind is None or not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU) or hdu.data is None:
            continue
        values = np.asarray(hdu.data, dtype=np.float64).ravel()
        if len(values) != n:
            notes.append(f"{name}: HDU {i} ({hdu.name}) has {len(values)} values, the spectrum {n}; "
                         "not used as errors")
            continue
        notes.append(f"{name}: errors from HDU {i} ({hdu.name}) read as {kind} in the flux unit")
        if (negative := int((values < 0).sum())):
            warn.append(f"{name}: HDU {i} ({hdu.name}) holds {negative} negative value(s); those pixels are masked")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if kind == "variance":
                return np.where(values > 0, np.sqrt(values), np.nan)
            if kind == "ivar":
                return np.where(values > 0, 1 / np.sqrt(values), np.nan)
            return np.where(values > 0, values, np.nan)
    return None


def _sdss_redshift(hdul: fits.HDUList, name: str) -> float | None:
    """Z of the SPECOBJ table (first row), else the header's Z/REDSHIFT."""
    if "SPECOBJ" in hdul:
        hdu = hdul["SPECOBJ"]
        cols = {c.name.upper(): c.name for c in hdu.columns}
        if "Z" in cols and hdu.data is not None and len(hdu.data):
            value = float(column_values(hdu.data, cols["Z"], f"{name} HDU SPECOBJ")[0])
            if np.isfinite(value):
                return value
    return file_redshift(hdul, 0)


def _object_name(hdul: fits.HDUList, name: str) -> str:
    """OBJECT from the primary header, else the file name without folder and extension."""
    obj = str(hdul[0].header.get("OBJECT", "")).strip()
    return obj or os.path.splitext(os.path.basename(name))[0]
