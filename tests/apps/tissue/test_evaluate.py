"""`invert tissue evaluate` end to end on a tiny budget: every method, every output file."""

import json

import pandas as pd
from typer.testing import CliRunner

from invert.apps.cli import app
from invert.core.evaluation import METHODS as ALL_METHODS

runner = CliRunner()
METHODS = [m for m in ALL_METHODS if m != "cinn+is"]  # the tissue simulator has no tractable likelihood


def test_evaluate_writes_the_paper_table_for_every_method(tmp_path):
    out = tmp_path / "eval"
    res = runner.invoke(
        app,
        [
            "tissue",
            "evaluate",
            "--n-sims",
            "400",
            "--n-test",
            "12",
            "--samples",
            "64",
            "--epochs",
            "1",
            "--methods",
            ",".join(METHODS),
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "table.md",
            "table.csv",
            "calibration.png",
            "correlation.png",
            "recoverability.csv",
            "results.json",
            "run.json",
        ]
    )
    table = pd.read_csv(out / "table.csv")
    assert set(table["method"]) == set(METHODS) and len(table) == 13 * len(METHODS)
    assert table["calibration_error"].between(0, 1).all() and table["coverage_68"].between(0, 1).all()
    assert (table["per_obs_s"] > 0).all()
    md = (out / "table.md").read_text()
    assert all(f"| {m} |" in md for m in METHODS) and "invert tissue evaluate" in md
    results = json.loads((out / "results.json").read_text())
    assert results["runs"]["abc"]["pool"] == 400
    run = json.loads((out / "run.json").read_text())  # new simulations: no input file, their number and seed
    assert "input" not in run and (run["settings"]["n_sims"], run["settings"]["seed"]) == (400, 0)
    assert run["outputs"] == sorted(p.name for p in out.iterdir())
    assert set(pd.read_csv(out / "recoverability.csv")["method"]) == set(METHODS)


def test_evaluate_refuses_an_unknown_method(tmp_path):
    res = runner.invoke(
        app, ["tissue", "evaluate", "--n-sims", "100", "--methods", "cinn,magic", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2 and "unknown method" in res.output and res.output.count("\n") == 1


def test_evaluate_refuses_cinn_is_without_a_likelihood(tmp_path):
    res = runner.invoke(
        app, ["tissue", "evaluate", "--n-sims", "100", "--methods", "cinn,cinn+is", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2 and "likelihood" in res.output and res.output.count("\n") == 1
