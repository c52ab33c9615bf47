"""Wavelengths of a spectral image axis from its FITS WCS keywords, with astropy.wcs (stars.md section 4, layouts B, C).

astropy.wcs returns WAVE/AWAV axes in metres when CUNIT is given; an axis without a spectral CTYPE comes back in
the raw units of CRVAL. DC-FLAG = 1 (IRAF) means the axis holds log10(wavelength). The medium is air for AWAV,
vacuum for WAVE, and assumed air (with a note) for LINEAR or no CTYPE. A missing CUNIT is taken from --wave-unit,
IRAF's WATn_001 'units=', or the size of the numbers (optical range only); otherwise InputError. Also refused,
before astropy.wcs sees them: tabular (-TAB) axes, a zero step, WCS keywords that are not numbers; and after it,
NaN or infinite wavelengths.
"""

from __future__ import annotations

import re
import warnings

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from invert.apps.kit.errors import InputError

from .headers import SPECTRAL_CTYPES, header_number, spectral_ctype
from .units import OPTICAL_AA, guess_wavelength_unit, wavelength_unit

__all__ = ["check_optical", "monotonic_order", "pixel_widths", "wavelength_axis"]

NON_WAVELENGTH_CTYPES = ("FREQ", "ENER", "WAVN", "VRAD", "VOPT", "ZOPT", "VELO", "BETA", "RA", "DEC", "GLON", "GLAT")
WAT_UNITS = re.compile(r"units=(\S+)", re.IGNORECASE)


