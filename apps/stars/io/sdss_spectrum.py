"""Loader of SDSS spectra (stars.md section 4, layout A): a spec/spec-lite binary table with columns loglam, flux
and ivar, read as 10**loglam vacuum Angstrom, flux and 1/sqrt(ivar) in 1e-17 erg/s/cm2/Angstrom, z from the
SPECOBJ table. The lines are fitted in the spectrum, or with --use-catalog-lines read from the SPZLINE table.

A file whose spectrum cannot be used at all raises InputError (so does one whose wavelengths miss the optical
range, or a table whose columns differ in shape); pixels with a flux or error beyond
measurement_model.VALUE_LIMITS, or a negative error, are masked with a warning.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from invert.apps.kit.errors import InputError

from .assemble import choose_redshift
from .headers import column_names, first_hdu
from .line_table import column_values, from_table, read_long_table
from .observations import LineObservations, PlotSpectrum, ReadOptions, Spectrum
from .spectrum import file_redshift, from_spectrum, make_spectrum, object_name
from .table_columns import FitsColumns
from .units import flambda_factor, flux_density_unit

__all__ = ["SDSS_FLUX_UNIT", "identify", "read", "read_sdss"]

SDSS_FLUX_UNIT = "1e-17 erg/(s cm2 Angstrom)"  # SDSS spectra carry no TUNIT (stars.md layout A)
SDSS_LINE_UNIT = "1e-17 erg/(s cm2)"  # SPZLINE LINEAREA carries no TUNIT
SDSS_COLUMNS = ("LOGLAM", "FLUX", "IVAR")


def identify(hdul: fits.HDUList) -> int | None:
    """The binary table with flux, loglam and ivar columns (None if there is none)."""
    return first_hdu(hdul, _is_sdss)


def read(
    hdul: fits.HDUList, index: int, name: str, options: ReadOptions, notes: list[str], warn: list[str]
) -> LineObservations:
    """The lines of the spectrum in HDU index: fitted, or the SPZLINE fluxes with --use-catalog-lines."""
    spec, z_file = read_sdss(hdul, index, name, options.flux_unit, notes, warn)
    z, z_source = choose_redshift(options.redshift, z_file, "file", notes)
    if not options.use_catalog_lines:
        return from_spectrum(spec, z, z_source, notes, warn)
    if "SPZLINE" not in hdul:
        raise InputError(f"{name}: --use-catalog-lines needs an SPZLINE HDU, which the file lacks")
    table = read_long_table(
        FitsColumns(hdul["SPZLINE"]), f"{name} HDU SPZLINE", spec.name, options.flux_unit, SDSS_LINE_UNIT, notes, warn
    )
    obs = from_table(table, np.full(len(table.ids), np.nan if z is None else z), z_source, notes, warn)
    obs.medium = "vacuum"
    obs.spectra = [
        PlotSpectrum(
            spec.name,
            spec.wave,
            spec.flux,
            spec.sigma,
            np.full(len(spec.wave), np.nan),
            np.nan if z is None else z,
            spec.medium,
        )
    ]
    return obs


def read_sdss(
    hdul: fits.HDUList, index: int, name: str, flux_unit: str | None, notes: list[str], warn: list[str] | None = None
) -> tuple[Spectrum, float | None]:
    """Layout A: 10**loglam vacuum Angstrom, flux and 1/sqrt(ivar) in 1e-17 erg/s/cm2/Angstrom, z from SPECOBJ."""
    hdu = hdul[index]
    source = f"{name} HDU {index} ({hdu.name})"
    cols = {c.name.upper(): c for c in hdu.columns}
    data = hdu.data
    if data is None or len(data) == 0:
        raise InputError(f"{source}: the spectrum table has no rows")
    table = FitsColumns(hdu)
    loglam, flux, ivar = (column_values(table, cols[key].name, source, scalar=False) for key in SDSS_COLUMNS)
    if len({a.shape for a in (loglam, flux, ivar)}) > 1:
        sizes = ", ".join(
            f"{cols[key].name} {a[0].size} (TFORM {str(cols[key].format)!r})"
            for key, a in zip(SDSS_COLUMNS, (loglam, flux, ivar))
        )
        raise InputError(
            f"{source}: columns {', '.join(cols[k].name for k in SDSS_COLUMNS)} need the same number "
            f"of values per row: {sizes}"
        )
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
        spec = make_spectrum(object_name(hdul, name), wave, flux * factor, sigma * factor, "vacuum", source, warn)
    return spec, _sdss_redshift(hdul, name)


def _is_sdss(hdu: fits.hdu.base._BaseHDU) -> bool:
    """A binary table with flux, loglam and ivar columns."""
    return isinstance(hdu, fits.BinTableHDU) and set(SDSS_COLUMNS) <= {c.upper() for c in column_names(hdu)}


def _sdss_redshift(hdul: fits.HDUList, name: str) -> float | None:
    """Z of the SPECOBJ table (first row), else the header's Z/REDSHIFT."""
    if "SPECOBJ" in hdul:
        hdu = hdul["SPECOBJ"]
        cols = {c.name.upper(): c.name for c in hdu.columns}
        if "Z" in cols and hdu.data is not None and len(hdu.data):
            value = float(column_values(FitsColumns(hdu), cols["Z"], f"{name} HDU SPECOBJ")[0])
            if np.isfinite(value):
                return value
    return file_redshift(hdul, 0)
