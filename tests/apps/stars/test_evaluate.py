"""`invert stars evaluate` end to end on a tiny budget, with the multi-modality check against the reference."""

import json

import pandas as pd
from typer.testing import CliRunner

from invert.apps.cli import app

runner = CliRunner()


def test_stars_evaluate_writes_every_table_and_the_mode_check(tmp_path):
    out = tmp_path / "eval"
    res = runner.invoke(
        app,
        [
            "stars",
            "evaluate",
            "--n-sims",
            "2000",
            "--n-test",
            "8",
            "--samples",
            "64",
            "--epochs",
            "1",
            "--abc-sims",
            "20000",
            "--methods",
            "cinn,cinn+is,abc,dropout",
            "--lines",
            "blue",
            "--reference-draws",
            "50000",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    written = {p.name for p in out.iterdir()}
    assert {"table.md", "table.csv", "calibration.png", "correlation.png", "modes.csv", "results.json"} <= written
    table = pd.read_csv(out / "table.csv")
    assert set(table["parameter"]) == {"logM", "logt", "logZ", "logU", "A_V"}
    assert set(table["method"]) == {"cinn", "cinn+is", "abc", "dropout"}
    md = (out / "table.md").read_text()
    assert "| method (logZ) |" in md and "Multi-modality check (logZ)" in md
    results = json.loads((out / "results.json").read_text())
    assert results["runs"]["abc"]["pool"] == 20000
    assert results["runs"]["cinn+is"]["fit_s"] == results["runs"]["cinn"]["fit_s"]  # the same network, reweighted
    assert results["runs"]["cinn+is"]["ess_median"] > 0
    assert "likelihood-weighted prior draws" in results["info"]["reference posterior"]
    assert "--lines blue --reference-draws 50000" in results["info"]["command"]
    modes = pd.read_csv(out / "modes.csv")
    assert list(modes.columns) == ["observation", "method", "mode", "reference_share", "share", "c2st_vs_reference"]