def wavelength_axis(
    header: fits.Header, axis: int, n: int, source: str, wave_unit: str | None, notes: list[str]
) -> tuple[np.ndarray, str]:
    """(wavelengths in Angstrom, medium "air"/"vacuum") of image axis `axis` (1-based) with n pixels."""
    ctype_full = str(header.get(f"CTYPE{axis}", "")).strip().upper()
    ctype = spectral_ctype(header, axis)
    if ctype in NON_WAVELENGTH_CTYPES:
        raise InputError(f"{source}: axis {axis} has CTYPE{axis} {ctype_full!r}, not a wavelength axis")
    if ctype_full.endswith("-TAB"):
        raise InputError(
            f"{source}: CTYPE{axis} {ctype_full!r} is a tabular wavelength axis (-TAB), which is not "
            "supported (its wavelengths would come from a lookup-table extension); give a linear axis "
            f"(CRVAL{axis}, CDELT{axis})"
        )
    log10 = header.get("DC-FLAG") == 1 and not ctype_full.endswith("-LOG")
    unit = _axis_unit(header, axis, source, wave_unit, notes)
    minimal = fits.Header()
    minimal["NAXIS"], minimal["NAXIS1"] = 1, n
    minimal["CRPIX1"] = header_number(header, f"CRPIX{axis}", source, 1.0)
    if (crval := header_number(header, f"CRVAL{axis}", source)) is None:
        raise InputError(f"{source}: CRVAL{axis} is missing: the wavelength axis has no reference value")
    minimal["CRVAL1"] = crval
    minimal["CDELT1"] = _step(header, axis, source)
    if ctype in SPECTRAL_CTYPES and not log10 and unit is not None:
        minimal["CTYPE1"] = ctype_full
        minimal["CUNIT1"] = unit.to_string("fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(minimal)
            values = np.asarray(wcs.wcs_pix2world(np.arange(n, dtype=np.float64), 0)[0], dtype=np.float64)
        except (ValueError, MemoryError) as err:  # astropy.wcs's errors derive from ValueError
            raise InputError(
                f"{source}: astropy.wcs cannot use axis {axis} (CTYPE{axis} {ctype_full!r}): "
                f"{' '.join(str(err).split())}"
            ) from None
    if "CTYPE1" in minimal:
        unit = u.Unit(str(wcs.wcs.cunit[0]))  # astropy.wcs normalised the axis to SI (metres)
    if log10:
        with np.errstate(over="ignore"):
            values = 10.0**values
        notes.append(f"{source}: DC-FLAG = 1, wavelengths are 10**(WCS value)")
    if not np.isfinite(values).all():
        raise InputError(
            f"{source}: the WCS of axis {axis} (CTYPE{axis} {ctype_full or '(missing)'!r}"
            f"{', DC-FLAG = 1' if log10 else ''}) gives NaN or infinite wavelengths"
        )
    if unit is None:
        unit = guess_wavelength_unit(float(np.min(values)), float(np.max(values)))
        if unit is None:
            raise InputError(
                f"{source}: the wavelength unit is not given (no CUNIT{axis}) and the values "
                f"{np.min(values):.4g}-{np.max(values):.4g} fit no optical range; give --wave-unit"
            )
        notes.append(
            f"{source}: no CUNIT{axis}; wavelengths {np.min(values):.4g}-{np.max(values):.4g} assumed to be in {unit}"
        )
    wave = (values * unit).to_value(u.AA)
    if ctype == "AWAV":
        medium = "air"
    elif ctype == "WAVE":
        medium = "vacuum"
    else:
        medium = "air"
        notes.append(
            f"{source}: CTYPE{axis} {ctype_full or '(missing)'} does not say air or vacuum; wavelengths assumed in air"
        )
    return wave, medium


def monotonic_order(wave: np.ndarray, source: str) -> slice:
    """slice(None) for increasing wavelengths, slice(None, None, -1) for decreasing; InputError if neither or <= 0."""
    if not np.all(np.isfinite(wave)):
        raise InputError(f"{source}: some wavelengths are NaN or infinite")
    if np.any(wave <= 0):
        raise InputError(f"{source}: wavelengths must be positive (found {np.min(wave):.4g})")
    step = np.diff(wave)
    if len(wave) < 2 or np.all(step > 0):
        return slice(None)
    if np.all(step < 0):
        return slice(None, None, -1)
    raise InputError(
        f"{source}: wavelengths are not strictly monotonic (first break at pixel {int(np.argmax(step <= 0)) + 1})"
    )


def check_optical(wave: np.ndarray, source: str) -> None:
    """InputError when finite wavelengths (Angstrom) miss OPTICAL_AA entirely: none of the 12 lines can be there."""
    lo, hi = float(np.min(wave)), float(np.max(wave))
    if hi < OPTICAL_AA[0] or lo > OPTICAL_AA[1]:
        raise InputError(
            f"{source}: the wavelengths run {lo:.4g}-{hi:.4g} Angstrom, outside the "
            f"{OPTICAL_AA[0]:g}-{OPTICAL_AA[1]:g} Angstrom of the 12 lines; is the wavelength unit right?"
        )


def pixel_widths(wave: np.ndarray) -> np.ndarray:
    """Widths (same unit as wave) of pixels centred on increasing wavelengths, edges half-way between centres."""
    if len(wave) < 2:
        return np.ones_like(wave)
    inner = (wave[1:] + wave[:-1]) / 2
    edges = np.concatenate([[2 * wave[0] - inner[0]], inner, [2 * wave[-1] - inner[-1]]])
    return np.diff(edges)


def _axis_unit(
    header: fits.Header, axis: int, source: str, wave_unit: str | None, notes: list[str]
) -> u.UnitBase | None:
    """The wavelength unit from --wave-unit, CUNITn or IRAF's WATn_001; None when the file says nothing."""
    stated = header.get(f"CUNIT{axis}")
    if stated is None and (wat := WAT_UNITS.search(str(header.get(f"WAT{axis}_001", "")))):
        stated = wat.group(1)
    if wave_unit is not None:
        unit = wavelength_unit(wave_unit, "--wave-unit", notes)
        if stated is not None and str(stated).strip():
            notes.append(f"{source}: wavelength unit {unit} from --wave-unit used instead of the file's {stated!r}")
        return unit
    if stated is None or not str(stated).strip():
        return None
    return wavelength_unit(str(stated), f"{source} CUNIT{axis}", notes)


def _step(header: fits.Header, axis: int, source: str) -> float:
    """The wavelength step per pixel: CDi_i, else CDELTi times PCi_i; InputError when it is zero."""
    cd, pc = f"CD{axis}_{axis}", f"PC{axis}_{axis}"
    if cd in header:
        step, keys = header_number(header, cd, source), cd
    else:
        step = header_number(header, f"CDELT{axis}", source, 1.0) * header_number(header, pc, source, 1.0)
        keys = f"CDELT{axis}" + (f" x {pc}" if pc in header else "")
    if step == 0:
        raise InputError(
            f"{source}: the spectral axis step is zero ({keys} = 0): every pixel would have the same wavelength"
        )
    return step
