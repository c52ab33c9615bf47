"""`invert stars evaluate` end to end on a tiny budget, with the multi-modality check against ABC."""

import json

import pandas as pd
from typer.testing import CliRunner

from invert.apps.cli import app

runner = CliRunner()


def test_stars_evaluate_writes_every_table_and_the_mode_check(tmp_path):
    out = tmp_path / "eval"
    res = runner.invoke(app, ["stars", "evaluate", "--n-sims", "2000", "--n-test", "8", "--samples", "64", "--epochs", "1",
                              "--abc-sims", "20000", "--methods", "cinn,abc,dropout", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert {"table.md", "table.csv", "calibration.png", "correlation.png", "modes.csv", "results.json"} <= {p.name for p in out.iterdir()}
    table = pd.read_csv(out / "table.csv")
    assert set(table["parameter"]) == {"logM", "logt", "logZ", "logU", "A_V"} and set(table["method"]) == {"cinn", "abc", "dropout"}
    md = (out / "table.md").read_text()
    assert "| method (logZ) |" in md and "Multi-modality check (logZ)" in md
    assert json.loads((out / "results.json").read_text())["runs"]["abc"]["pool"] == 20000
