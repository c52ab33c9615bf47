"""`invert stars`: simulate -> train -> analyse FITS files on tiny models; outputs, units, modes and exit codes;
the shipped models on the shipped example."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from typer.testing import CliRunner

import invert.core as ic
from invert.apps.cli import app
from invert.apps.stars import StarsProblem
from invert.apps.stars.model.linelist import NAMES
from invert.apps.stars.model.predictive import BAD_FIT_P
from invert.apps.stars.results.analysis import CHECKS
from invert.core.recoverability import stored_table

from .synth import V1_FLUX, write_cube, write_line_table, write_spectrum_1d

runner = CliRunner()
STEMS = (
    "OII3726",
    "OII3729",
    "HB4861",
    "OIII4959",
    "OIII5007",
    "HEI5876",
    "OI6300",
    "NII6548",
    "HA6563",
    "NII6583",
    "SII6716",
    "SII6731",
)
FAST = ["--samples", "64", "--detailed", "1", "--quiet"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Absolute and ratios-only cINNs trained for one epoch on 2000 simulations (pipeline tests, not accuracy)."""
    d = tmp_path_factory.mktemp("stars_models")
    out = {}
    for mode, flag in (("absolute", []), ("ratios", ["--ratios-only"])):
        sims, model = d / f"{mode}.npz", d / f"{mode}.invert"
        res = runner.invoke(
            app, ["stars", "simulate", "--n", "2000", "--out", str(sims), "--seed", "3", "--quiet", *flag]
        )
        assert res.exit_code == 0, res.output
        res = runner.invoke(
            app, ["stars", "train", "--sims", str(sims), "--out", str(model), "--epochs", "1", "--quiet"]
        )
        assert res.exit_code == 0, res.output
        assert "calibration error logM" in res.output or mode == "ratios"
        assert "A_V" in res.output and "logZ" in res.output
        out[mode] = (sims, model)
    return out


def table(
    path,
    rows: dict[str, np.ndarray],
    redshift: float | None = 0.02,
    unit: str | None = "erg/(s cm2)",
    errors: dict[str, np.ndarray] | None = None,
) -> str:
    """A wide line table (layout D): one row per region, fluxes in erg/s/cm2, 5 % errors unless given."""
    ids = list(rows)
    flux = np.array([rows[i] for i in ids])
    err = np.array([errors[i] for i in ids]) if errors else 0.05 * np.abs(flux)
    cols = {"REGION_ID": (ids, "ID")}
    if redshift is not None:
        cols["REDSHIFT"] = (np.full(len(ids), redshift), None)
    for j, stem in enumerate(STEMS):
        cols[f"{stem}_FLUX"], cols[f"{stem}_FLUX_ERR"] = (flux[:, j], unit), (err[:, j], unit)
    return write_line_table(path, cols)


def run(*args: str):
    return runner.invoke(app, ["stars", *map(str, args)])


