"""`invert models`: the shipped models with what a scientist cites of each."""

import hashlib
import re
from importlib.resources import files
from pathlib import Path

from typer.testing import CliRunner

from invert.apps.cli import app
from invert.core.bundle import read_bundle

runner = CliRunner()
SHIPPED = {
    "tissue_cinn.invert": "tissue",
    "tissue_ximea_sm4x4_vis3_cinn.invert": "tissue",
    "stars_cinn.invert": "stars",
    "stars_ratios_cinn.invert": "stars",
}


def test_lists_the_shipped_models_with_their_provenance():
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
        if "camera" in info:
            assert fields["camera"] == f"{info['camera']['name']} ({len(info['camera']['bands'])} bands)"
        main, error = info["x_names"][0], info["validation"]["calibration_error"][0]
        assert f"calibration error {main} {error:.3f}" in fields["validation"]


def test_rebuilding_examples_never_touches_the_installed_package(tmp_path, monkeypatch):
    """`example` writes into the current folder by default; the package's own files change only on request."""
    import hashlib
    from importlib.resources import files

    shipped = [files("invert.data.tissue") / "example_scan.csv", files("invert.data.stars") / "example_regions.fits"]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in shipped]
    monkeypatch.chdir(tmp_path)
    for app_name in ("tissue", "stars"):
        res = runner.invoke(app, [app_name, "example"])
        assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "example_regions.fits",
        "example_regions_truth.csv",
        "example_scan.csv",
        "example_scan_truth.csv",
    ]
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in shipped] == before
    # the same seed rebuilds the shipped files exactly
    assert (tmp_path / "example_scan.csv").read_bytes() == shipped[0].read_bytes()
    res = runner.invoke(app, ["tissue", "example", "--out", "x.csv", "--into-package"])
    assert res.exit_code == 2 and "not both" in res.output
