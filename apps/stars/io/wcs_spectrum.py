"""Loader of 1-D image spectra with a spectral WCS (stars.md section 4, layout B): wavelengths from the WCS of axis 1
(spectral_axis.py), the flux unit from BUNIT or --flux-unit, errors from an ERR/ERROR/SIGMA, VAR/VARIANCE or IVAR
HDU of the same length, else a constant S/N from --snr; the redshift from the header's Z or REDSHIFT.

A file whose spectrum cannot be used at all raises InputError (so does one whose wavelengths miss the optical
range); pixels with a flux or error beyond measurement_model.VALUE_LIMITS, or a negative error, are masked with a
warning.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from invert.apps.kit.errors import InputError

from .assemble import choose_redshift
from .headers import NOT_DATA, first_hdu, has_data
from .observations import LineObservations, ReadOptions, Spectrum
from .spectral_axis import wavelength_axis
from .spectrum import file_redshift, flux_unit_of, from_spectrum, make_spectrum, object_name
from .units import flambda_factor

__all__ = ["identify", "read", "read_spectrum_1d"]

ERROR_HDUS = {
    "ERR": "sigma",
    "ERROR": "sigma",
    "SIGMA": "sigma",
    "VAR": "variance",
    "VARIANCE": "variance",
    "IVAR": "ivar",
}


def identify(hdul: fits.HDUList) -> int | None:
    """The image with one axis longer than 1 (the first), CRVAL1 and CDELT1 or CD1_1 (None if there is none)."""
    return first_hdu(hdul, _is_spectrum_1d)


def read(
    hdul: fits.HDUList, index: int, name: str, options: ReadOptions, notes: list[str], warn: list[str]
) -> LineObservations:
    """The lines fitted in the spectrum of HDU index."""
    spec = read_spectrum_1d(hdul, index, name, options.wave_unit, options.flux_unit, options.snr, notes, warn)
    z, z_source = choose_redshift(options.redshift, file_redshift(hdul, index), "header", notes)
    return from_spectrum(spec, z, z_source, notes, warn)


def read_spectrum_1d(
    hdul: fits.HDUList,
    index: int,
    name: str,
    wave_unit: str | None,
    flux_unit: str | None,
    snr: float | None,
    notes: list[str],
    warn: list[str],
) -> Spectrum:
    """Layout B: wavelengths from the WCS of axis 1, flux unit from BUNIT, errors from an ERR/VAR/IVAR HDU or --snr."""
    hdu = hdul[index]
    source = f"{name} HDU {index} ({hdu.name})"
    flux = np.asarray(hdu.data, dtype=np.float64).ravel()
    wave, medium = wavelength_axis(hdu.header, 1, len(flux), source, wave_unit, notes)
    unit = flux_unit_of(hdu.header, source, flux_unit, notes)
    sigma = _error_spectrum(hdul, index, len(flux), name, notes, warn)
    if sigma is None:
        if snr is None:
            raise InputError(
                f"{source}: no error spectrum (an ERR, ERROR, VAR or IVAR HDU of the same length); give --snr"
            )
        if not snr > 0:
            raise InputError(f"--snr must be positive, got {snr}")
        level = float(np.nanmedian(np.abs(flux))) / snr
        if not level > 0:
            raise InputError(f"{source}: --snr needs a flux with a non-zero median")
        sigma = np.full(len(flux), level)
        notes.append(f"{source}: no error spectrum; constant error median(|flux|)/{snr:g} per pixel from --snr")
    factor = flambda_factor(unit, wave)
    with np.errstate(over="ignore"):  # an overflow gives inf: a masked pixel
        return make_spectrum(object_name(hdul, name), wave, flux * factor, sigma * factor, medium, source, warn)


def _is_spectrum_1d(hdu: fits.hdu.base._BaseHDU) -> bool:
    """An image with one axis longer than 1 (the first), CRVAL1 and CDELT1 or CD1_1."""
    h = hdu.header
    if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU) or not has_data(hdu) or hdu.name.upper() in NOT_DATA:
        return False
    others = [h.get(f"NAXIS{k}", 0) for k in range(2, h["NAXIS"] + 1)]
    return h.get("NAXIS1", 0) > 1 and all(n == 1 for n in others) and "CRVAL1" in h and ("CDELT1" in h or "CD1_1" in h)


def _error_spectrum(
    hdul: fits.HDUList, index: int, n: int, name: str, notes: list[str], warn: list[str]
) -> np.ndarray | None:
    """1-sigma errors (flux units) from an ERR/ERROR/SIGMA, VAR/VARIANCE or IVAR image of n pixels, or None."""
    for i, hdu in enumerate(hdul):
        kind = ERROR_HDUS.get(hdu.name.upper())
        if i == index or kind is None or not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU) or hdu.data is None:
            continue
        values = np.asarray(hdu.data, dtype=np.float64).ravel()
        if len(values) != n:
            notes.append(f"{name}: HDU {i} ({hdu.name}) has {len(values)} values, the spectrum {n}; not used as errors")
            continue
        notes.append(f"{name}: errors from HDU {i} ({hdu.name}) read as {kind} in the flux unit")
        if negative := int((values < 0).sum()):
            warn.append(f"{name}: HDU {i} ({hdu.name}) holds {negative} negative value(s); those pixels are masked")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if kind == "variance":
                return np.where(values > 0, np.sqrt(values), np.nan)
            if kind == "ivar":
                return np.where(values > 0, 1 / np.sqrt(values), np.nan)
            return np.where(values > 0, values, np.nan)
    return None
