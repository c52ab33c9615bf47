"""Hostile FITS files: every problem is one InputError line naming the file and the problem, or a per-object flag."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from typer.testing import CliRunner

from invert.apps.cli import app
from invert.apps.kit.errors import InputError
from invert.apps.stars.io.read import read_observations
from invert.apps.stars.model.linelist import AIR_AA, HALPHA, HBETA, NAMES
from invert.apps.stars.model.problem import StarsProblem

from .synth import sdss_hdus, write_cube, write_line_table, write_spectrum_1d

OIII5007 = NAMES.index("OIII5007")
STRONG = [HBETA, OIII5007, HALPHA, NAMES.index("NII6583")]
LINE_UNIT = "erg/(s cm2)"


def refused(path, *phrases: str, **options) -> str:
    """The InputError message of reading path: one line naming the file and containing every phrase."""
    with pytest.raises(InputError) as info:
        read_observations(path, **options)
    message = str(info.value)
    assert "\n" not in message and os.path.basename(path) in message, message
    assert all(phrase in message for phrase in phrases), message
    return message


def edited(src, dst, change) -> str:
    """A copy of the FITS file src, changed by change(hdul), written to dst."""
    with fits.open(src) as hdul:
        copy = fits.HDUList([hdu.copy() for hdu in hdul])
    change(copy)
    copy.writeto(dst, output_verify="ignore")
    return str(dst)


def card(key: str, value, hdu: int = 0):
    """A change for `edited` that sets one header keyword."""
    return lambda hdul: hdul[hdu].header.__setitem__(key, value)


def patched(src, dst, start: bytes, new: bytes) -> str:
    """A copy of src whose first 80-byte card beginning with `start` is replaced by the raw bytes `new`."""
    data = bytearray(Path(src).read_bytes())
    i = data.index(start)
    data[i : i + 80] = new.ljust(80)
    Path(dst).write_bytes(bytes(data))
    return str(dst)


def table(path, rows: dict[str, dict[str, tuple[float, float]]]) -> str:
    """A wide line table in erg/(s cm2): {id: {column stem: (flux, error)}}, one column pair per stem."""
    stems = list(dict.fromkeys(stem for lines in rows.values() for stem in lines))
    cols = {"ID": (list(rows), "ID")}
    for stem in stems:
        cols[f"{stem}_FLUX"] = ([rows[r].get(stem, (np.nan,) * 2)[0] for r in rows], LINE_UNIT)
        cols[f"{stem}_FLUX_ERR"] = ([rows[r].get(stem, (np.nan,) * 2)[1] for r in rows], LINE_UNIT)
    return write_line_table(path, cols)


def binary_table(path, columns: list[fits.Column]) -> str:
    """A file whose HDU 1 is a binary table of the given columns."""
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(path)
    return str(path)


@pytest.fixture
def spectrum(tmp_path) -> str:
    return write_spectrum_1d(tmp_path / "spectrum.fits")


@pytest.fixture(scope="module")
def cube(tmp_path_factory) -> str:
    return write_cube(tmp_path_factory.mktemp("cube") / "cube.fits")


# --- spectral axis ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["CDELT1", "CD1_1", "PC1_1"])
def test_zero_wavelength_step(spectrum, tmp_path, key):
    refused(edited(spectrum, tmp_path / "step.fits", card(key, 0.0)), "spectral axis step is zero", key)


def test_tabular_wavelength_axis_is_refused_before_astropy_wcs(spectrum, tmp_path):
    refused(
        edited(spectrum, tmp_path / "tab.fits", card("CTYPE1", "WAVE-TAB")), "'WAVE-TAB'", "(-TAB)", "not supported"
    )


@pytest.mark.parametrize("key", ["CRVAL1", "CDELT1", "CRPIX1"])
def test_wcs_keyword_that_is_not_a_number(spectrum, tmp_path, key):
    refused(edited(spectrum, tmp_path / "text.fits", card(key, "abc")), f"{key} = 'abc' is not a finite number")


def test_wcs_without_finite_wavelengths(spectrum, tmp_path):
    refused(
        edited(spectrum, tmp_path / "f2w.fits", card("CTYPE1", "WAVE-F2W")), "'WAVE-F2W'", "NaN or infinite wavelengths"
    )


@pytest.mark.parametrize(
    "unit, why", [("parsec", "length of 3.09e+16 m"), ("km", "length of 1e+03 m"), ("Hz", "'frequency'")]
)
def test_cunit_that_is_not_a_wavelength_unit(spectrum, tmp_path, unit, why):
    refused(
        edited(spectrum, tmp_path / "unit.fits", card("CUNIT1", unit)), f"CUNIT1 '{unit}' is not a wavelength unit", why
    )


def test_non_ascii_unit(spectrum, tmp_path):
    path = patched(spectrum, tmp_path / "ascii.fits", b"CUNIT1  =", "CUNIT1  = '\u00c5ngstr'".encode())
    refused(path, "CUNIT1", "non-ASCII")


def test_cube_zero_step_tabular_axis_and_no_reference_value(cube, tmp_path):
    refused(edited(cube, tmp_path / "step.fits", card("CD3_3", 0.0, hdu=1)), "step is zero (CD3_3 = 0)")
    refused(edited(cube, tmp_path / "tab.fits", card("CTYPE3", "AWAV-TAB", hdu=1)), "'AWAV-TAB'", "not supported")
    refused(edited(cube, tmp_path / "crval.fits", lambda hdul: hdul[1].header.remove("CRVAL3")), "CRVAL3 is missing")


# --- damaged files ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [100, 1000])
def test_cut_inside_the_first_header(spectrum, tmp_path, keep):
    path = tmp_path / "cut.fits"
    path.write_bytes(Path(spectrum).read_bytes()[:keep])
    message = refused(path, "truncated", "first header")
    assert "not a FITS file" not in message


def test_invalid_bitpix(spectrum, tmp_path):
    refused(
        patched(spectrum, tmp_path / "bitpix.fits", b"BITPIX  =", b"BITPIX  =                   17"),
        "BITPIX = 17",
        "not a FITS data type",
    )


def test_naxis1_zero_with_data_after_the_header(spectrum, tmp_path):
    refused(
        patched(spectrum, tmp_path / "naxis.fits", b"NAXIS1  =", b"NAXIS1  =                    0"),
        "truncated or damaged",
    )


@pytest.mark.parametrize(
    "key, value, phrase", [("BSCALE", 0.0, "BSCALE = 0"), ("BZERO", "abc", "BZERO = 'abc' is not a finite number")]
)
def test_invalid_scaling_keywords(spectrum, tmp_path, key, value, phrase):
    refused(edited(spectrum, tmp_path / "scaling.fits", card(key, value)), phrase)


def test_scaled_integer_image_is_read(spectrum, tmp_path):
    def to_int16(hdul):
        flux = hdul[0].data.astype(np.float64)
        scale = np.abs(flux).max() / 30000
        hdul[0].data = np.round(flux / scale).astype(np.int16)
        hdul[0].header["BSCALE"], hdul[0].header["BZERO"] = scale, 0.0

    obs, ref = read_observations(edited(spectrum, tmp_path / "int16.fits", to_int16)), read_observations(spectrum)
    assert obs.status[0] == "ok"
    np.testing.assert_allclose(obs.fluxes[0, STRONG], ref.fluxes[0, STRONG], rtol=0.01)


def test_table_with_zero_rows(tmp_path):
    path = binary_table(
        tmp_path / "empty.fits",
        [
            fits.Column(name="HB4861_FLUX", format="E", unit=LINE_UNIT),
            fits.Column(name="HB4861_FLUX_ERR", format="E", unit=LINE_UNIT),
        ],
    )
    refused(path, "no data", "0 rows")


# --- table columns ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", ["HB4861_FLUX", "HB4861_FLUX_ERR", "Z"])
def test_line_table_vector_column(tmp_path, vector):
    columns = [
        fits.Column(
            name=name,
            format="3E" if name == vector else "E",
            unit=LINE_UNIT,
            array=np.ones((2, 3)) if name == vector else np.ones(2),
        )
        for name in ("HB4861_FLUX", "HB4861_FLUX_ERR", "Z")
    ]
    refused(binary_table(tmp_path / "vector.fits", columns), f"column {vector} (TFORM '3E')", "shape (3,)")


def test_line_table_text_column(tmp_path):
    path = binary_table(
        tmp_path / "text.fits",
        [
            fits.Column(name="HB4861_FLUX", format="8A", unit=LINE_UNIT, array=["a", "b"]),
            fits.Column(name="HB4861_FLUX_ERR", format="E", unit=LINE_UNIT, array=[1.0, 1.0]),
        ],
    )
    refused(path, "column HB4861_FLUX (TFORM '8A') holds text")


def test_sdss_vector_flux_column(tmp_path):
    loglam = np.arange(np.log10(3700.0), np.log10(9000.0), 1e-4)
    path = binary_table(
        tmp_path / "sdss.fits",
        [
            fits.Column(name="flux", format="3E", array=np.ones((len(loglam), 3))),
            fits.Column(name="loglam", format="E", array=loglam),
            fits.Column(name="ivar", format="E", array=np.ones(len(loglam))),
        ],
    )
    refused(path, "same number of values per row", "flux 3 (TFORM '3E')", "loglam 1 (TFORM 'E')")


def test_spectrum_as_a_plain_table_gets_a_hint(tmp_path):
    wave = np.arange(3600.0, 7300.0)
    path = binary_table(
        tmp_path / "table_spectrum.fits",
        [
            fits.Column(name="WAVELENGTH", format="D", unit="Angstrom", array=wave),
            fits.Column(name="FLUX", format="3E", unit="1e-17 erg/s/cm2/Angstrom", array=np.ones((len(wave), 3))),
        ],
    )
    refused(path, "unrecognised FITS layout", "wavelength column", "SDSS form")


def test_duplicate_ids_are_refused_as_in_tissue(tmp_path):
    path = table(tmp_path / "dup.fits", {"a": {"HB4861": (1e-15, 1e-17)}, "b": {"HB4861": (1e-15, 1e-17)}})
    with fits.open(path, mode="update") as hdul:
        hdul[1].data["ID"][1] = "a"
    refused(path, "duplicate id 'a'; every row needs its own id")


def test_blank_and_non_ascii_ids_keep_their_rows(tmp_path):
    rows = {name: {"HB4861": (1e-15, 1e-17)} for name in ("a", "b", "idc", "d")}
    path = table(tmp_path / "ids.fits", rows)
    with fits.open(path, mode="update") as hdul:
        hdul[1].data["ID"][0] = ""
        hdul[1].data["ID"][1] = ""
    assert list(read_observations(path).ids) == ["row0", "row1", "idc", "d"]  # blank ids are not duplicates
    (tmp_path / "latin1.fits").write_bytes(Path(path).read_bytes().replace(b"idc", b"id\xe9", 1))
    ids = list(read_observations(tmp_path / "latin1.fits").ids)  # not ASCII: decoded, never a bytes repr
    assert ids[2].startswith("id") and not any(i.startswith("b'") for i in ids) and ids[3] == "d"


# --- cubes ------------------------------------------------------------------------------------------------------------


def test_cube_negative_variances_make_spaxels_unusable_with_a_warning(cube, tmp_path):
    def negative_centre(hdul):
        hdul["STAT"].data[:, 2, 2] = -1.0

    obs = read_observations(edited(cube, tmp_path / "neg.fits", negative_centre))
    pixels = set(map(tuple, obs.pixel.tolist()))
    assert (2, 2) not in pixels and len(pixels) == 8 and (obs.status == "ok").all()
    assert any("negative" in w and "STAT" in w for w in obs.warnings)


def test_cube_all_variances_negative(cube, tmp_path):
    def negative(hdul):
        hdul["STAT"].data[:] = -np.abs(hdul["STAT"].data)

    refused(edited(cube, tmp_path / "neg.fits", negative), "100.0% of the variance values", "negative")


def test_cube_all_nan(cube, tmp_path):
    def nan(hdul):
        hdul["DATA"].data[:] = np.nan

    path = edited(cube, tmp_path / "nan.fits", nan)
    refused(path, "every flux value read from HDU DATA is NaN")
    refused(path, "NaN", aperture=(2, 2, 1))


def test_cube_with_decreasing_wavelengths(cube, tmp_path):
    def reverse(hdul):
        for hdu in hdul[1:]:
            n, step = hdu.header["NAXIS3"], hdu.header["CD3_3"]
            hdu.header["CRVAL3"], hdu.header["CD3_3"] = hdu.header["CRVAL3"] + (n - 1) * step, -step
            hdu.data = hdu.data[::-1].copy()

    obs, ref = read_observations(edited(cube, tmp_path / "down.fits", reverse)), read_observations(cube)
    assert obs.pixel.tolist() == ref.pixel.tolist() and (obs.mask == ref.mask).all()
    assert np.all(np.abs(obs.fluxes - ref.fluxes)[ref.mask] < 0.01 * ref.errors[ref.mask])


# --- extreme values ---------------------------------------------------------------------------------------------------


def test_extreme_line_values_flag_their_objects_only(tmp_path):
    hb, ha = (3.5e-15, 1e-17), (1e-14, 1e-17)
    rows = {
        "good": {"HB4861": hb, "HA6562": ha},
        "huge": {"HB4861": (1e308, 1e-17), "HA6562": ha},
        "inf": {"HB4861": (np.inf, 1e-17), "HA6562": ha},
        "minus_inf": {"HB4861": (-np.inf, 1e-17), "HA6562": ha},
        "tiny_error": {"HB4861": (3.5e-15, 5e-324), "HA6562": ha},
        "huge_error": {"HB4861": (3.5e-15, 1e308)},
        "zero_flux": {"HB4861": (5e-324, 1e-17), "HA6562": ha},
        "negative": {"HB4861": (-3.5e-15, 1e-17)},
        "nan": {"HB4861": (np.nan, 1e-17), "HA6562": ha},
        "bad_halpha": {"HB4861": hb, "HA6562": (np.inf, 1e-17)},
        "all_bad": {"HB4861": (np.inf, 1e-17), "HA6562": (1e308, 1.0)},
    }
    obs = read_observations(table(tmp_path / "extreme.fits", rows))
    status = dict(zip(obs.ids, obs.status))
    assert status == {
        "good": "ok",
        "huge": "bad_values",
        "inf": "bad_values",
        "minus_inf": "bad_values",
        "tiny_error": "bad_values",
        "huge_error": "bad_values",
        "zero_flux": "no_hbeta",
        "negative": "no_hbeta",
        "nan": "no_hbeta",
        "bad_halpha": "ok",
        "all_bad": "bad_values",
    }
    good, partial = list(obs.ids).index("good"), list(obs.ids).index("bad_halpha")
    assert obs.fluxes[good, [HBETA, HALPHA]].tolist() == [hb[0], ha[0]] and obs.mask[good].sum() == 2
    assert obs.mask[partial, HBETA] and not obs.mask[partial, HALPHA] and np.isnan(obs.fluxes[partial, HALPHA])
    assert np.isfinite(obs.fluxes[obs.mask]).all() and np.isnan(obs.fluxes[~obs.mask]).all()
    assert any("bad_values" in w and "huge: Hbeta" in w for w in obs.warnings)
    ok = obs.status == "ok"
    y = StarsProblem(ratios_only=True).preprocess_lines(obs.fluxes[ok], obs.errors[ok], obs.mask[ok])
    assert np.isfinite(y).all() and np.abs(y).max() < 10


def test_extreme_spectrum_pixels_are_masked(spectrum, tmp_path):
    ref = read_observations(spectrum)
    ha, hb, o3 = (round(AIR_AA[j] * 1.02 - 3600.0) for j in (HALPHA, HBETA, OIII5007))  # 1 A pixels from 3600

    def extreme(hdul):
        flux, err = (hdul[i].data.astype(np.float64) for i in (0, 1))
        flux[ha], flux[hb], err[o3], err[ha + 30], err[hb + 30] = 1e308, np.inf, 5e-324, 1e-70, np.nan
        hdul[0].data, hdul[1].data = flux, err

    obs = read_observations(edited(spectrum, tmp_path / "extreme.fits", extreme))
    assert obs.status[0] == "ok" and obs.mask.all()
    np.testing.assert_allclose(obs.fluxes[0, STRONG], ref.fluxes[0, STRONG], rtol=0.05)
    assert any("2 pixel(s) with a flux or error beyond 1e+60" in w for w in obs.warnings)  # 1e308 and 1e-87


def test_spectrum_of_extreme_values_only(spectrum, tmp_path):
    def huge(hdul):
        hdul[0].data = np.full(hdul[0].data.shape, 1e308)

    def tiny_errors(hdul):
        hdul[1].data = np.full(hdul[1].data.shape, 5e-324)

    refused(edited(spectrum, tmp_path / "huge.fits", huge), "every flux value is NaN, infinite or beyond 1e+60")
    refused(edited(spectrum, tmp_path / "tiny.fits", tiny_errors), "no pixel has a usable error")


def test_infinite_table_redshift_is_a_bad_redshift(tmp_path):
    cols = {
        "HB4861_FLUX": ([3.5e-15] * 3, LINE_UNIT),
        "HB4861_FLUX_ERR": ([1e-17] * 3, LINE_UNIT),
        "Z": ([0.01, np.inf, -np.inf], None),
    }
    assert list(read_observations(write_line_table(tmp_path / "z.fits", cols)).status) == ["ok"] + ["bad_redshift"] * 2


def test_wavelengths_outside_the_optical(tmp_path):
    loglam = np.arange(np.log10(370.0), np.log10(900.0), 1e-4)  # log10 of nm, not of Angstrom
    path = tmp_path / "sdss_nm.fits"
    sdss_hdus(loglam, np.ones(len(loglam)), np.ones(len(loglam)), 0.05).writeto(path)
    refused(path, "run 370-899.9 Angstrom, outside the 3000-11000 Angstrom", "wavelength unit")


# --- the command line -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["zero_step", "cut_header"])
def test_cli_prints_one_error_line_and_writes_nothing(spectrum, tmp_path, damage):
    if damage == "zero_step":
        path = edited(spectrum, tmp_path / "bad.fits", card("CDELT1", 0.0))
    else:
        path = tmp_path / "bad.fits"
        path.write_bytes(Path(spectrum).read_bytes()[:1000])
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["stars", "--fits", str(path), "--out", str(out), "--ratios-only", "--samples", "16", "--quiet"]
    )
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "bad.fits" in lines[0] and ("step is zero" in lines[0] or "truncated" in lines[0])
    assert not out.exists()