def one_error_line(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


def test_simulations_record_the_mode(tiny):
    sims, _ = tiny["ratios"]
    x, y, meta = ic.load_simulations(sims, StarsProblem(ratios_only=True))
    assert x.shape == (2000, 4) and y.shape == (2000, 34) and meta["ratios_only"] and meta["seed"] == 3
    with pytest.raises(ic.SimulationFileError, match="simulated with"):
        ic.load_simulations(sims, StarsProblem())


def test_model_records_its_provenance(tiny):
    meta = ic.load(tiny["absolute"][1]).metadata
    assert meta["problem"] == "stars" and meta["simulator"] == StarsProblem().version and meta["ratios_only"] is False
    assert meta["command"].startswith("invert stars train --sims") and meta["x_units"][-1] == "mag"


def test_line_table_flags_objects_and_keeps_the_others(tiny, tmp_path):
    faint = V1_FLUX.copy()
    no_hb, masked = V1_FLUX.copy(), V1_FLUX.copy()
    no_hb[2] = np.nan
    masked[[6, 10]] = np.nan
    errors = {i: 0.05 * np.abs(f) for i, f in (("good", V1_FLUX), ("masked", masked), ("nohb", no_hb))}
    errors["faint"] = 0.05 * faint
    errors["faint"][2] = faint[2]  # Hbeta at S/N 1
    path = table(tmp_path / "t.fits", {"good": V1_FLUX, "faint": faint, "nohb": no_hb, "masked": masked}, errors=errors)
    out = tmp_path / "out"
    res = run("--fits", path, "--model", tiny["absolute"][1], "--out", out, "--samples", "64", "--detailed", "2")
    assert res.exit_code == 0, res.output
    assert "layout D (emission-line table)" in res.output and "luminosity distance" in res.output
    s = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert list(s["id"]) == ["good", "faint", "nohb", "masked"]
    analysed = {"ok", *CHECKS}  # a one-epoch model is a poor proposal: its objects may fail a check
    assert list(s["status"][1:3]) == ["no_hbeta", "no_hbeta"] and {s.loc[0, "status"], s.loc[3, "status"]} <= analysed
    for p in StarsProblem().x_names:
        for k in (
            "mean",
            "median",
            "map",
            "std",
            "q2.5",
            "q16",
            "q84",
            "q97.5",
            "multimodal",
            "n_modes",
            "mode1",
            "weight1",
            "mode2",
            "weight2",
        ):
            assert f"{p}_{k}" in s, f"{p}_{k}"
    checks = {"bad_fit", "ood", "low_ess", "ood_score", "fit_chi2", "fit_p", "ess", "resid_Halpha", "multimodal"}
    assert checks | {"redshift", "distance_mpc"} <= set(s.columns)
    assert s.loc[1, "logZ_median"] == "" and float(s.loc[0, "distance_mpc"]) == pytest.approx(86.97, abs=0.01)
    np.testing.assert_allclose(s.loc[0, [f"{n}_flux" for n in NAMES]].astype(float), V1_FLUX, rtol=1e-5)
    assert s.loc[3, "OI6300_flux"] == "" and s.loc[3, "resid_OI6300"] == "" and s.loc[3, "resid_Halpha"] != ""
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html",
        "run.json",
        "summary.csv",
        "summary.ecsv",
        "summary.fits",
    ]
    html = (out / "report.html").read_text()
    for text in (
        "What emission lines cannot tell",
        "Mass and age are degenerate",
        "not recoverable",
        "no_hbeta",
        "measured and predicted lines of good",
        "pairwise posteriors of masked",
        "Checks behind the flags",
        f"(a bad fit below {BAD_FIT_P:g})",  # the thresholds beside each object's numbers
        f"fit p (bad fit below {BAD_FIT_P:g})",
        "line residuals of good",
    ):
        assert text in html, text
    assert "objects need attention" in html or "1 object needs attention" in html
    assert 'src="http' not in html


def test_summary_fits_carries_units(tiny, tmp_path):
    path = table(tmp_path / "t.fits", {"a": V1_FLUX, "b": 2 * V1_FLUX})
    out = tmp_path / "out"
    assert run("--fits", path, "--model", tiny["absolute"][1], "--out", out, *FAST).exit_code == 0
    csv = pd.read_csv(out / "summary.csv")
    with fits.open(out / "summary.fits") as hdul:
        hdu = hdul["SUMMARY"]
        units = {hdu.header[f"TTYPE{i}"]: hdu.header.get(f"TUNIT{i}") for i in range(1, hdu.header["TFIELDS"] + 1)}
        data = hdu.data
        assert hdul[0].header["LAYOUT"] == "D" and hdul[0].header["SIMULATR"] == StarsProblem().version
        np.testing.assert_allclose(data["logZ_median"], csv["logZ_median"], rtol=1e-5)
        assert list(data["status"]) == list(csv["status"])
    expected = {  # FITS cannot write dex: log quantities are dimensionless there (summary.ecsv has dex(solMass))
        "logM_median": None,
        "logM_std": None,
        "logt_q16": None,
        "logZ_map": None,
        "logU_mode1": None,
        "A_V_mean": "mag",
        "A_V_std": "mag",
        "Halpha_flux": "erg s-1 cm-2",
        "Hbeta_err": "erg s-1 cm-2",
        "distance_mpc": "Mpc",
        "redshift": None,
        "logZ_weight1": None,
        "logZ_n_modes": None,
        "fit_p": None,
        "resid_Halpha": None,
    }
    for col, unit in expected.items():
        assert units[col] == unit, col


def test_save_samples(tiny, tmp_path):
    path = table(
        tmp_path / "t.fits", {"a": V1_FLUX, "b": 0.5 * V1_FLUX, "c": np.where(np.arange(12) == 2, np.nan, V1_FLUX)}
    )
    out = tmp_path / "out"
    assert run("--fits", path, "--model", tiny["absolute"][1], "--out", out, "--save-samples", *FAST).exit_code == 0
    s = np.load(out / "samples.npz")["samples"]  # row i is row i of summary.csv: c (no Hbeta) is NaN
    assert s.shape == (3, 64, 5) and s.dtype == np.float32 and np.isnan(s[2]).all()
    lo, hi = np.array(StarsProblem().x_bounds).T
    assert ((s[:2] >= lo) & (s[:2] <= hi)).all()


