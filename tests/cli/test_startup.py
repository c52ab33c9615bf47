"""A quick and courteous command line: help and version print without loading the engine (torch, Lightning,
astropy, scipy, matplotlib), and a --device that this machine does not have is refused at once, in one line.
Timings are in benchmarks/startup.py; here only what is imported is checked."""

import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invert.apps import cli

runner = CliRunner()
ENGINE = ("torch", "lightning", "pytorch_lightning", "astropy", "scipy", "matplotlib")
HELP_ONLY = [  # (arguments, exit code)
    (["--help"], 0),
    (["--version"], 0),
    (["tissue", "--help"], 0),
    (["stars", "--help"], 0),
    (["demo", "--help"], 0),
    (["demo"], 2),  # a group without arguments prints its help (exit 2, as before)
    (["tissue"], 2),  # ... and, without --input, says what is missing
    (["tissue", "evaluate", "--help"], 0),
    (["stars", "train", "--help"], 0),
    (["demo", "posterior", "--help"], 0),
]
CHECK = f"""
import json, sys
from typer.testing import CliRunner
from invert.apps.cli import app
runner = CliRunner()
codes = [runner.invoke(app, args).exit_code for args in {[args for args, _ in HELP_ONLY]!r}]
print(json.dumps({{"codes": codes, "loaded": [m for m in {ENGINE!r} if m in sys.modules]}}))
"""


def test_help_and_version_do_not_import_the_engine():
    """In a fresh interpreter: importing the command line and answering every help-only command line loads none of
    the engine's heavy packages."""
    run = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.splitlines()[-1])
    assert found["codes"] == [code for _, code in HELP_ONLY]
    assert found["loaded"] == []


def test_the_evaluate_methods_written_out_for_the_command_line_are_the_engines():
    """kit.options writes the method names out rather than import them with the engine; evaluate offers cinn+is
    only where the app has a likelihood."""
    from invert.apps.kit.options import EVALUATE_METHODS
    from invert.core.evaluation import METHODS

    assert EVALUATE_METHODS == tuple(METHODS)
    tissue_help = runner.invoke(cli.app, ["tissue", "evaluate", "--help"]).output
    stars_help = runner.invoke(cli.app, ["stars", "evaluate", "--help"]).output
    assert "cinn+is" not in tissue_help and "cinn+is" in stars_help


def _job(tmp_path, app_name):
    """The arguments of a main job on the shipped examples (nothing is read before the --device check)."""
    data = {name: Path(str(files(f"invert.data.{name}"))) for name in ("tissue", "stars")}
    out = ["--out", str(tmp_path / "out")]
    if app_name == "tissue":
        return ["tissue", "--input", str(data["tissue"] / "example_scan.csv"), *out]
    if app_name == "stars":
        return ["stars", "--fits", str(data["stars"] / "example_regions.fits"), *out]
    return ["demo", "posterior", "--input", str(tmp_path / "rows.csv"), "--model", str(tmp_path / "m.invert"), *out]


def _missing_devices():
    import torch

    missing = [f"cuda:{torch.cuda.device_count()}"]  # one past the last GPU (cuda:0 on a machine without one)
    if not torch.cuda.is_available():
        missing.append("cuda")
    if not torch.backends.mps.is_available():
        missing.append("mps")
    return missing


@pytest.mark.parametrize("app_name", ["tissue", "stars", "demo"])
def test_a_device_this_machine_lacks_is_one_error_line_before_any_work(app_name, tmp_path):
    for device in [*_missing_devices(), "gpu", "cuda:x", "cpu:0"]:
        result = runner.invoke(cli.app, [*_job(tmp_path, app_name), "--device", device])
        assert result.exit_code == 2, (device, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --device"), (device, result.output)
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("app_name", ["tissue", "stars", "demo"])
def test_the_device_reaches_the_job_settings(app_name, tmp_path, monkeypatch):
    """--device goes into JobSettings.device (the run itself is replaced here), and the allocator is set up for a
    command that runs, as before."""
    import invert.apps.demo.job
    import invert.apps.stars.run
    import invert.apps.tissue.run
    import invert.core.devices

    seen, tuned = {}, []

    def job(*args, **kwargs):
        settings = next(a for a in args if hasattr(a, "device") or hasattr(a, "job"))
        seen["device"] = getattr(settings, "job", settings).device
        return 0

    monkeypatch.setattr(invert.apps.tissue.run, "run_scan", job)
    monkeypatch.setattr(invert.apps.stars.run, "run_fits", job)
    monkeypatch.setattr(invert.apps.demo.job, "run_rows", job)
    monkeypatch.setattr(invert.core.devices, "reuse_freed_memory", lambda: tuned.append(True))
    for device in ("auto", "cpu"):
        result = runner.invoke(cli.app, [*_job(tmp_path, app_name), "--device", device])
        assert result.exit_code == 0, result.output
        assert seen.pop("device") == device
    assert tuned == [True, True]
    result = runner.invoke(cli.app, [app_name, "--help"])
    assert result.exit_code == 0 and tuned == [True, True]
