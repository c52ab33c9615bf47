"""What every main job writes for citing and reuse: run.json (versions, command, input and model with their SHA-256,
recomputed here, settings, times, rows per status, consistent with summary.csv), summary.ecsv (the summary with
units and descriptions, read back by astropy without a warning) and samples aligned with the summary; and the
manifests of `simulate`, `train` (`<file>.run.json` beside the file) and `evaluate` (run.json in its folder)."""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
import warnings
from datetime import datetime
from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from typer.testing import CliRunner

import invert.core as ic
from invert.apps.cli import app
from invert.apps.stars.run import pretrained_path as stars_model
from invert.apps.tissue.cli import pretrained_path as tissue_model
from invert.core.outputs import read_samples

runner = CliRunner()
SCAN = (
    "id,470,480,511,560,580,600,660,700\n"
    "a,410,450,480,230,180,900,1700,1500\nbad,1,2,x,4,5,6,7,8\nc,400,440,470,220,170,880,1650,1450\n"
)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_manifest(out, input, model, samples, seed):
    run = json.loads((out / "run.json").read_text())
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert run["software"]["invert"] == version("invert") and run["software"]["torch"] == version("torch")
    assert run["input"]["sha256"] == sha256(input) and run["input"]["bytes"] == input.stat().st_size
    assert run["model"]["sha256"] == sha256(model) and run["model"]["name"] == model.name
    assert run["model"]["simulator"] and run["model"]["n_sims"] > 0
    assert run["settings"]["n_samples"] == samples and run["settings"]["seed"] == seed
    assert run["settings"]["device"] == "cpu"
    assert datetime.fromisoformat(run["started"]) <= datetime.fromisoformat(run["finished"])
    assert run["rows"]["total"] == len(summary)
    assert run["rows"]["per_status"] == summary["status"].value_counts().to_dict()
    assert sorted(run["outputs"]) == sorted(p.name for p in out.iterdir())
    footer = (out / "report.html").read_text().split("<footer>")[1].split("</footer>")[0]
    for shown in (run["model"]["sha256"][:12], run["input"]["sha256"][:12], f"seed {seed}", f"row {samples}"):
        assert shown in footer, shown
    return run


def test_tissue_run_manifest_and_aligned_samples(tmp_path):
    scan = tmp_path / "scan.csv"
    scan.write_text(SCAN)
    out = tmp_path / "out"
    args = ["tissue", "-i", str(scan), "--out", str(out), "--samples", "32", "--seed", "7", "--resim", "0"]
    res = runner.invoke(app, [*args, "--save-samples", "--quiet"])
    assert res.exit_code == 0, res.output
    run = check_manifest(out, scan, tissue_model(), samples=32, seed=7)
    assert run["rows"]["with_posterior"] == 2 and run["model"]["problem"] == "tissue"
    saved = read_samples(out / "samples.npz")
    assert list(saved["ids"]) == ["a", "bad", "c"] and saved["samples"].shape == (3, 32, 13)
    assert not pd.isna(saved["samples"][[0, 2]]).any() and pd.isna(saved["samples"][1]).all()


def test_stars_run_manifest(tmp_path):
    from importlib.resources import files

    example = files("invert.data.stars") / "example_regions.fits"
    out = tmp_path / "out"
    res = runner.invoke(app, ["stars", "--fits", str(example), "--out", str(out), "--samples", "32", "--quiet"])
    assert res.exit_code == 0, res.output
    run = check_manifest(out, example, stars_model(False), samples=32, seed=0)
    assert run["model"]["problem"] == "stars" and "summary.fits" in run["outputs"]
    check_ecsv(out, {"logM_median": "dex(solMass)", "logM_std": "dex", "A_V_q84": "mag", "distance_mpc": "Mpc"})