def test_chunked_run_equals_one_pass(tiny, tmp_path):
    """Objects streamed in chunks of 1 or 2 give byte-identical tables and samples to one pass."""
    rows = {f"r{i}": V1_FLUX * (1 + 0.3 * i) for i in range(4)}
    rows["r1"] = np.where(np.arange(12) == 2, np.nan, V1_FLUX)  # no Hbeta: flagged in the middle of a chunk
    path = table(tmp_path / "t.fits", rows)
    outputs = []
    for chunk in ("1", "2", "100"):
        out = tmp_path / f"out{chunk}"
        res = run(
            "--fits", path, "--model", tiny["absolute"][1], "--out", out, "--save-samples", "--chunk", chunk, *FAST
        )
        assert res.exit_code == 0, res.output
        outputs.append({name: (out / name).read_bytes() for name in ("summary.csv", "summary.fits", "samples.npz")})
    assert outputs[0] == outputs[1] == outputs[2]
    status = list(pd.read_csv(tmp_path / "out1" / "summary.csv")["status"])
    assert status[1] == "no_hbeta" and set(status[:1] + status[2:]) <= {"ok", *CHECKS}


def test_distance_and_ratios_only_modes(tiny, tmp_path):
    path = table(tmp_path / "t.fits", {"a": V1_FLUX}, redshift=None)
    absolute, ratios = tiny["absolute"][1], tiny["ratios"][1]
    assert "no distance" in one_error_line(
        run("--fits", path, "--model", absolute, "--out", tmp_path / "o1", "--quiet")
    )
    assert not (tmp_path / "o1").exists()
    assert "needs a ratios-only model" in one_error_line(
        run("--fits", path, "--model", absolute, "--ratios-only", "--out", tmp_path / "o2", "--quiet")
    )
    res = run("--fits", path, "--model", absolute, "--distance-mpc", "10", "--out", tmp_path / "o3", *FAST)
    assert res.exit_code == 0 and pd.read_csv(tmp_path / "o3" / "summary.csv")["distance_mpc"][0] == 10
    res = run("--fits", path, "--model", ratios, "--ratios-only", "--out", tmp_path / "o4", "--samples", "64")
    assert res.exit_code == 0, res.output
    s = pd.read_csv(tmp_path / "o4" / "summary.csv")
    assert "logM_median" not in s and "logZ_median" in s and np.isnan(s["distance_mpc"][0])
    assert "ratios-only model" in (tmp_path / "o4" / "report.html").read_text()
    # --redshift gives the distance and replaces the file's (here: none)
    res = run("--fits", path, "--model", absolute, "--redshift", "0.02", "--out", tmp_path / "o5", *FAST)
    assert res.exit_code == 0
    assert pd.read_csv(tmp_path / "o5" / "summary.csv")["distance_mpc"][0] == pytest.approx(86.97, abs=0.01)


def _not_fits(tmp_path):
    p = tmp_path / "x.fits"
    p.write_text("id,flux\n1,2\n")
    return p


def _truncated(tmp_path):
    p = table(tmp_path / "full.fits", {"a": V1_FLUX})
    data = open(p, "rb").read()
    q = tmp_path / "cut.fits"
    q.write_bytes(data[: len(data) - 2000])
    return q


def _no_units(tmp_path):
    return table(tmp_path / "nounit.fits", {"a": V1_FLUX}, unit=None)


def _image(tmp_path):
    p = tmp_path / "img.fits"
    fits.PrimaryHDU(np.zeros((4, 5), np.float32)).writeto(p)
    return p


@pytest.mark.parametrize(
    "make, extra, message",
    [
        (_not_fits, [], "not a FITS file"),
        (_truncated, [], "truncated"),
        (_no_units, [], "unit"),
        (_image, [], "unrecognised FITS layout"),
        (_no_units, ["--distance-mpc", "-3"], "--distance-mpc must be positive"),
        (_no_units, ["--aperture", "1,2"], "--aperture must be X,Y,R"),
        (_no_units, ["--model", "missing.invert", "--flux-unit", "erg/(s cm2)"], "model file not found"),
    ],
)
def test_unusable_input_exits_2_with_one_line(tiny, tmp_path, make, extra, message):
    path = make(tmp_path)
    args = ["--fits", path, "--out", tmp_path / "o", "--quiet", *extra]
    if "--model" not in extra:
        args += ["--model", tiny["absolute"][1]]
    line = one_error_line(run(*args))
    assert message in line, line
    assert not (tmp_path / "o").exists()


