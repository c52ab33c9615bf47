"""`read_observations`: a user FITS file of any layout of stars.md section 4 -> measured line fluxes per object.

Redshift: --redshift (noted when it replaces the file's), else the file's (SPECOBJ Z for SDSS, header Z or
REDSHIFT), else estimated from the strongest emission peak (layouts A-C) and reported in the notes. Objects are
flagged, not dropped: "all_masked" (no line measured), "bad_redshift" (z outside Z_RANGE), "no_hbeta" (Hbeta not
measured or S/N < 3); a file that cannot be used at all raises InputError with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .cube import aperture_spectrum, integrated_spectrum, measure_spaxels, open_cube
from .errors import InputError
from .fits_file import detect_layout, open_fits
from .linefit import estimate_redshift, measure_lines
from .linelist import HBETA, NAMES
from .linetable import LineTable, read_line_table, read_long_table
from .observations import LineObservations, PlotSpectrum, Spectrum, Z_RANGE
from .spectra import file_redshift, read_sdss, read_spectrum_1d

__all__ = ["MIN_HBETA_SNR", "read_observations", "object_status"]

MIN_HBETA_SNR = 3.0
SDSS_LINE_UNIT = "1e-17 erg/(s cm2)"  # SPZLINE LINEAREA carries no TUNIT
OII = [NAMES.index("OII3726"), NAMES.index("OII3729")]


def read_observations(path: str | os.PathLike, redshift: float | None = None, wave_unit: str | None = None,
                      flux_unit: str | None = None, snr: float | None = None,
                      aperture: tuple[float, float, float] | None = None, use_catalog_lines: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> LineObservations:
    """Read a FITS file, detect its layout and measure (or read) the 12 line fluxes of every object in it."""
    name = os.fspath(path)
    if redshift is not None and not np.isfinite(redshift):
        raise InputError(f"--redshift must be a finite number, got {redshift}")
    notes: list[str] = []
    warn: list[str] = []
    try:
        return _read(name, redshift, wave_unit, flux_unit, snr, aperture, use_catalog_lines, progress, notes, warn)
    except (OSError, EOFError) as err:  # data that the headers promise but the file cannot deliver
        raise InputError(f"{name} is truncated or damaged: {type(err).__name__}: {' '.join(str(err).split())}") from None


def _read(name: str, redshift: float | None, wave_unit: str | None, flux_unit: str | None, snr: float | None,
          aperture: tuple[float, float, float] | None, use_catalog_lines: bool,
          progress: Callable[[int, int], None] | None, notes: list[str], warn: list[str]) -> LineObservations:
    """read_observations without the translation of late read errors."""
    with open_fits(name, warn) as hdul:
        layout = detect_layout(hdul, name)
        for given, option, layouts in ((snr, "--snr", "B"), (aperture, "--aperture", "C"),
                                       (use_catalog_lines or None, "--use-catalog-lines", "A")):
            if given is not None and layout.key not in layouts:
                warn.append(f"{option} ignored: it applies to layout {layouts}, the file is layout {layout.key}")
        if layout.key == "A":
            spec, z_file = read_sdss(hdul, layout.hdu, name, flux_unit, notes)
            z, z_source = _choose_redshift(redshift, z_file, "file", notes)
            if use_catalog_lines:
                if "SPZLINE" not in hdul:
                    raise InputError(f"{name}: --use-catalog-lines needs an SPZLINE HDU, which the file lacks")
                table = read_long_table(hdul["SPZLINE"], f"{name} HDU SPZLINE", spec.name, flux_unit, SDSS_LINE_UNIT,
                                        notes, warn)
                z_used = np.full(len(table.ids), np.nan if z is None else z)
                obs = _from_table(table, "A", z_used, z_source if z is not None else "none", notes, warn)
                obs.medium = "vacuum"
                obs.spectra = [PlotSpectrum(spec.name, spec.wave, spec.flux, spec.sigma, np.full(len(spec.wave), np.nan),
                                            np.nan if z is None else z, spec.medium)]
                return obs
            return _from_spectrum(spec, z, z_source, "A", notes, warn)
        if layout.key == "B":
            spec = read_spectrum_1d(hdul, layout.hdu, name, wave_unit, flux_unit, snr, notes)
            z, z_source = _choose_redshift(redshift, file_redshift(hdul, layout.hdu), "header", notes)
            return _from_spectrum(spec, z, z_source, "B", notes, warn)
        if layout.key == "C":
            return _from_cube(hdul, layout.hdu, name, redshift, wave_unit, flux_unit, aperture, notes, warn, progress)
        table = read_line_table(hdul[layout.hdu], f"{name} HDU {layout.hdu} ({hdul[layout.hdu].name})",
                                os.path.splitext(os.path.basename(name))[0], flux_unit, notes, warn)
        z_used, z_source = table.redshift, ("file" if np.isfinite(table.redshift).any() else "none")
        if redshift is not None:
            if z_source == "file":
                notes.append(f"{name}: --redshift {redshift:g} used instead of the table's redshift column")
            z_used, z_source = np.full(len(table.ids), float(redshift)), "argument"
        return _from_table(table, "D", z_used, z_source, notes, warn)


def object_status(mask: np.ndarray, fluxes: np.ndarray, errors: np.ndarray, redshift: np.ndarray,
                  also_observed: np.ndarray | None = None) -> np.ndarray:
    """(n,) "ok" or the first problem of each object: "all_masked", "bad_redshift", "no_hbeta".

    also_observed marks objects with a measurement outside the 12 lines (the blended [OII] sum).
    """
    status = np.full(len(mask), "ok", dtype=object)
    with np.errstate(invalid="ignore", divide="ignore"):
        hbeta_snr = np.where(mask[:, HBETA], fluxes[:, HBETA] / errors[:, HBETA], -np.inf)
    z_bad = np.isfinite(redshift) & ((redshift < Z_RANGE[0]) | (redshift > Z_RANGE[1]))
    observed = mask.any(axis=1) if also_observed is None else mask.any(axis=1) | also_observed
    for reason, bad in (("all_masked", ~observed), ("bad_redshift", z_bad), ("no_hbeta", hbeta_snr < MIN_HBETA_SNR)):
        status[bad & (status == "ok")] = reason
    return status


def _choose_redshift(argument: float | None, stated: float | None, where: str,
                     notes: list[str]) -> tuple[float | None, str]:
    """(z, source) from --redshift or the file; (None, "none") when neither gives one."""
    if argument is not None:
        if stated is not None and abs(stated - argument) > 1e-6:
            notes.append(f"--redshift {argument:g} used instead of the file's z = {stated:g}")
        return float(argument), "argument"
    if stated is not None:
        notes.append(f"redshift z = {stated:g} from the {where}")
        return stated, where
    return None, "none"


def _from_spectrum(spec: Spectrum, z: float | None, z_source: str, layout: str, notes: list[str],
                   warn: list[str]) -> LineObservations:
    """Measure the lines of one spectrum (estimating z when none is known)."""
    if z is None:
        z, how = estimate_redshift(spec)
        z_source = "estimated"
    fit = measure_lines(spec, z)
    if z_source == "estimated":
        z = fit.refined_redshift(z)
        notes.append(f"{spec.name}: redshift estimated as z = {z:.5f} from {how} (no redshift in the file or options)")
    plot = PlotSpectrum(spec.name, spec.wave, spec.flux, spec.sigma, fit.model, z, spec.medium)
    return _assemble(np.array([spec.name], dtype=object), fit.flux[None], fit.error[None], fit.mask[None],
                     np.array([z]), layout, z_source, spec.medium, [plot], notes, warn)


def _from_cube(hdul, index: int, name: str, redshift: float | None, wave_unit: str | None, flux_unit: str | None,
               aperture: tuple[float, float, float] | None, notes: list[str], warn: list[str],
               progress: Callable[[int, int], None] | None) -> LineObservations:
    """Layout C: one aperture spectrum, or one object per spaxel with Halpha S/N >= 5."""
    cube = open_cube(hdul, index, name, wave_unit, flux_unit, notes)
    z, z_source = _choose_redshift(redshift, file_redshift(hdul, index), "header", notes)
    if aperture is not None:
        x, y, r = aperture
        obs = _from_spectrum(aperture_spectrum(cube, x, y, r), z, z_source, "C", notes, warn)
        obs.pixel = np.array([[int(round(y)), int(round(x))]], dtype=np.int64)
        obs.cube_shape = cube.shape[1:]
        return obs
    if z is None:
        z, how = estimate_redshift(integrated_spectrum(cube))
        z_source = "estimated"
        notes.append(f"{name}: redshift estimated as z = {z:.5f} from {how} in the sum of all spaxels")
    lines = measure_spaxels(cube, z, progress)
    ids = np.array([f"x{c}_y{r}" for r, c in lines.pixel], dtype=object)
    zs = (1 + z) * (1 + lines.velocity_kms / 299792.458) - 1 if z_source == "estimated" else np.full(len(ids), z)
    obs = _assemble(ids, lines.fluxes, lines.errors, lines.mask, zs, "C", z_source, cube.medium, lines.spectra,
                    notes, warn)
    obs.pixel = lines.pixel
    obs.cube_shape = cube.shape[1:]
    return obs


def _from_table(table: LineTable, layout: str, z: np.ndarray, z_source: str, notes: list[str],
                warn: list[str]) -> LineObservations:
    """Line fluxes read from a table (layout D, or SDSS catalogue lines)."""
    mask = np.isfinite(table.fluxes) & np.isfinite(table.errors) & (table.errors > 0)
    obs = _assemble(table.ids, table.fluxes, table.errors, mask, np.asarray(z, dtype=np.float64), layout, z_source,
                    None, [], notes, warn)
    given = np.isfinite(table.oii_sum)
    obs.oii_sum[given], obs.oii_sum_error[given] = table.oii_sum[given], table.oii_sum_error[given]
    obs.status = object_status(obs.mask, obs.fluxes, obs.errors, obs.redshift, also_observed=given)
    return obs


def _assemble(ids: np.ndarray, fluxes: np.ndarray, errors: np.ndarray, mask: np.ndarray, z: np.ndarray, layout: str,
              z_source: str, medium: str | None, spectra: list[PlotSpectrum], notes: list[str],
              warn: list[str]) -> LineObservations:
    """LineObservations with NaN outside the mask, the [OII] sum of measured doublets and each object's status."""
    fluxes, errors = np.where(mask, fluxes, np.nan), np.where(mask, errors, np.nan)
    both = mask[:, OII].all(axis=1)
    oii_sum = np.where(both, fluxes[:, OII].sum(axis=1), np.nan)
    oii_err = np.where(both, np.sqrt((errors[:, OII] ** 2).sum(axis=1)), np.nan)
    return LineObservations(ids=np.asarray(ids, dtype=object), fluxes=fluxes, errors=errors, mask=mask, redshift=z,
                            status=object_status(mask, fluxes, errors, z), layout=layout, oii_sum=oii_sum,
                            oii_sum_error=oii_err, redshift_source=z_source, medium=medium, spectra=spectra,
                            notes=notes, warnings=warn)
