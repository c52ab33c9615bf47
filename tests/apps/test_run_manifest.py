"""What every main job writes for citing and reuse: run.json (versions, command, input and model with their SHA-256,
recomputed here, settings, times, rows per status, consistent with summary.csv), summary.ecsv (the summary with
units and descriptions, read back by astropy without a warning) and samples aligned with the summary."""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import datetime
from importlib.metadata import version

import numpy as np
import pandas as pd
from astropy.table import Table
from typer.testing import CliRunner

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