def test_model_of_another_problem_is_refused(tmp_path):
    from invert.core.toys import GaussianMixture8

    x, y = ic.simulate_dataset(GaussianMixture8(), 300, seed=0)
    other = tmp_path / "gmm8.invert"
    ic.fit(x, y, max_epochs=1, progress=False, metadata={"problem": "gmm8"}).save(other)
    path = table(tmp_path / "t.fits", {"a": V1_FLUX})
    assert "not for the stars app" in one_error_line(run("--fits", path, "--model", other, "--quiet"))


def test_no_usable_object_exits_2_but_writes_the_flags(tiny, tmp_path):
    no_hb = np.where(np.arange(12) == 2, np.nan, V1_FLUX)
    path = table(tmp_path / "t.fits", {"a": no_hb, "b": no_hb})
    out = tmp_path / "o"
    res = run("--fits", path, "--model", tiny["absolute"][1], "--out", out, "--quiet")
    assert res.exit_code == 2 and "no usable objects" in res.output
    assert list(pd.read_csv(out / "summary.csv")["status"]) == ["no_hbeta", "no_hbeta"]


def test_spectrum_with_wcs_in_nm(tiny, tmp_path):
    path = write_spectrum_1d(tmp_path / "spec.fits", unit="nm", ctype="AWAV", z=0.02, snr=30)
    out = tmp_path / "o"
    res = run("--fits", path, "--model", tiny["absolute"][1], "--out", out, "--samples", "64", "--detailed", "1")
    assert res.exit_code == 0, res.output
    assert "layout B (1-D image spectrum" in res.output and "redshift z = 0.02 from the header" in res.output
    s = pd.read_csv(out / "summary.csv")
    np.testing.assert_allclose(
        s[[f"{n}_flux" for n in ("Hbeta", "Halpha", "OIII5007")]].to_numpy()[0], V1_FLUX[[2, 8, 4]], rtol=0.1
    )
    html = (out / "report.html").read_text()
    assert "with the fitted lines" in html and "air wavelengths" not in html  # the spectrum figure, labels in the PNG


def test_cube_gets_parameter_maps(tiny, tmp_path):
    path = write_cube(tmp_path / "cube.fits")
    out = tmp_path / "o"
    res = run("--fits", path, "--model", tiny["absolute"][1], "--out", out, *FAST)
    assert res.exit_code == 0, res.output
    s = pd.read_csv(out / "summary.csv")
    assert len(s) == 9 and set(zip(s["row"], s["col"])) == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    assert (s["distance_mpc"] == s["distance_mpc"][0]).all()  # one systemic distance for the cube
    html = (out / "report.html").read_text()
    assert "Parameter maps" in html and "map of median logZ" in html


def test_shipped_example_is_held_out():
    """The example's true parameters are none of the shipped models' training simulations: its seed is not the
    recipe's (a torch seed counts modulo 2^32), and no truth row repeats a prior draw of the recipe's first chunk
    of either model (which the example, with the recipe's seed, would copy: one generator, prior drawn first)."""
    import torch

    from invert.apps.stars.cli import EXAMPLE_SEED, PRETRAINED_RECIPE
    from invert.apps.stars.model.example import make_example

    seed, chunk = PRETRAINED_RECIPE["seed"], PRETRAINED_RECIPE["chunk"]
    assert EXAMPLE_SEED % 2**32 != seed % 2**32
    truth = pd.read_csv(files("invert.data.stars") / "example_regions_truth.csv")
    pd.testing.assert_frame_equal(truth, make_example(EXAMPLE_SEED)[1], check_dtype=False)  # the shipped truth
    for ratios_only in (False, True):
        problem = StarsProblem(ratios_only=ratios_only)
        training = problem.sample_prior(chunk, torch.Generator().manual_seed(seed)).numpy()
        np.testing.assert_array_equal(ic.simulate_dataset(problem, 3, seed=seed, chunk=chunk)[0], training[:3])
        drawn = truth[list(problem.x_names)].to_numpy()
        assert not np.isclose(drawn[:, None], training[None], rtol=0, atol=2e-5).all(-1).any(), ratios_only


