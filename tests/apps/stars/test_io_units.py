"""Unit handling of FITS inputs (stars.md section 4 "Unit handling", V6): astropy's traps and our normalisation."""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from invert.apps.kit.errors import InputError
from invert.apps.stars.io.spectral_axis import wavelength_axis
from invert.apps.stars.io.units import (
    FLAM,
    flambda_factor,
    flux_density_unit,
    guess_wavelength_unit,
    line_flux_factor,
    line_flux_unit,
    wavelength_unit,
)


def quiet_unit(text: str) -> u.UnitBase:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        return u.Unit(text, parse_strict="raise")


# --- V6: the facts about astropy the readers are built on -------------------------------------------------------


def test_v6_bare_a_is_ampere_and_flux_with_it_is_unknown():
    assert u.Unit("A") == u.A
    assert quiet_unit("erg/s/cm2/A").physical_type == "unknown"


def test_v6_muse_bunit_is_an_flambda_with_its_factor():
    unit = quiet_unit("10**(-20)*erg/s/cm**2/Angstrom")
    assert unit.physical_type == "spectral flux density wav"
    assert unit.to(FLAM) == pytest.approx(1e-20, rel=1e-12)


def test_v6_ang_with_numeric_prefix_is_refused_by_astropy():
    with pytest.raises(ValueError):
        quiet_unit("1E-17 erg/cm^2/s/Ang")


def test_v6_wcs_returns_metres():
    header = fits.Header(
        {
            "NAXIS": 1,
            "NAXIS1": 10,
            "CTYPE1": "WAVE",
            "CUNIT1": "Angstrom",
            "CRVAL1": 4000.0,
            "CDELT1": 2.0,
            "CRPIX1": 1.0,
        }
    )
    assert WCS(header).wcs_pix2world([0], 0)[0][0] == pytest.approx(4.0e-7, rel=1e-12)


# --- our normalisation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, scale",
    [
        ("erg/s/cm2/A", 1.0),
        ("erg s-1 cm-2 A-1", 1.0),
        ("erg/(s cm2 A)", 1.0),
        ("1E-17 erg/cm^2/s/Ang", 1e-17),
        ("10**(-20)*erg/s/cm**2/Angstrom", 1e-20),
        ("ergs/s/cm2/Angstroms", 1.0),
        ("1e-17 erg/s/cm2/ANGSTROM", 1e-17),
        ("10^-17 erg/s/cm^2/Ang", 1e-17),
        ("W/m2/nm", 1e7 / 1e4 / 10),  # 1 W m-2 nm-1 = 1e7 erg/s / 1e4 cm2 / 10 Angstrom
    ],
)
def test_flambda_spellings(text, scale):
    notes: list[str] = []
    unit = flux_density_unit(text, "BUNIT", notes)
    assert unit.to(FLAM) == pytest.approx(scale, rel=1e-12)


def test_every_reinterpretation_is_noted():
    notes: list[str] = []
    flux_density_unit("erg/s/cm2/A", "BUNIT", notes)
    flux_density_unit("1E-17 erg/cm^2/s/Ang", "BUNIT", notes)
    flux_density_unit("erg/s/cm2/Angstrom", "BUNIT", notes)  # standard: nothing to note
    assert len(notes) == 2
    assert "Angstrom, not Ampère" in notes[0] and "'A'" in notes[0]
    assert "1E-17 erg/cm^2/s/Ang" in notes[1]


@pytest.mark.parametrize("text", ["A", "Angstroms", "ANGSTROM", "Ang", "AA", "Angstrom"])
def test_wavelength_angstrom_spellings(text):
    assert wavelength_unit(text, "CUNIT1", []) == u.AA


def test_wavelength_unit_must_be_a_length():
    with pytest.raises(InputError, match="not a wavelength unit"):
        wavelength_unit("Hz", "CUNIT1", [])


def test_fnu_is_converted_with_spectral_density():
    notes: list[str] = []
    unit = flux_density_unit("mJy", "BUNIT", notes)
    factor = flambda_factor(unit, np.array([5000.0]))[0]
    # F_lambda = F_nu c / lambda^2
    expected = 1e-26 * 2.99792458e10 / (5000e-8) ** 2 * 1e-8
    assert factor == pytest.approx(expected, rel=1e-9)
    assert any("converted to F_lambda" in n for n in notes)


