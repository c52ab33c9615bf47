"""`invert demo posterior`: the third app, built from the kit (reader, problem, row table, report only)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from invert.apps.cli import app

runner = CliRunner()


def test_toy_posteriors_for_a_csv_of_labels(tmp_path):
    model = tmp_path / "toy.invert"
    res = runner.invoke(
        app, ["demo", "gmm8", "--n-sims", "2000", "--epochs", "2", "--samples", "100", "--save", str(model), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    csv = tmp_path / "obs.csv"
    csv.write_text("id,label0,label1,label2,label3,label4,label5\na,1,0,0,0,0,0\nbad,x,0,0,0,0,0\nb,0,0,0,1,0,0\n")
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        ["demo", "posterior", "-i", str(csv), "--model", str(model), "--out", str(out), "--samples", "64", "--quiet"],
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "summary.csv")
    assert list(table["id"]) == ["a", "bad", "b"] and list(table["status"]) == [
        "ok",
        "missing or non-numeric value",
        "ok",
    ]
    assert table["x1_median"].notna().tolist() == [True, False, True]
    assert 'alt="posterior of row a"' in (out / "report.html").read_text()
    # the kit's checks hold for this app too: an existing folder is refused, a missing column named
    res = runner.invoke(app, ["demo", "posterior", "-i", str(csv), "--model", str(model), "--out", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.output
    csv.write_text("id,label0\na,1\n")
    res = runner.invoke(
        app, ["demo", "posterior", "-i", str(csv), "--model", str(model), "--out", str(tmp_path / "o2")]
    )
    assert res.exit_code == 2 and "lacks the column(s) label1" in res.output