def test_shipped_models_on_the_shipped_example(tmp_path):
    """The README's main job: the pretrained model on the example line table, held out from its training
    (test_shipped_example_is_held_out), recovers the simulated regions."""
    data = files("invert.data.stars")
    for name, dx in (("stars_cinn.invert", 5), ("stars_ratios_cinn.invert", 4)):
        meta = ic.load(data / name).metadata
        assert meta["n_sims"] >= 100_000 and meta["command"].startswith("invert stars build-pretrained")
        assert len(meta["x_names"]) == dx and (data / name).stat().st_size < 5e6
        assert (stored_table(meta)[0]["verdict"] == "recoverable").all()  # over the prior, with the line errors given
    out = tmp_path / "example"
    res = run("--fits", data / "example_regions.fits", "--out", out, "--samples", "4096", "--detailed", "1", "--quiet")
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert "<b>recoverable</b>: log M" in html
    assert "1 object needs attention" in html and "1 objects" not in html  # HII-8: no Hbeta
    s = pd.read_csv(out / "summary.csv")
    truth = pd.read_csv(data / "example_regions_truth.csv")
    assert list(s["id"]) == list(truth["id"])
    assert list(s["status"]) == ["ok"] * 7 + ["no_hbeta"] and not s["ood"].any()
    ok = s["status"] == "ok"
    inside = {
        p: int(((s[f"{p}_q2.5"] <= truth[p]) & (truth[p] <= s[f"{p}_q97.5"]))[ok].sum()) for p in StarsProblem().x_names
    }
    error = {p: np.median(np.abs(s[f"{p}_median"] - truth[p])[ok]) for p in StarsProblem().x_names}
    # measured with --seed 0-3 at the README's 4096 samples, every round from the network: every status as asserted
    # (at 2048, HII-3, whose [OI] is masked, kept 41-79 effective draws; at 4096 116-182); 95 % intervals hold 31-33
    # of the 35 truths, 6-7 of 7 per parameter (HII-7, near the lower logt edge, falls just outside in logM and logt);
    # median |median - true| logM 0.045-0.050, logt 0.005, logZ 0.019-0.026, logU 0.034-0.045, A_V 0.080-0.086.
    # With the adaptive rounds (a mixture of two t's), seeds 0-3: HII-3 keeps 2201-2480 effective draws, HII-6
    # 362-393, HII-4 204 and 211 at seeds 0 and 2 (just above the low_ess limit of 200; 3319-3530 at 1 and 3);
    # 31-32 of 35 truths inside, logM 0.047-0.052, A_V 0.078-0.082, the rest as above. A
    # calibrated posterior falls below 30/35 with probability 0.007, below 5/7 for a parameter with 0.004
    assert sum(inside.values()) >= 30 and min(inside.values()) >= 5, inside
    limits = {"logM": 0.12, "logt": 0.015, "logZ": 0.04, "logU": 0.1, "A_V": 0.16}
    assert all(error[p] < limit for p, limit in limits.items()), error
    assert not s["bad_fit"].any()
    np.testing.assert_allclose(s["distance_mpc"], truth["distance_mpc"], rtol=1e-4)


def test_shipped_model_flags_agn_like_lines(tmp_path):
    """Seyfert-like ratios ([OIII]/Hbeta 10, [NII]/Halpha 1) are outside the model class: a bad fit."""
    ix = {n: i for i, n in enumerate(NAMES)}
    agn = V1_FLUX.copy()
    hb = agn[ix["Hbeta"]]
    agn[[ix["OIII5007"], ix["OIII4959"], ix["Halpha"]]] = 10 * hb, 10 * hb / 2.98, 3.1 * hb
    weak = [ix[n] for n in ("NII6583", "NII6548", "SII6716", "SII6731", "OI6300")]
    agn[weak] = np.array([1.0, 0.34, 0.4, 0.35, 0.2]) * 3.1 * hb  # relative to Halpha
    path = table(tmp_path / "agn.fits", {"hii": V1_FLUX, "agn": agn})
    res = run("--fits", path, "--out", tmp_path / "o", *FAST)
    assert res.exit_code == 0, res.output
    s = pd.read_csv(tmp_path / "o" / "summary.csv")
    # measured at 64 samples: fit p-value 0.91 (hii) and 0 (agn: [OIII] 5007 and [OI] residuals 10.7 and 14.8
    # sigma); its OOD score, 5.6, is below the model's threshold: the lines look like training data, but no
    # parameters make them
    assert list(s["bad_fit"]) == [False, True] and s.loc[1, "status"] == "bad_fit"