def check_ecsv(out, units):
    """summary.ecsv holds the rows of summary.csv, with the units given; astropy reads it without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = Table.read(out / "summary.ecsv")
    summary = pd.read_csv(out / "summary.csv")
    assert table.colnames == list(summary.columns) and len(table) == len(summary)
    for column, unit in units.items():
        assert str(table[column].unit) == unit, column
    first = list(units)[0]
    np.testing.assert_allclose(np.ma.filled(table[first].astype(float), np.nan), summary[first], equal_nan=True)
    return table


def test_summary_ecsv_with_units(tmp_path):
    scan = tmp_path / "scan.csv"
    scan.write_text(SCAN)
    out = tmp_path / "t"
    assert (
        runner.invoke(app, ["tissue", "-i", str(scan), "--out", str(out), "--samples", "16", "--quiet"]).exit_code == 0
    )
    table = check_ecsv(out, {"amie1_median": "1 / cm", "d2_q16": "mm"})
    assert table["sO2_median"].unit is None and "posterior median of sO2" in table["sO2_median"].info.description
    assert list(table["status"])[1].startswith("non-numeric") and np.ma.is_masked(table["sO2_median"][1])


def check_record(record, path):
    """A file record: name, absolute path, size and SHA-256 (recomputed here) of the file."""
    assert record["name"] == path.name and record["path"] == str(path.resolve())
    assert record["bytes"] == path.stat().st_size and record["sha256"] == sha256(path)


def read_run(path):
    run = json.loads(path.read_text())
    assert run["invert_run"] == 1 and run["software"]["invert"] == version("invert")
    assert datetime.fromisoformat(run["started"]) <= datetime.fromisoformat(run["finished"])
    return run


@pytest.mark.parametrize(
    "app_name, options, settings",
    [
        ("tissue", ["--snr", "20"], {"camera": "ipcai2016", "snr": 20.0}),
        ("stars", ["--ratios-only"], {"ratios_only": True, "profile": "default", "dust_law": "ccm89"}),
    ],
)
def test_simulate_and_train_write_a_manifest_beside_their_file(tmp_path, monkeypatch, app_name, options, settings):
    """`simulate` and `train` write `<file>.run.json` beside their file once it is complete: the command line, the
    settings, the simulator, the files read and written with their SHA-256, where the training history is."""
    sims, model = tmp_path / "sims.npz", tmp_path / "m.invert"
    args = [app_name, "simulate", "--n", "120", "--seed", "5", "--chunk", "50", "--device", "cpu", *options]
    args += ["--out", str(sims), "--quiet"]
    monkeypatch.setattr(sys, "argv", ["invert", *args])  # as the console script sees it
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    run = read_run(tmp_path / "sims.npz.run.json")
    _, _, meta = ic.load_simulations(sims)
    check_record(run["output"], sims)
    assert run["settings"] == {"n": 120, "seed": 5, "chunk": 50, **settings, "device": "cpu"}
    assert run["simulator"]["simulator"] == meta["simulator"] and run["simulator"]["problem"] == app_name
    assert run["command"] == shlex.join(["invert", *args]) and "input" not in run and "model" not in run

    args = [app_name, "train", "--sims", str(sims), "--out", str(model), "--epochs", "1", "--seed", "3"]
    res = runner.invoke(app, [*args, "--accelerator", "cpu", "--quiet"])
    assert res.exit_code == 0, res.output
    run = read_run(tmp_path / "m.invert.run.json")
    trained = ic.load(model).metadata
    check_record(run["input"], sims)
    check_record(run["output"], model)
    assert run["input"]["simulator"] == meta["simulator"] and (run["input"]["n"], run["input"]["seed"]) == (120, 5)
    assert run["output"]["epochs_run"] == trained["epochs_run"] == 1 and run["output"]["method"] == "cinn"
    assert {k: run["settings"][k] for k in ("method", "seed", "epochs", "time_budget_s", "accelerator")} == {
        "method": "cinn",
        "seed": 3,
        "epochs": 1,
        "time_budget_s": None,
        "accelerator": "cpu",
    }
    assert run["settings"]["device"] == trained["accelerator"]
    assert run["training_history"] == str((tmp_path / "m_logs").resolve())
    assert (tmp_path / "m_logs" / "metrics.csv").is_file()


def test_no_manifest_for_a_refused_or_failed_output(tmp_path):
    """An output that is refused or cannot be made gets no manifest (and an earlier file's manifest stays as it was)."""
    folder = tmp_path / "a_folder"
    folder.mkdir()
    res = runner.invoke(app, ["stars", "simulate", "--n", "10", "--out", str(folder), "--quiet"])
    assert res.exit_code == 2 and not list(tmp_path.glob("*.run.json")) and not list(folder.iterdir())
    bad = tmp_path / "bad.npz"
    bad.write_text("not simulations")
    res = runner.invoke(app, ["stars", "train", "--sims", str(bad), "--out", str(tmp_path / "m.invert"), "--quiet"])
    assert res.exit_code == 2 and not (tmp_path / "m.invert").exists() and not list(tmp_path.glob("*.run.json"))
    out = tmp_path / "ev"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    res = runner.invoke(app, ["stars", "evaluate", "--sims", str(bad), "--out", str(out), "--quiet"])
    assert res.exit_code == 2 and [p.name for p in out.iterdir()] == ["keep.txt"]


def test_evaluate_writes_run_json_into_its_folder(tmp_path):
    """`evaluate` writes run.json with the training simulation file (SHA-256), the settings and the folder's files."""
    sims, out = tmp_path / "sims.npz", tmp_path / "ev"
    res = runner.invoke(app, ["stars", "simulate", "--n", "300", "--seed", "2", "--out", str(sims), "--quiet"])
    assert res.exit_code == 0, res.output
    args = ["--n-test", "5", "--samples", "32", "--epochs", "1", "--methods", "cinn", "--abc-sims", "0"]
    res = runner.invoke(
        app,
        ["stars", "evaluate", "--sims", str(sims), *args, "--reference-draws", "0", "--out", str(out), "--quiet"],
    )
    assert res.exit_code == 0, res.output
    run = read_run(out / "run.json")
    check_record(run["input"], sims)
    assert sorted(run["outputs"]) == sorted(p.name for p in out.iterdir()) and "table.csv" in run["outputs"]
    assert run["settings"] | {"device": "-"} == {
        "n_sims": None,
        "n_test": 5,
        "methods": "cinn",
        "samples": 32,
        "epochs": 1,
        "abc_sims": 0,
        "lines": "all",
        "reference_draws": 0,
        "ratios_only": False,
        "seed": 0,
        "device": "-",
    }
    results = json.loads((out / "results.json").read_text())
    assert (
        run["command"] == results["info"]["command"] and run["simulator"]["simulator"] == results["info"]["simulator"]
    )
