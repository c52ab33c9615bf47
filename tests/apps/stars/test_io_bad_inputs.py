"""Every bad input of stars.md section 4: one clear InputError line for unusable files, row flags otherwise."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from astropy.io import fits

from invert.apps.kit.errors import InputError
from invert.apps.stars.io.read import read_observations
from invert.apps.stars.model.linelist import HALPHA, HBETA

from .synth import V1_FLUX, sdss_hdus, write_cube, write_line_table, write_sdss, write_spectrum_1d


def one_line_error(path, **options) -> str:
    """The InputError message of reading path; it must be a single line."""
    with pytest.raises(InputError) as info:
        read_observations(path, **options)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def test_missing_file_and_directory(tmp_path):
    assert "not found" in one_line_error(tmp_path / "nope.fits")
    assert "directory" in one_line_error(tmp_path)


def test_not_fits(tmp_path):
    path = tmp_path / "spectrum.fits"
    path.write_text("wavelength,flux\n4000,1.0\n")
    assert "not a FITS file" in one_line_error(path)
    (tmp_path / "empty.fits").write_bytes(b"")
    assert "empty" in one_line_error(tmp_path / "empty.fits")


@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_truncated(tmp_path, keep):
    full = write_spectrum_1d(tmp_path / "full.fits")
    data = open(full, "rb").read()
    path = tmp_path / "cut.fits"
    path.write_bytes(data[: int(len(data) * keep) // 80 * 80])
    assert "truncated" in one_line_error(path)


def test_gzip_files_are_read_and_truncated_ones_refused(tmp_path):
    plain = open(write_spectrum_1d(tmp_path / "s.fits"), "rb").read()
    with gzip.open(tmp_path / "s.fits.gz", "wb") as f:
        f.write(plain)
    assert read_observations(tmp_path / "s.fits.gz").status[0] == "ok"
    packed = (tmp_path / "s.fits.gz").read_bytes()
    (tmp_path / "cut.fits.gz").write_bytes(packed[: len(packed) // 2])
    assert "truncated" in one_line_error(tmp_path / "cut.fits.gz")


def test_no_data_hdu(tmp_path):
    path = tmp_path / "header-only.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(name="EMPTY")]).writeto(path)
    assert "no HDU has data" in one_line_error(path)


def test_all_nan_flux(tmp_path):
    path = write_spectrum_1d(tmp_path / "nan.fits")
    with fits.open(path, mode="update") as hdul:
        hdul[0].data[:] = np.nan
    assert "NaN" in one_line_error(path)


def test_ivar_all_zero(tmp_path):
    loglam = np.arange(np.log10(3700.0), np.log10(9000.0), 1e-4)
    path = tmp_path / "ivar0.fits"
    sdss_hdus(loglam, np.ones_like(loglam), np.zeros_like(loglam), 0.05).writeto(path)
    assert "ivar is 0" in one_line_error(path)


def test_errors_all_nan(tmp_path):
    path = write_spectrum_1d(tmp_path / "err.fits")
    with fits.open(path, mode="update") as hdul:
        hdul["ERR"].data[:] = np.nan
    assert "no pixel has a usable error" in one_line_error(path)


def test_non_monotonic_wavelengths(tmp_path):
    loglam = np.arange(np.log10(3700.0), np.log10(9000.0), 1e-4)
    loglam[100], loglam[101] = loglam[101], loglam[100]
    path = tmp_path / "shuffled.fits"
    sdss_hdus(loglam, np.ones_like(loglam), np.ones_like(loglam), 0.05).writeto(path)
    assert "not strictly monotonic" in one_line_error(path)


def test_decreasing_wavelengths_are_fine(tmp_path):
    ref = read_observations(write_spectrum_1d(tmp_path / "up.fits"))
    path = tmp_path / "down.fits"
    with fits.open(tmp_path / "up.fits") as hdul:
        n = hdul[0].header["NAXIS1"]
        hdul[0].header["CRVAL1"] = hdul[0].header["CRVAL1"] + (n - 1) * hdul[0].header["CDELT1"]
        hdul[0].header["CDELT1"] = -hdul[0].header["CDELT1"]
        hdul[0].data = hdul[0].data[::-1].copy()
        hdul[1].data = hdul[1].data[::-1].copy()
        hdul.writeto(path)
    np.testing.assert_allclose(read_observations(path).fluxes, ref.fluxes, rtol=1e-4)


def test_non_positive_wavelengths(tmp_path):
    path = write_spectrum_1d(tmp_path / "neg.fits")
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["CRVAL1"] = -100.0
    assert "positive" in one_line_error(path)


def test_unknowable_wavelength_unit(tmp_path):
    path = write_spectrum_1d(tmp_path / "ir.fits", unit=None, ctype="WAVE", start=12000.0, step=2.0, n=1000)
    assert "--wave-unit" in one_line_error(path)


def test_missing_flux_unit(tmp_path):
    path = write_spectrum_1d(tmp_path / "nounit.fits", bunit=None)
    assert "--flux-unit" in one_line_error(path)
    assert read_observations(path, flux_unit="1e-17 erg/s/cm2/A").status[0] == "ok"


@pytest.mark.parametrize(
    "bunit, match",
    [("adu", "detector units"), ("counts", "detector units"), ("A", "Ampère"), ("erg/s/cm2", "energy flux")],
)
def test_flux_unit_not_a_flux_density(tmp_path, bunit, match):
    assert match in one_line_error(write_spectrum_1d(tmp_path / "adu.fits", bunit=bunit))


def test_checksum_failure_only_warns(tmp_path):
    path = tmp_path / "sum.fits"
    with fits.open(write_spectrum_1d(tmp_path / "s.fits")) as hdul:
        hdul.writeto(path, checksum=True)
    with fits.open(path, mode="update", checksum=False) as hdul:
        hdul[0].header["Z"] = 0.02  # same value, rewritten card: the stored checksum no longer matches
        hdul[0].header["COMMENT"] = "edited after the checksum"
    obs = read_observations(path)
    assert obs.status[0] == "ok"
    assert any("Checksum verification failed" in w for w in obs.warnings)


def test_line_table_without_units(tmp_path):
    cols = {
        "HA6562_FLUX": ([100.0], None),
        "HA6562_FLUX_ERR": ([5.0], None),
        "HB4861_FLUX": ([35.0], None),
        "HB4861_FLUX_ERR": ([5.0], None),
    }
    path = write_line_table(tmp_path / "t.fits", cols)
    assert "--flux-unit" in one_line_error(path)
    obs = read_observations(path, flux_unit="1e-20 erg/(s cm2)")
    assert obs.fluxes[0, HALPHA] == pytest.approx(1e-18) and obs.status[0] == "ok"


def test_line_table_rows_flagged_not_fatal(tmp_path):
    unit = "1e-20 erg/(s cm2)"
    cols = {
        "ID": (["good", "nohb", "empty", "nanerr"], "ID"),
        "HA6562_FLUX": ([100.0, 100.0, np.nan, 100.0], unit),
        "HA6562_FLUX_ERR": ([5.0, 5.0, np.nan, np.nan], unit),
        "HB4861_FLUX": ([35.0, 5.0, np.nan, 35.0], unit),
        "HB4861_FLUX_ERR": ([5.0, 5.0, np.nan, np.nan], unit),
        "Z": ([0.01, 0.01, 0.01, 0.7], None),
    }
    obs = read_observations(write_line_table(tmp_path / "t.fits", cols))
    assert list(obs.status) == ["ok", "no_hbeta", "all_masked", "all_masked"]
    assert obs.mask[3].sum() == 0 and np.isnan(obs.fluxes[3]).all()


def test_table_redshift_out_of_range_is_flagged(tmp_path):
    unit = "erg/(s cm2)"
    cols = {"HB4861_FLUX": ([35.0, 35.0], unit), "HB4861_FLUX_ERR": ([1.0, 1.0], unit), "REDSHIFT": ([0.7, -0.2], None)}
    assert list(read_observations(write_line_table(tmp_path / "t.fits", cols)).status) == ["bad_redshift"] * 2


def test_negative_catalogue_flux_is_a_non_detection(tmp_path):
    unit = "erg/(s cm2)"
    cols = {
        "HB4861_FLUX": ([35.0], unit),
        "HB4861_FLUX_ERR": ([1.0], unit),
        "HA6562_FLUX": ([-4.0], unit),
        "HA6562_FLUX_ERR": ([2.0], unit),
    }
    obs = read_observations(write_line_table(tmp_path / "t.fits", cols))
    assert obs.mask[0, HALPHA] and obs.fluxes[0, HALPHA] == -4.0 and obs.errors[0, HALPHA] == 2.0
    assert not obs.detected[0, HALPHA] and obs.detected[0, HBETA]


def test_cube_without_variance(tmp_path):
    path = write_cube(tmp_path / "cube.fits")
    with fits.open(path) as hdul:
        fits.HDUList([hdul[0].copy(), hdul[1].copy()]).writeto(tmp_path / "nostat.fits")
    assert "no variance HDU" in one_line_error(tmp_path / "nostat.fits")


def test_cube_aperture_outside(tmp_path):
    assert "outside" in one_line_error(write_cube(tmp_path / "cube.fits"), aperture=(7, 2, 1))


def test_redshift_cannot_be_estimated(tmp_path):
    path = write_spectrum_1d(tmp_path / "flat.fits", header_z=False, snr=0.3)  # lines buried in the noise
    assert "--redshift" in one_line_error(path)


def test_sdss_without_redshift_and_no_catalogue(tmp_path):
    path = write_sdss(tmp_path / "s.fits", fluxes=V1_FLUX)
    assert "SPZLINE" in one_line_error(path, use_catalog_lines=True)
