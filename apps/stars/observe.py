"""`read_observations`: a user FITS file of any layout of stars.md section 4 -> measured line fluxes per object.

Redshift: --redshift (noted when it replaces the file's), else the file's (SPECOBJ Z for SDSS, header Z or
REDSHIFT), else estimated from the strongest emission peak (layouts A-C) and reported in the notes. A line whose
flux or error is infinite or beyond observations.VALUE_LIMITS is masked, with a warning naming the objects.
Objects are flagged, not dropped: "bad_values" (Hbeta, or every line, masked for such values), "all_masked" (no
line measured), "bad_redshift" (z outside Z_RANGE), "no_hbeta" (Hbeta not measured or S/N < 3); a file that
cannot be used at all raises InputError with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .cube import Cube, aperture_spectrum, integrated_spectrum, measure_spaxels, open_cube
from .errors import InputError
from .fits_file import damaged_error, detect_layout, open_fits
from .linefit import estimate_redshift, measure_lines
from .linelist import HBETA, NAMES
from .linetable import LineTable, read_line_table, read_long_table
from .observations import VALUE_LIMITS, Z_RANGE, LineObservations, PlotSpectrum, Spectrum, in_limits
from .spectra import file_redshift, read_sdss, read_spectrum_1d

__all__ = ["MIN_HBETA_SNR", "read_observations", "object_status"]

MIN_HBETA_SNR = 3.0
SDSS_LINE_UNIT = "1e-17 erg/(s cm2)"  # SPZLINE LINEAREA carries no TUNIT
OII = [NAMES.index("OII3726"), NAMES.index("OII3729")]
MAX_LISTED = 5  # objects named in a warning


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
    except InputError:
        raise
    except (OSError, EOFError) as err:  # data that the headers promise but the file cannot deliver
        raise damaged_error(name, err) from None
    except Exception as err:  # astropy misreading a damaged file, if the exception comes from astropy
        if not _raised_in_astropy(err):
            raise
        raise damaged_error(name, err) from None


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
            spec, z_file = read_sdss(hdul, layout.hdu, name, flux_unit, notes, warn)
            z, z_source = _choose_redshift(redshift, z_file, "file", notes)
            if use_catalog_lines:
                if "SPZLINE" not in hdul:
                    raise InputError(f"{name}: --use-catalog-lines needs an SPZLINE HDU, which the file lacks")
                table = read_long_table(hdul["SPZLINE"], f"{name} HDU SPZLINE", spec.name, flux_unit, SDSS_LINE_UNIT,
                                        notes, warn)
                z_used = np.full(len(table.ids), np.nan if z is None else z)
                obs = _from_table(table, "A", z_used, z_source if z is not None else "none", notes, warn)
                obs.medium = "vacuum"
                obs.spectra = [PlotSpectrum(spec.name, spec.wave, spec.flux, spec.sigma,
                                            np.full(len(spec.wave), np.nan), np.nan if z is None else z, spec.medium)]
                return obs
            return _from_spectrum(spec, z, z_source, "A", notes, warn)
        if layout.key == "B":
            spec = read_spectrum_1d(hdul, layout.hdu, name, wave_unit, flux_unit, snr, notes, warn)
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
                  also_observed: np.ndarray | None = None, bad: np.ndarray | None = None) -> np.ndarray:
    """(n,) "ok" or the first problem of each object: "bad_values", "all_masked", "bad_redshift", "no_hbeta".

    also_observed marks objects with a measurement outside the 12 lines (the blended [OII] sum); bad (n, 12) marks
    the lines masked for infinite or extreme values: "bad_values" where Hbeta is one of them, or no line is left.
    """
    status = np.full(len(mask), "ok", dtype=object)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        hbeta_snr = np.where(mask[:, HBETA], fluxes[:, HBETA] / errors[:, HBETA], -np.inf)
    z_bad = ~np.isnan(redshift) & ~((redshift >= Z_RANGE[0]) & (redshift <= Z_RANGE[1]))  # infinite z too
    observed = mask.any(axis=1) if also_observed is None else mask.any(axis=1) | also_observed
    bad = np.zeros(mask.shape, dtype=bool) if bad is None else bad
    bad_values = bad[:, HBETA] | (bad.any(axis=1) & ~observed)
    for reason, flagged in (("bad_values", bad_values), ("all_masked", ~observed), ("bad_redshift", z_bad),
                            ("no_hbeta", hbeta_snr < MIN_HBETA_SNR)):
        status[flagged & (status == "ok")] = reason
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
    return _assemble(np.array([spec.name], dtype=object), fit.flux[None], fit.error[None], np.array([z]), layout,
                     z_source, spec.medium, [plot], notes, warn)


def _from_cube(hdul, index: int, name: str, redshift: float | None, wave_unit: str | None, flux_unit: str | None,
               aperture: tuple[float, float, float] | None, notes: list[str], warn: list[str],
               progress: Callable[[int, int], None] | None) -> LineObservations:
    """Layout C, with what made pixels unusable (NaN fluxes, negative variances) added to the warnings or error."""
    cube = open_cube(hdul, index, name, wave_unit, flux_unit, notes)
    try:
        obs = _cube_objects(cube, hdul, index, name, redshift, aperture, notes, warn, progress)
    except InputError as err:
        if not cube.read_problems():
            raise
        raise InputError(f"{err} ({cube.read_problems()})") from None
    if cube.read_problems():
        warn.append(f"{name}: {cube.read_problems()}")
    return obs


def _cube_objects(cube: Cube, hdul, index: int, name: str, redshift: float | None,
                  aperture: tuple[float, float, float] | None, notes: list[str], warn: list[str],
                  progress: Callable[[int, int], None] | None) -> LineObservations:
    """Layout C: one aperture spectrum, or one object per spaxel with Halpha S/N >= 5."""
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
    obs = _assemble(ids, lines.fluxes, lines.errors, zs, "C", z_source, cube.medium, lines.spectra, notes, warn)
    obs.pixel = lines.pixel
    obs.cube_shape = cube.shape[1:]
    return obs


def _from_table(table: LineTable, layout: str, z: np.ndarray, z_source: str, notes: list[str],
                warn: list[str]) -> LineObservations:
    """Line fluxes read from a table (layout D, or SDSS catalogue lines)."""
    return _assemble(table.ids, table.fluxes, table.errors, np.asarray(z, dtype=np.float64), layout, z_source, None,
                     [], notes, warn, blend=(table.oii_sum, table.oii_sum_error))


def _assemble(ids: np.ndarray, fluxes: np.ndarray, errors: np.ndarray, z: np.ndarray, layout: str, z_source: str,
              medium: str | None, spectra: list[PlotSpectrum], notes: list[str], warn: list[str],
              blend: tuple[np.ndarray, np.ndarray] | None = None) -> LineObservations:
    """LineObservations of the usable lines (NaN elsewhere), the [OII] sum (the file's blend if given), statuses."""
    mask, bad = _line_quality(fluxes, errors)
    fluxes, errors = np.where(mask, fluxes, np.nan), np.where(mask, errors, np.nan)
    both = mask[:, OII].all(axis=1)
    oii_sum = np.where(both, fluxes[:, OII].sum(axis=1), np.nan)
    oii_err = np.where(both, np.hypot(errors[:, OII[0]], errors[:, OII[1]]), np.nan)
    given, bad_blend = np.zeros(len(ids), dtype=bool), np.zeros(len(ids), dtype=bool)
    if blend is not None:
        given, bad_blend = _line_quality(*blend)
        oii_sum[given], oii_err[given] = blend[0][given], blend[1][given]
    _warn_bad_values(ids, np.column_stack([bad, bad_blend]), warn)
    return LineObservations(ids=np.asarray(ids, dtype=object), fluxes=fluxes, errors=errors, mask=mask, redshift=z,
                            status=object_status(mask, fluxes, errors, z, given, bad), layout=layout,
                            oii_sum=oii_sum, oii_sum_error=oii_err, redshift_source=z_source, medium=medium,
                            spectra=spectra, notes=notes, warnings=warn)


def _line_quality(fluxes: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(usable, bad): within VALUE_LIMITS; given but infinite or beyond them (a NaN flux or error <= 0 is missing)."""
    usable = in_limits(fluxes, errors)
    with np.errstate(invalid="ignore"):
        missing = np.isnan(fluxes) | ~(errors > 0)
    return usable, ~usable & ~missing


def _warn_bad_values(ids: np.ndarray, bad: np.ndarray, warn: list[str]) -> None:
    """One warning naming the first objects and lines (the 12, then the [OII] blend) masked for bad values."""
    rows = np.flatnonzero(bad.any(axis=1))
    if not len(rows):
        return
    names = [*NAMES, "OII3727 blend"]
    listed = "; ".join(f"{ids[i]}: {', '.join(n for n, b in zip(names, bad[i]) if b)}" for i in rows[:MAX_LISTED])
    more = f"; {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    warn.append(f"{int(bad.sum())} line value(s) in {len(rows)} object(s) infinite or beyond {VALUE_LIMITS[1]:g} "
                f"erg/s/cm2 (or with an error below {VALUE_LIMITS[0]:g}) masked as unusable ({listed}{more}); "
                "an object that loses Hbeta or every line this way gets status bad_values")


def _raised_in_astropy(err: BaseException) -> bool:
    """The exception was raised inside astropy (reading a damaged file), not by invert's own code."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}astropy{os.sep}" in tb.tb_frame.f_code.co_filename
