"""FITS layouts A-D of stars.md section 4, written with astropy from known line fluxes and read back."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from invert.apps.kit.errors import InputError
from invert.apps.stars.io import ifu_cube
from invert.apps.stars.io.read import read_observations
from invert.apps.stars.model.linelist import AIR_AA, HALPHA, HBETA, NAMES, VACUUM_AA

from .synth import V1_FLUX, cube_brightness, write_cube, write_line_table, write_sdss, write_spectrum_1d

STRONG = [NAMES.index(n) for n in ("Hbeta", "OIII5007", "Halpha", "NII6583")]


def assert_recovered(fluxes: np.ndarray, errors: np.ndarray, truth: np.ndarray, lines=STRONG, pulls: float = 4.0):
    """Measured fluxes agree with the truth within `pulls` reported errors (and the errors are sane)."""
    f, e, t = fluxes[lines], errors[lines], truth[lines]
    assert np.all(e > 0) and np.all(e < 0.2 * t)
    assert np.all(np.abs(f - t) < pulls * e), (f / t - 1, e / t)


# --- A: SDSS ----------------------------------------------------------------------------------------------------------


def test_sdss_table(tmp_path):
    obs = read_observations(write_sdss(tmp_path / "spec-lite.fits"))
    assert obs.layout == "A" and obs.layout_name.startswith("SDSS") and obs.medium == "vacuum"
    assert list(obs.ids) == ["spec-lite"] and list(obs.status) == ["ok"]
    assert obs.redshift_source == "file" and obs.redshift[0] == pytest.approx(0.05, abs=1e-7)
    assert obs.mask.all()
    assert_recovered(obs.fluxes[0], obs.errors[0], V1_FLUX)
    assert obs.oii_sum[0] == pytest.approx(obs.fluxes[0, 0] + obs.fluxes[0, 1])
    assert any("1e-17" in n for n in obs.notes) and any("vacuum" in n for n in obs.notes)
    plot = obs.spectra[0]
    assert plot.wave.shape == plot.flux.shape == plot.model.shape and np.isfinite(plot.model).sum() > 100


def test_sdss_vacuum_list_is_used(tmp_path):
    """An SDSS (vacuum) spectrum matched with the air list would put every line ~1.8 A (80 km/s) off at Halpha."""
    obs = read_observations(write_sdss(tmp_path / "s.fits", with_z=False))
    assert obs.redshift_source == "estimated"
    assert obs.redshift[0] == pytest.approx(0.05, abs=2e-5)  # the air list would give z + 2.8e-4
    assert any("estimated" in n for n in obs.notes)
    from invert.apps.stars.io.linefit import measure_lines
    from invert.apps.stars.io.sdss_spectrum import read_sdss

    with fits.open(tmp_path / "s.fits") as hdul:
        spec, _ = read_sdss(hdul, 1, "s", None, [])
    assert abs(measure_lines(spec, 0.05).velocity_kms) < 10
    spec.medium = "air"  # the wrong list: the fit has to move every line by the air-vacuum offset
    offset_kms = (VACUUM_AA[HALPHA] / AIR_AA[HALPHA] - 1) * 299792.458
    assert measure_lines(spec, 0.05).velocity_kms == pytest.approx(offset_kms, abs=10)


def test_sdss_catalogue_lines(tmp_path):
    spz = [
        ("H_alpha", 6564.61, 300.0, 3.0),
        ("H_beta", 4862.68, 100.0, 2.0),
        ("[O_III] 5007", 5008.24, 250.0, 2.5),
        ("[O_II] 3725", 3727.09, 40.0, 2.0),
        ("[O_II] 3727", 3729.88, 55.0, 2.0),
        ("[O_I] 6300", 6302.05, -3.0, 2.0),
        ("[N_II] 6583", 6585.27, 30.0, -1.0),
        ("Ly_alpha", 1215.67, 10.0, 1.0),
    ]
    obs = read_observations(write_sdss(tmp_path / "s.fits", spzline=spz), use_catalog_lines=True)
    assert obs.layout == "A" and obs.redshift[0] == pytest.approx(0.05, abs=1e-7)
    expect = {"Halpha": 300.0, "Hbeta": 100.0, "OIII5007": 250.0, "OII3726": 40.0, "OII3729": 55.0, "OI6300": -3.0}
    for name, value in expect.items():
        assert obs.fluxes[0, NAMES.index(name)] == pytest.approx(value * 1e-17, rel=1e-6)
    assert obs.mask[0].sum() == len(expect)  # LINEAREA_ERR = -1 ([NII]) means "not measured"
    oi = NAMES.index("OI6300")
    assert obs.mask[0, oi] and not obs.detected[0, oi] and obs.errors[0, oi] == pytest.approx(2e-17, rel=1e-6)
    assert obs.status[0] == "ok"
    assert any("negative" in w for w in obs.warnings)
    assert any("LINEAREA has no unit" in n for n in obs.notes)


# --- B: 1-D image spectrum --------------------------------------------------------------------------------------------


def test_spectrum_1d_in_angstrom_and_in_metres_agree(tmp_path):
    angstrom = read_observations(write_spectrum_1d(tmp_path / "a.fits", unit="Angstrom", ctype="AWAV"))
    metres = read_observations(write_spectrum_1d(tmp_path / "m.fits", unit="m", ctype="AWAV"))
    for obs in (angstrom, metres):
        assert obs.layout == "B" and obs.medium == "air" and obs.status[0] == "ok"
        assert obs.redshift_source == "header" and obs.redshift[0] == pytest.approx(0.02)
        assert_recovered(obs.fluxes[0], obs.errors[0], V1_FLUX)
    np.testing.assert_allclose(angstrom.fluxes, metres.fluxes, rtol=1e-4)


def test_spectrum_1d_vacuum_axis(tmp_path):
    obs = read_observations(write_spectrum_1d(tmp_path / "v.fits", unit="nm", ctype="WAVE", header_z=False))
    assert obs.medium == "vacuum" and obs.redshift_source == "estimated"
    assert obs.redshift[0] == pytest.approx(0.02, abs=2e-5)
    assert_recovered(obs.fluxes[0], obs.errors[0], V1_FLUX)


def test_spectrum_as_a_1_x_n_image(tmp_path):
    ref = read_observations(write_spectrum_1d(tmp_path / "flat.fits"))
    path = tmp_path / "2d.fits"
    with fits.open(tmp_path / "flat.fits") as hdul:
        fits.HDUList(
            [
                fits.PrimaryHDU(hdul[0].data[None, :], header=hdul[0].header),
                fits.ImageHDU(hdul[1].data[None, :], name="ERR"),
            ]
        ).writeto(path)
    obs = read_observations(path)
    assert obs.layout == "B"
    np.testing.assert_allclose(obs.fluxes, ref.fluxes, rtol=1e-9)


@pytest.mark.parametrize("kind", ["IVAR", "VAR"])
def test_spectrum_1d_error_extensions_agree(tmp_path, kind):
    ref = read_observations(write_spectrum_1d(tmp_path / "e.fits", errors="ERR"))
    other = read_observations(write_spectrum_1d(tmp_path / "o.fits", errors=kind))
    np.testing.assert_allclose(other.fluxes, ref.fluxes, rtol=1e-4)
    np.testing.assert_allclose(other.errors, ref.errors, rtol=1e-2)  # float32 files: the fits differ slightly
    assert any(f"({kind})" in n for n in other.notes)


def test_spectrum_1d_snr_option(tmp_path):
    path = write_spectrum_1d(tmp_path / "n.fits", errors=None)
    with pytest.raises(InputError, match="--snr"):
        read_observations(path)
    obs = read_observations(path, snr=20)
    assert obs.status[0] == "ok" and any("--snr" in n for n in obs.notes)


def test_options_override_file_units_and_redshift(tmp_path):
    path = write_spectrum_1d(tmp_path / "o.fits", bunit="1e-17 erg/s/cm2/Angstrom")
    ref = read_observations(path)
    obs = read_observations(path, flux_unit="1e-16 erg/s/cm2/Angstrom", redshift=0.0201)
    np.testing.assert_allclose(obs.fluxes[0, STRONG], 10 * ref.fluxes[0, STRONG], rtol=1e-3)
    assert obs.redshift_source == "argument" and obs.redshift[0] == 0.0201
    assert any("--flux-unit" in n for n in obs.notes) and any("--redshift" in n for n in obs.notes)


# --- C: IFU cube ------------------------------------------------------------------------------------------------------


def test_cube_one_object_per_bright_spaxel(tmp_path):
    obs = read_observations(write_cube(tmp_path / "cube.fits"))
    bright = cube_brightness()
    assert obs.layout == "C" and obs.medium == "air" and obs.cube_shape == (5, 5)
    assert sorted(map(tuple, obs.pixel.tolist())) == sorted(zip(*np.nonzero(bright > 0)))  # the 9 line spaxels
    assert [f"x{c}_y{r}" for r, c in obs.pixel] == list(obs.ids)
    assert (obs.status == "ok").all()
    assert not obs.mask[:, :2].any()  # [OII] lies blue-ward of the MUSE-like range
    centre = list(map(tuple, obs.pixel.tolist())).index((2, 2))
    assert_recovered(obs.fluxes[centre], obs.errors[centre], V1_FLUX)
    halpha_ratio = obs.fluxes[:, HALPHA] / (V1_FLUX[HALPHA] * bright[obs.pixel[:, 0], obs.pixel[:, 1]])
    np.testing.assert_allclose(halpha_ratio, 1, atol=0.05)
    assert 1 <= len(obs.spectra) <= 3 and obs.spectra[0].id == "x2_y2"


def test_cube_aperture_sums_spaxels(tmp_path):
    obs = read_observations(write_cube(tmp_path / "cube.fits"), aperture=(2, 2, 1.5))
    assert len(obs) == 1 and obs.ids[0] == "aperture_x2_y2_r1.5" and obs.pixel.tolist() == [[2, 2]]
    total = cube_brightness().sum()  # all 9 line spaxels lie within 1.5 pixels of the centre
    assert_recovered(obs.fluxes[0], obs.errors[0], V1_FLUX * total)


def test_cube_streams_in_small_blocks(tmp_path, monkeypatch):
    path = write_cube(tmp_path / "cube.fits", header_z=False)
    whole = read_observations(path)
    monkeypatch.setattr(ifu_cube, "MAX_BLOCK_BYTES", 16 * 25 * 40)  # 40 planes or 1 row at a time
    calls = []
    streamed = read_observations(path, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_allclose(streamed.fluxes, whole.fluxes, rtol=1e-9, equal_nan=True)
    assert streamed.redshift_source == "estimated" and calls[-1] == (5, 5) and len(calls) == 5


def test_cube_estimated_redshift(tmp_path):
    obs = read_observations(write_cube(tmp_path / "cube.fits", header_z=False))
    assert obs.redshift_source == "estimated"
    np.testing.assert_allclose(obs.redshift, 0.01, atol=3e-5)


# --- D: emission-line tables ------------------------------------------------------------------------------------------


def phangs_columns(unit: str | None = "1e-20 erg/(s cm2)") -> dict:
    """A PHANGS-like wide table: 3 regions, air digits, blended [OII], one line outside the model."""
    cols = {"REGION_ID": (["r1", "r2", "r3"], "ID")}
    values = {
        "HB4861": [100.0, 50.0, 80.0],
        "OIII5006": [300.0, -5.0, 200.0],
        "HA6562": [290.0, 150.0, 240.0],
        "NII6583": [90.0, 40.0, 70.0],
        "SII6716": [40.0, 20.0, 30.0],
        "SII6730": [30.0, 15.0, 22.0],
        "OII3727": [150.0, 60.0, 100.0],
        "NEIII3868": [10.0, 5.0, 8.0],
    }
    for label, flux in values.items():
        cols[f"{label}_FLUX"] = (flux, unit)
        cols[f"{label}_FLUX_ERR"] = ([2.0, 3.0, np.nan if label == "HA6562" else 2.0], unit)
    return cols


def test_wide_line_table(tmp_path):
    obs = read_observations(write_line_table(tmp_path / "t.fits", phangs_columns()))
    assert obs.layout == "D" and list(obs.ids) == ["r1", "r2", "r3"] and obs.medium is None
    ha, hb, o3 = HALPHA, HBETA, NAMES.index("OIII5007")
    assert obs.fluxes[0, ha] == pytest.approx(290e-20) and obs.errors[0, ha] == pytest.approx(2e-20)
    assert obs.mask[0, [hb, o3, ha, NAMES.index("NII6583"), NAMES.index("SII6716"), NAMES.index("SII6731")]].all()
    assert not obs.mask[:, [NAMES.index("OI6300"), NAMES.index("HeI5876")]].any()
    assert not obs.mask[2, ha] and np.isnan(obs.fluxes[2, ha])  # NaN error -> missing
    assert obs.mask[1, o3] and not obs.detected[1, o3]  # negative flux -> non-detection with its error
    np.testing.assert_allclose(obs.oii_sum, [150e-20, 60e-20, 100e-20])
    assert not obs.mask[:, :2].any()
    assert list(obs.status) == ["ok", "ok", "ok"]
    assert any("blended [OII]" in n for n in obs.notes)
    assert any("NEIII3868_FLUX" in w for w in obs.warnings) and any("missing" in w for w in obs.warnings)


def test_wide_table_resolved_oii_and_vacuum_digits(tmp_path):
    cols = {
        "OII3727_FLUX": ([10.0], "erg/(s cm2)"),
        "OII3727_FLUX_ERR": ([1.0], "erg/(s cm2)"),
        "OII3729_FLUX": ([14.0], "erg/(s cm2)"),
        "OII3729_FLUX_ERR": ([1.0], "erg/(s cm2)"),
        "HB4862_FLUX": ([20.0], "erg/(s cm2)"),
        "HB4862_FLUX_ERR": ([1.0], "erg/(s cm2)"),
    }
    obs = read_observations(write_line_table(tmp_path / "t.fits", cols))
    assert obs.fluxes[0, :3].tolist() == [10.0, 14.0, 20.0] and obs.oii_sum[0] == 24.0


def test_long_line_table(tmp_path):
    unit = "1e-17 erg/(s cm2)"
    cols = {
        "LINENAME": (["Ha", "Hb", "O3"], "ID"),
        "LINEWAVE": ([6562.8, 4861.3, 5006.8], None),
        "LINEAREA": ([30.0, 10.0, 25.0], unit),
        "LINEAREA_ERR": ([1.0, 1.0, 1.0], unit),
    }
    obs = read_observations(write_line_table(tmp_path / "long.fits", cols))
    assert obs.layout == "D" and len(obs) == 1 and obs.ids[0] == "long"
    assert obs.fluxes[0, [HBETA, NAMES.index("OIII5007"), HALPHA]] == pytest.approx([10e-17, 25e-17, 30e-17])


def test_first_layout_wins_and_unrecognised_layouts_list_hdus(tmp_path):
    path = tmp_path / "both.fits"
    with fits.open(write_spectrum_1d(tmp_path / "b.fits")) as spec, fits.open(write_sdss(tmp_path / "a.fits")) as sdss:
        fits.HDUList([spec[0].copy(), spec[1].copy(), sdss[1].copy()]).writeto(path)
    assert read_observations(path).layout == "A"
    image = tmp_path / "image.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 6)), name="SCI")]).writeto(image)
    with pytest.raises(
        InputError, match=r"unrecognised FITS layout; HDUs: 0 PRIMARY PrimaryHDU empty; 1 SCI ImageHDU 6x4"
    ):
        read_observations(image)
