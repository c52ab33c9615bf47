"""Units of wavelengths and fluxes in user FITS files (stars.md section 4 "Unit handling"), parsed with astropy.units.

Text is normalised before parsing: 'Ang', 'Angs', 'ANGSTROM', 'Angstroms', 'Å' -> 'Angstrom' and 'ergs' -> 'erg'.
astropy reads a bare 'A' as Ampère; it is taken as Angstrom only where a wavelength belongs: as the whole of a
wavelength unit, or with power -1 in a flux density ('erg/s/cm2/A', 'erg s-1 cm-2 A-1'). An Ampère anywhere
else is refused. Numeric factors ('1E-17 erg/cm^2/s/Ang', '10**(-20)*erg/s/cm**2/Angstrom') are kept.
Every reinterpretation is written to the caller's notes, so the report can say what was assumed.
"""

from __future__ import annotations

import re
import warnings

import astropy.units as u
import numpy as np

from invert.apps.kit.errors import InputError

__all__ = [
    "FLAM",
    "LINE_FLUX",
    "OPTICAL_AA",
    "flambda_factor",
    "flux_density_unit",
    "guess_wavelength_unit",
    "line_flux_factor",
    "line_flux_unit",
    "normalise_unit_text",
    "parse_unit",
    "wavelength_unit",
]

FLAM = u.erg / u.s / u.cm**2 / u.AA  # the flux density every spectrum is converted to
LINE_FLUX = u.erg / u.s / u.cm**2  # the unit of every measured line flux
ANGSTROM_WORDS = re.compile(r"(?<![A-Za-z])(?:angstroms?|angs?|Å)(?![A-Za-z])", re.IGNORECASE)
ERGS = re.compile(r"(?<![A-Za-z])ergs(?![A-Za-z])", re.IGNORECASE)
COUNT_UNITS = (u.adu, u.ct, u.electron, u.DN)
COUNT_WORDS = re.compile(r"(?<![A-Za-z])(?:counts?|cts?|adus?|dn|electrons?|e-)(?![A-Za-z])", re.IGNORECASE)
FLUX_DENSITY_TYPES = (
    "spectral flux density wav",
    "spectral flux density",
    "photon flux density wav",
    "photon flux density",
)
# raw wavelength range (both ends inside) -> unit, for a spectral axis that states none (stars.md section 4)
OPTICAL_AA = (3000.0, 11000.0)  # where the 12 lines lie at the redshifts of the model (assemble.Z_RANGE)
WAVELENGTH_RANGES = ((*OPTICAL_AA, u.AA), (300.0, 1100.0, u.nm), (0.3, 1.1, u.um), (3e-7, 1.1e-6, u.m))
WAVELENGTH_METRES = (1e-12, 1.0)  # sizes of the units a wavelength axis may be written in (pm to m)
REPLACED = "?"  # astropy's stand-in for a non-ASCII character of a header


def normalise_unit_text(text: str) -> str:
    """Unit text with Angstrom spellings and 'ergs' made astropy-readable (a bare 'A' is left to parse_unit)."""
    text = text.strip().strip("'\"").strip()
    text = ANGSTROM_WORDS.sub("Angstrom", text)
    return ERGS.sub("erg", text)


def parse_unit(text: str, source: str, wavelength: bool = False) -> tuple[u.UnitBase, str | None]:
    """(unit, note or None) of unit text ('A' = Angstrom as a wavelength or to power -1); InputError if unreadable."""
    clean = normalise_unit_text(text)
    unit = _astropy_unit(clean)
    if unit is None and COUNT_WORDS.search(clean):
        raise InputError(
            f"the unit {text!r} of {source} is in detector units (counts, ADU, electrons), not a calibrated flux"
        )
    if unit is None:
        replaced = " (non-ASCII characters of the header were replaced by '?')" if REPLACED in text else ""
        raise InputError(
            f"cannot read the unit {text!r} of {source}{replaced}; write it like 'erg/s/cm2/Angstrom' "
            "or '1e-17 erg/(s cm2)'"
        )
    changed = clean != text.strip().strip("'\"").strip()
    ampere = _ampere_power(unit)
    if ampere and (wavelength and ampere == 1 or not wavelength and ampere == -1):
        unit = unit * (u.AA / u.A) ** ampere
        return unit, f"{source}: unit {text!r} read as '{unit}' ('A' taken as Angstrom, not Ampère)"
    if ampere:
        raise InputError(f"the unit {text!r} of {source} contains 'A' read as Ampère; write Angstrom for Ångström")
    return unit, (f"{source}: unit {text!r} read as '{unit}'" if changed else None)