@pytest.mark.parametrize(
    "text, match",
    [
        ("adu", "detector units"),
        ("ADU", "detector units"),
        ("counts", "detector units"),
        ("ct/s", "detector units"),
        ("electron", "detector units"),
        ("", "unitless"),
        ("erg/s/cm2", "energy flux"),
        ("erg/s/cm2/Angstrom/arcsec2", "surface brightness"),
        ("erg/s/cm2/Angstrom A", "unknown.*reading 'A' as Angstrom"),
        ("A erg/s/cm2", "Ampère"),
        ("furlongs", "cannot read the unit"),
    ],
)
def test_non_flux_densities_are_refused(text, match):
    with pytest.raises(InputError, match=match):
        flux_density_unit(text, "BUNIT", [])


def test_line_tables_need_energy_flux():
    assert line_flux_factor(line_flux_unit("1e-20 erg/(s cm2)", "TUNIT2", [])) == pytest.approx(1e-20)
    assert line_flux_factor(line_flux_unit("W/m2", "TUNIT2", [])) == pytest.approx(1e3)
    for text, match in (
        ("1e-20 erg/(s cm2 Angstrom)", "flux density, not a line flux"),
        ("erg/s", "power"),
        ("adu", "detector units"),
    ):
        with pytest.raises(InputError, match=match):
            line_flux_unit(text, "TUNIT2", [])


@pytest.mark.parametrize(
    "lo, hi, unit",
    [
        (3600, 9000, u.AA),
        (360, 900, u.nm),
        (0.36, 0.9, u.um),
        (3.6e-7, 9e-7, u.m),
        (1e4, 2.5e4, None),
        (100, 200, None),
    ],
)
def test_wavelength_unit_guess_by_range(lo, hi, unit):
    assert guess_wavelength_unit(lo, hi) == unit


@pytest.mark.parametrize(
    "cunit, crval, cdelt",
    [("Angstrom", 4000.0, 2.0), ("m", 4e-7, 2e-10), ("nm", 400.0, 0.2), ("A", 4000.0, 2.0), ("Angstroms", 4000.0, 2.0)],
)
def test_wavelength_axis_in_any_unit_gives_angstrom(cunit, crval, cdelt):
    header = fits.Header({"CTYPE1": "WAVE", "CUNIT1": cunit, "CRVAL1": crval, "CDELT1": cdelt, "CRPIX1": 1.0})
    wave, medium = wavelength_axis(header, 1, 5, "test", None, [])
    np.testing.assert_allclose(wave, 4000.0 + 2.0 * np.arange(5), rtol=1e-12)
    assert medium == "vacuum"


def test_wavelength_axis_media_and_assumptions():
    base = {"CRVAL1": 4000.0, "CDELT1": 2.0, "CRPIX1": 1.0}
    notes: list[str] = []
    header = fits.Header({**base, "CTYPE1": "AWAV", "CUNIT1": "Angstrom"})
    assert wavelength_axis(header, 1, 5, "t", None, notes)[1] == "air"
    assert notes == []
    wave, medium = wavelength_axis(fits.Header({**base, "CTYPE1": "LINEAR"}), 1, 5, "t", None, notes)
    assert medium == "air" and wave[0] == pytest.approx(4000.0)
    assert any("assumed in air" in n for n in notes) and any("assumed to be in Angstrom" in n for n in notes)


def test_wavelength_axis_wave_without_cunit_is_not_read_as_metres():
    # astropy.wcs reports metres for a WAVE axis without CUNIT while returning the raw numbers
    header = fits.Header({"CTYPE1": "WAVE", "CRVAL1": 4000.0, "CDELT1": 2.0, "CRPIX1": 1.0})
    wave, _ = wavelength_axis(header, 1, 5, "t", None, [])
    assert wave[0] == pytest.approx(4000.0)


def test_wavelength_axis_dc_flag_log10():
    header = fits.Header({"CTYPE1": "LINEAR", "CRVAL1": np.log10(4000.0), "CDELT1": 1e-4, "CRPIX1": 1.0, "DC-FLAG": 1})
    notes: list[str] = []
    wave, _ = wavelength_axis(header, 1, 3, "t", None, notes)
    np.testing.assert_allclose(wave, 4000.0 * 10 ** (1e-4 * np.arange(3)), rtol=1e-10)


def test_wave_unit_option_and_unknowable_unit():
    header = fits.Header({"CTYPE1": "WAVE", "CRVAL1": 15000.0, "CDELT1": 2.0, "CRPIX1": 1.0})
    with pytest.raises(InputError, match="--wave-unit"):
        wavelength_axis(header, 1, 5, "t", None, [])
    wave, _ = wavelength_axis(header, 1, 5, "t", "nm", [])
    assert wave[0] == pytest.approx(150000.0)
