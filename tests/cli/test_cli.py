"""The `invert` command line: version, help, and the gmm8 demo end to end."""

import re

from typer.testing import CliRunner

from invert.apps.cli import app

runner = CliRunner()


def test_version_and_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and re.fullmatch(r"invert \d+\.\d+\.\d+\S*\n", result.output)
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "demo" in result.output


def test_demo_gmm8_prints_mode_shares():
    result = runner.invoke(app, ["demo", "gmm8", "--n-sims", "6000", "--epochs", "25", "--samples", "1000", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if re.search(r"\(\+|\(-", line)]
    assert len(rows) == 8  # every mode listed once under its label
    in_mode = [float(m) for m in re.findall(r"\|\s+([\d.]+)%", result.output)]
    assert len(in_mode) == 6 and min(in_mode) > 75  # even a short-trained cINN puts most mass on the right modes


def test_unknown_method_is_a_clear_error():
    result = runner.invoke(app, ["demo", "gmm8", "--method", "vae", "--quiet"])
    assert result.exit_code == 2
    assert "method" in result.output and "Traceback" not in result.output
