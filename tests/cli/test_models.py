"""`invert models`: the shipped models with what a scientist cites of each."""

import hashlib
import re
from importlib.resources import files
from pathlib import Path

from typer.testing import CliRunner

from invert.apps.cli import app
from invert.core.bundle import read_bundle

runner = CliRunner()
SHIPPED = {"tissue_cinn.invert": "tissue", "stars_cinn.invert": "stars", "stars_ratios_cinn.invert": "stars"}


def test_lists_the_three_shipped_models_with_their_provenance():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    blocks = result.output.strip().split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == [f"{a}: {name}" for name, a in SHIPPED.items()]
    for block, (name, app_name) in zip(blocks, SHIPPED.items()):
        path = Path(str(files(f"invert.data.{app_name}") / name))
        meta = read_bundle(path)[0]
        info = meta["metadata"]
        fields = dict(re.match(r"  (\S+(?: by)?)\s+(.*)", line).groups() for line in block.splitlines()[1:])
        assert fields["file"] == str(path)
        assert fields["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert fields["method"].startswith(f"{meta['method']} (invert ")
        assert fields["simulator"] == info["simulator"]
        assert fields["training"].startswith(f"{info['n_sims']:,} simulations, {info['train_time_s']:.0f} s on cpu")
        assert fields["made by"] == info["command"]
        main, error = info["x_names"][0], info["validation"]["calibration_error"][0]
        assert f"calibration error {main} {error:.3f}" in fields["validation"]