def wavelength_unit(text: str, source: str, notes: list[str]) -> u.UnitBase:
    """A length unit from pm to m for a wavelength axis from text (bare 'A' = Angstrom); InputError otherwise."""
    unit, note = parse_unit(text, source, wavelength=True)
    if unit.physical_type != "length":
        raise InputError(
            f"{source} {text!r} is not a wavelength unit: it is of type '{unit.physical_type}' "
            "(wavelengths need e.g. Angstrom, nm, um or m)"
        )
    metres = unit.to(u.m)
    if not WAVELENGTH_METRES[0] <= metres <= WAVELENGTH_METRES[1]:
        raise InputError(
            f"{source} {text!r} is not a wavelength unit: it is a length of {metres:.3g} m "
            "(wavelength units run from pm to m, e.g. Angstrom, nm, um)"
        )
    if note:
        notes.append(note)
    return unit


def flux_density_unit(text: str, source: str, notes: list[str]) -> u.UnitBase:
    """A spectral flux density unit, F_lambda or F_nu (converted later with u.spectral_density); else InputError."""
    unit, note = parse_unit(text, source)
    if not any(unit.physical_type == kind for kind in FLUX_DENSITY_TYPES):
        how = " (reading 'A' as Angstrom)" if note and "Ampère" in note else ""
        raise InputError(
            f"the unit {text!r} of {source} {_not_a_flux(unit)}{how}; invert needs a flux density, "
            "F_lambda (e.g. 1e-17 erg/s/cm2/Angstrom) or F_nu (e.g. Jy)"
        )
    if note:
        notes.append(note)
    if unit.physical_type != "spectral flux density wav":
        notes.append(f"{source}: {unit.physical_type} in '{unit}' converted to F_lambda with u.spectral_density")
    return unit


def line_flux_unit(text: str, source: str, notes: list[str]) -> u.UnitBase:
    """An energy-flux unit for line fluxes (e.g. 1e-20 erg/(s cm2)); InputError otherwise."""
    unit, note = parse_unit(text, source)
    if unit.physical_type != "energy flux":
        raise InputError(
            f"the unit {text!r} of {source} {_not_a_flux(unit, line=True)}; "
            "line fluxes need an energy flux such as erg/(s cm2) or 1e-20 erg/(s cm2)"
        )
    if note:
        notes.append(note)
    return unit


def flambda_factor(unit: u.UnitBase, wave_aa: np.ndarray) -> np.ndarray:
    """Per-pixel factors turning values in unit into erg/s/cm2/Angstrom at the wavelengths wave_aa."""
    wave = np.asarray(wave_aa, dtype=np.float64) * u.AA
    return (np.ones(wave.shape) * unit).to_value(FLAM, equivalencies=u.spectral_density(wave))


def line_flux_factor(unit: u.UnitBase) -> float:
    """Factor turning line fluxes in unit into erg/s/cm2."""
    return float(unit.to(LINE_FLUX))


def guess_wavelength_unit(lo: float, hi: float) -> u.UnitBase | None:
    """The unit of a raw optical wavelength range by its size (Angstrom, nm, micron, m), or None when it fits none."""
    for low, high, unit in WAVELENGTH_RANGES:
        if low <= lo and hi <= high:
            return unit
    return None


def _astropy_unit(text: str) -> u.UnitBase | None:
    """astropy's reading of unit text (generic format, then FITS and CDS), or None."""
    for fmt in ("generic", "fits", "cds"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", u.UnitsWarning)
            try:
                return u.Unit(text, format=fmt, parse_strict="raise")
            except (ValueError, TypeError):
                continue
    return None


def _ampere_power(unit: u.UnitBase) -> int:
    """The power of Ampère in a unit (0 when absent)."""
    bases = getattr(unit, "bases", [unit])
    powers = getattr(unit, "powers", [1])
    return int(sum(p for b, p in zip(bases, powers) if b == u.A))


def _not_a_flux(unit: u.UnitBase, line: bool = False) -> str:
    """Why a unit is not the flux wanted, for the error message."""
    bases = getattr(unit, "bases", [unit])
    if unit == u.dimensionless_unscaled:
        return "is unitless"
    if any(b in COUNT_UNITS for b in bases):
        return "is in detector units (counts, ADU, electrons), not a calibrated flux"
    if line and any(unit.physical_type == kind for kind in FLUX_DENSITY_TYPES):
        return "is a flux density, not a line flux"
    return f"is of type '{unit.physical_type}'"
