"""Inputs and outputs astronomers use: line catalogues in FITS, ECSV, CSV and VOTable with a column mapping or a
preset, several inputs in one call, summary tables that astropy reads without a warning, cube maps on the sky."""

from __future__ import annotations

import json
import warnings

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from typer.testing import CliRunner

from invert.apps.cli import app
from invert.apps.kit.errors import InputError
from invert.apps.stars.io.column_map import load_column_map, parse_column_map
from invert.apps.stars.io.read import read_observations
from invert.apps.stars.model.linelist import NAMES

from .synth import V1_FLUX, write_cube

runner = CliRunner()
FAST = ["--samples", "64", "--detailed", "1", "--quiet"]
FORMATS = {"fits": "fits", "ecsv": "ascii.ecsv", "csv": "ascii.csv", "vot": "votable"}
# a catalogue of our own making: columns named unlike anything the automatic reading recognises
OWN = {name: (f"F{j:02d}", f"S{j:02d}") for j, name in enumerate(NAMES)}
SCALE = 1e-20  # the catalogue's fluxes are in 1e-20 erg/s/cm2
PHANGS = {  # the PHANGS-MUSE nebular catalogue's names of the lines it has (no [OII], no HeI here)
    "Hbeta": "HB4861",
    "OIII4959": "OIII4958",
    "OIII5007": "OIII5006",
    "OI6300": "OI6300",
    "NII6548": "NII6548",
    "Halpha": "HA6562",
    "NII6583": "NII6583",
    "SII6716": "SII6716",
    "SII6731": "SII6730",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """An absolute cINN trained for one epoch on 2000 simulations (pipeline tests, not accuracy)."""
    d = tmp_path_factory.mktemp("stars_model")
    sims, model = d / "sims.npz", d / "absolute.invert"
    res = runner.invoke(app, ["stars", "simulate", "--n", "2000", "--out", str(sims), "--seed", "3", "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["stars", "train", "--sims", str(sims), "--out", str(model), "--epochs", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    return model


def run(*args):
    return runner.invoke(app, ["stars", *map(str, args)])


def one_error_line(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


def own_catalogue(scales=(1.0, 2.0, 0.5), unit: str | None = "1e-20 erg / (s cm2)") -> Table:
    """Three regions of V1 line ratios scaled by `scales`, in 1e-20 erg/s/cm2, 5 % errors, a text id, a redshift."""
    t = Table()
    t["name"] = [f"reg{i}" for i in range(len(scales))]
    t["zz"] = np.full(len(scales), 0.02)
    for j, (flux, err) in enumerate(OWN.values()):
        t[flux] = V1_FLUX[j] / SCALE * np.asarray(scales)
        t[err] = 0.05 * t[flux]
        if unit:
            t[flux].unit = t[err].unit = unit
    return t


def own_mapping(flux_unit: str | None = None) -> dict:
    lines = {name: {"flux": f, "err": e} for name, (f, e) in OWN.items()}
    return {"id": "name", "redshift": "zz", "lines": lines} | ({"flux_unit": flux_unit} if flux_unit else {})


def write(table: Table, path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)  # VOUnit calls erg deprecated; astropy writes it anyway
        table.write(path, format=FORMATS[path.suffix[1:]], overwrite=True)
    return str(path)


@pytest.mark.parametrize("ext", FORMATS)
def test_catalogue_formats_with_a_mapping(tmp_path, ext):
    """The same catalogue in each format reads to the same fluxes; units from the file where it has them (FITS,
    ECSV, VOTable), else (CSV) from the mapping."""
    units_in_file = ext != "csv"
    path = write(own_catalogue(unit="1e-20 erg / (s cm2)" if units_in_file else None), tmp_path / f"cat.{ext}")
    mapping = parse_column_map(own_mapping(None if units_in_file else "1e-20 erg/(s cm2)"), "test")
    obs = read_observations(path, columns=mapping)
    assert obs.layout == "D" and list(obs.ids) == ["reg0", "reg1", "reg2"] and list(obs.status) == ["ok"] * 3
    np.testing.assert_allclose(obs.redshift, 0.02)
    np.testing.assert_allclose(obs.fluxes, np.outer([1.0, 2.0, 0.5], V1_FLUX), rtol=1e-6)
    np.testing.assert_allclose(obs.errors, 0.05 * obs.fluxes, rtol=1e-6)
    assert any("from the column mapping" in n for n in obs.notes) == (not units_in_file)


def test_file_units_and_mapping_units_must_agree(tmp_path):
    path = write(own_catalogue(unit="1e-17 erg / (s cm2)"), tmp_path / "cat.ecsv")
    with pytest.raises(InputError, match="column mapping says") as info:
        read_observations(path, columns=parse_column_map(own_mapping("1e-20 erg/(s cm2)"), "test"))
    assert "\n" not in str(info.value)
    # --flux-unit decides
    obs = read_observations(path, flux_unit="1e-20 erg/(s cm2)", columns=parse_column_map(own_mapping(), "t"))
    np.testing.assert_allclose(obs.fluxes[0], V1_FLUX, rtol=1e-6)


def test_csv_with_recognised_names_needs_no_mapping(tmp_path):
    t = Table({"REGION_ID": ["a", "b"], "REDSHIFT": [0.02, 0.02]})
    stems = {"Hbeta": "HB4861", "OIII5007": "OIII5007", "Halpha": "HA6563", "NII6583": "NII6583"}
    for name, stem in stems.items():
        t[f"{stem}_FLUX"] = V1_FLUX[NAMES.index(name)] * np.array([1.0, 3.0])
        t[f"{stem}_FLUX_ERR"] = 0.05 * t[f"{stem}_FLUX"]
    obs = read_observations(write(t, tmp_path / "lines.csv"), flux_unit="erg/(s cm2)")
    assert obs.layout == "D" and list(obs.ids) == ["a", "b"]
    assert obs.fluxes[1, NAMES.index("Halpha")] == pytest.approx(3 * V1_FLUX[NAMES.index("Halpha")])
    assert np.isnan(obs.fluxes[:, NAMES.index("OI6300")]).all()


def test_presets_read_their_catalogues(tmp_path):
    """PHANGS-MUSE names (id from gal_name + region_ID, units from the preset, an optional line absent) and SDSS
    galSpecLine names in lower case, as CasJobs writes them (1e-17 units, specObjID as the id)."""
    t = Table({"gal_name": ["NGC0628", "NGC0628", "NGC1087"], "region_ID": [1.0, 2.0, 1.0]})
    for name, stem in PHANGS.items():
        t[f"{stem}_FLUX"] = V1_FLUX[NAMES.index(name)] / 1e-20 * np.array([1.0, 2.0, 0.5])
        t[f"{stem}_FLUX_ERR"] = 0.05 * t[f"{stem}_FLUX"]
        t[f"{stem}_FLUX_CORR"] = 10 * t[f"{stem}_FLUX"]  # extinction-corrected: must not be read
    obs = read_observations(write(t, tmp_path / "nebulae.fits"), columns=load_column_map("phangs_muse"))
    assert list(obs.ids) == ["NGC0628_1", "NGC0628_2", "NGC1087_1"]
    have = [NAMES.index(n) for n in PHANGS]
    np.testing.assert_allclose(obs.fluxes[:, have], np.outer([1.0, 2.0, 0.5], V1_FLUX[have]), rtol=1e-6)
    assert np.isnan(obs.fluxes[:, [0, 1, NAMES.index("HeI5876")]]).all()
    assert any("HeI5876 (optional" in n for n in obs.notes)

    sdss = Table({"specobjid": [299489677444933632, 299489677444933633], "z": [0.05, 0.06]})
    mapping = load_column_map("sdss_mpajhu")
    for name, spec in mapping.lines.items():
        sdss[spec.flux.lower()] = V1_FLUX[NAMES.index(name)] / 1e-17 * np.array([1.0, 2.0])
        sdss[spec.error.lower()] = 0.1 * sdss[spec.flux.lower()]
    obs = read_observations(write(sdss, tmp_path / "galspecline.csv"), columns=mapping)
    assert list(obs.ids) == ["299489677444933632", "299489677444933633"]
    np.testing.assert_allclose(obs.redshift, [0.05, 0.06])
    np.testing.assert_allclose(obs.fluxes, np.outer([1.0, 2.0], V1_FLUX), rtol=1e-6)


def test_bad_mappings_and_missing_columns_exit_2_with_one_line(tmp_path):
    path = write(own_catalogue(), tmp_path / "cat.vot")
    broken = own_mapping()
    broken["lines"]["Halpha"]["flux"] = "HALPHA_NOT_THERE"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    line = one_error_line(run("--fits", path, "--columns", tmp_path / "broken.json", "--distance-mpc", "10"))
    assert "HALPHA_NOT_THERE (Halpha)" in line and "not in the table" in line
    (tmp_path / "typo.json").write_text(json.dumps(own_mapping() | {"lnies": {}}))
    assert "unknown key 'lnies'" in one_error_line(run("--fits", path, "--columns", tmp_path / "typo.json"))
    (tmp_path / "bad.json").write_text("{ not json")
    assert "cannot read it as JSON" in one_error_line(run("--fits", path, "--columns", tmp_path / "bad.json"))
    assert "neither a preset" in one_error_line(run("--fits", path, "--columns", "phangs"))
    unknown = own_mapping()
    unknown["lines"]["Hgamma"] = {"flux": "F00", "err": "S00"}
    (tmp_path / "line.json").write_text(json.dumps(unknown))
    assert "unknown line 'Hgamma'" in one_error_line(run("--fits", path, "--columns", tmp_path / "line.json"))
    (tmp_path / "broken.ecsv").write_text("# %ECSV 1.0\n# ---\n# datatype: [\n")
    assert "cannot read it as ECSV" in one_error_line(
        run("--fits", tmp_path / "broken.ecsv", "--columns", "phangs_muse")
    )


def test_votable_is_recognised_by_its_content(tmp_path):
    """A catalogue whose extension says nothing goes to astropy's format identification (a VOTable by its XML)."""
    path = tmp_path / "catalogue.dat"
    write(own_catalogue(), tmp_path / "catalogue.vot")
    (tmp_path / "catalogue.vot").rename(path)
    obs = read_observations(path, columns=parse_column_map(own_mapping(), "test"))
    assert obs.layout == "D" and list(obs.ids) == ["reg0", "reg1", "reg2"]
    np.testing.assert_allclose(obs.fluxes[1], 2 * V1_FLUX, rtol=1e-6)


def test_several_inputs_one_folder_each_and_a_bad_one_fails_alone(tiny, tmp_path, monkeypatch):
    mapping = tmp_path / "own.json"
    mapping.write_text(json.dumps(own_mapping()))
    good_a = write(own_catalogue(), tmp_path / "a.ecsv")
    good_c = write(own_catalogue((1.0,)), tmp_path / "c.fits")
    bad = tmp_path / "b.csv"
    bad.write_text("name,zz\nreg0,0.02\n")  # no line column
    out = tmp_path / "out"
    res = run(
        "--fits", good_a, "--input", bad, "-f", good_c, "--columns", mapping, "--model", tiny, "--out", out, *FAST
    )
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and str(bad) in errors[0] and "F00 (OII3726)" in errors[0]
    assert res.output.strip().splitlines()[-1] == f"3 inputs: 2 done, 1 failed ({bad})"
    assert sorted(p.name for p in out.iterdir()) == ["a", "c"]
    assert len(pd.read_csv(out / "a" / "summary.csv")) == 3 and len(pd.read_csv(out / "c" / "summary.csv")) == 1
    # a list file: one path a line, comments and blank lines skipped; default --out: the current folder
    listed = tmp_path / "inputs.txt"
    listed.write_text(f"# my catalogues\n{good_a}\n\n{good_c}\n")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    res = run("--list", listed, "--columns", mapping, "--model", tiny, *FAST)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in here.iterdir()) == ["a", "c"] and (here / "c" / "maps.fits").exists() is False
    # two inputs with the same name would share a folder: refused before any work
    (tmp_path / "x").mkdir()
    twin = write(own_catalogue(), tmp_path / "x" / "a.csv")
    line = one_error_line(run("--fits", good_a, "--fits", twin, "--columns", mapping, "--out", tmp_path / "o2"))
    assert "would both write the output folder a/" in line and not (tmp_path / "o2").exists()


def test_summary_tables_read_back_without_warnings(tiny, tmp_path):
    """summary.fits and summary.ecsv open in astropy with warnings as errors; their units agree, except that FITS
    cannot hold the logarithmic units, which only summary.ecsv carries."""
    path = write(own_catalogue(), tmp_path / "cat.fits")
    out = tmp_path / "out"
    mapping = tmp_path / "own.json"
    mapping.write_text(json.dumps(own_mapping()))
    res = run("--fits", path, "--columns", mapping, "--model", tiny, "--out", out, *FAST)
    assert res.exit_code == 0, res.output
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_fits, from_ecsv = Table.read(out / "summary.fits"), Table.read(out / "summary.ecsv")
    assert from_fits.colnames == from_ecsv.colnames
    np.testing.assert_allclose(from_fits["logZ_median"], from_ecsv["logZ_median"], rtol=1e-5)
    for col in from_fits.colnames:
        if from_fits[col].unit is not None:
            assert from_fits[col].unit == from_ecsv[col].unit, col
    logs = {c for c in from_fits.colnames if from_fits[c].unit is None and from_ecsv[c].unit is not None}
    assert logs and all(c.split("_")[0] in ("logM", "logt", "logZ", "logU") for c in logs)
    assert {from_ecsv[c].unit.to_string() for c in logs} == {"dex(solMass)", "dex(yr)", "dex"}
    assert from_ecsv["logM_median"].unit == u.dex(u.Msun) and from_ecsv["logM_std"].unit == u.dex
    assert from_fits["A_V_median"].unit == u.mag and from_fits["Halpha_flux"].unit == u.erg / u.s / u.cm**2
    assert from_fits["distance_mpc"].unit == u.Mpc
    logm = from_ecsv["logM_median"]
    mass = u.Dex(np.asarray(logm), logm.unit).physical  # what the ECSV unit is for: 10**logM in solar masses
    np.testing.assert_allclose(mass.to_value(u.Msun), 10 ** np.asarray(from_ecsv["logM_median"]), rtol=1e-9)


def test_cube_maps_carry_the_celestial_wcs(tiny, tmp_path):
    cube = write_cube(tmp_path / "cube.fits")
    out = tmp_path / "out"
    res = run("--fits", cube, "--model", tiny, "--out", out, *FAST)
    assert res.exit_code == 0, res.output
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = Table.read(out / "summary.fits")
    assert summary["ra"].unit == u.deg and summary["dec"].unit == u.deg and len(summary) == 9
    with fits.open(cube) as hdul:
        sky = WCS(hdul["DATA"].header).celestial
    ra, dec = sky.pixel_to_world_values(np.asarray(summary["col"], float), np.asarray(summary["row"], float))
    np.testing.assert_allclose(summary["ra"], ra, rtol=0, atol=1e-9)  # the spaxel centre on the cube's sky
    np.testing.assert_allclose(summary["dec"], dec, rtol=0, atol=1e-9)
    assert np.ptp(summary["ra"]) > 0 and np.ptp(summary["dec"]) > 0
    with fits.open(out / "maps.fits") as hdul:
        hdul.verify("exception")
        names = [h.name for h in hdul[1:]]
        assert names == [
            f"{p}_{s}".upper() for p in ("logM", "logt", "logZ", "logU", "A_V") for s in ("median", "width68")
        ]
        for hdu in hdul[1:]:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                wcs = WCS(hdu.header).celestial
            assert wcs.naxis == 2 and hdu.data.shape == (5, 5) and hdu.header["BITPIX"] == -32
            map_ra, map_dec = wcs.pixel_to_world_values(
                np.asarray(summary["col"], float), np.asarray(summary["row"], float)
            )
            np.testing.assert_allclose(map_ra, summary["ra"], rtol=0, atol=1e-9)
            np.testing.assert_allclose(map_dec, summary["dec"], rtol=0, atol=1e-9)
        image = hdul["LOGZ_MEDIAN"].data
        np.testing.assert_allclose(image[summary["row"], summary["col"]], summary["logZ_median"], rtol=1e-6)
        width = hdul["A_V_WIDTH68"].data[summary["row"], summary["col"]]
        np.testing.assert_allclose(width, summary["A_V_q84"] - summary["A_V_q16"], rtol=1e-5)
        assert hdul["A_V_MEDIAN"].header["BUNIT"] == "mag" and "BUNIT" not in hdul["LOGM_MEDIAN"].header
        assert hdul["LOGM_MEDIAN"].header["PUNIT"] == "log10(Msun)" and hdul["LOGZ_WIDTH68"].header["PUNIT"] == "dex"
        empty = np.ones((5, 5), bool)
        empty[summary["row"], summary["col"]] = False
        assert np.isnan(image[empty]).all()
