"""`--resume`: a main job interrupted after some chunks (Ctrl-C, SIGTERM, a kill) keeps its finished chunks, and the
same command with --resume finishes it with outputs byte for byte those of an uninterrupted run (run.json aside,
which says from which row the run was resumed); what does not fit the interrupted run is refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import invert.apps.stars.run as stars_run
import invert.apps.tissue.run as tissue_run
from invert.apps.cli import app

runner = CliRunner()
BANDS = ["470", "480", "511", "560", "580", "600", "660", "700"]
SPECTRA = [[410, 450, 480, 230, 180, 900, 1700, 1500], [400, 440, 470, 220, 170, 880, 1650, 1450]]
CHUNK = 16


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """A CSV scan of 96 rows (one of them unusable), 6 chunks of CHUNK rows."""
    rng = np.random.default_rng(3)
    rows = np.asarray(SPECTRA, float)[rng.integers(0, 2, 96)] * rng.uniform(0.8, 1.2, (96, len(BANDS)))
    table = pd.DataFrame(rows.round(1), columns=BANDS).astype(object)
    table.insert(0, "id", [f"p{i}" for i in range(len(table))])
    table.iloc[21, 2] = "x"
    path = tmp_path_factory.mktemp("scan") / "scan.csv"
    table.to_csv(path, index=False)
    return path


def tissue_args(scan, out, *extra):
    return ["tissue", "-i", str(scan), "--out", str(out), "--chunk", str(CHUNK), "--samples", "32", "--resim", "0",
            "--detailed", "20", "--save-samples", "--quiet", *extra]  # fmt: skip


def stars_args(out, *extra):
    example = files("invert.data.stars") / "example_regions.fits"
    return ["stars", "--fits", str(example), "--out", str(out), "--chunk", "3", "--samples", "32", "--detailed", "4",
            "--save-samples", "--quiet", *extra]  # fmt: skip


def stop_after(monkeypatch, module, chunks, stop=KeyboardInterrupt):
    """The app's analyse_chunk raises stop on chunk chunks + 1, after analysing it (its samples half on disk)."""
    real, calls = module.analyse_chunk, []

    def analyse(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) > chunks:
            raise stop()
        return result

    monkeypatch.setattr(module, "analyse_chunk", analyse)
    return calls


def invoke(args):
    return runner.invoke(app, args)


def interrupted(monkeypatch, module, args, chunks, stop=KeyboardInterrupt):
    """Run args, interrupted after `chunks` chunks; the result of the run."""
    with monkeypatch.context() as patch:
        stop_after(patch, module, chunks, stop)
        return invoke(args)


def assert_same_outputs(a, b, resumed_from):
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name != "run.json":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    run_a, run_b = (json.loads((folder / "run.json").read_text()) for folder in (a, b))
    assert "resumed_from_row" not in run_a["settings"] and run_b["settings"]["resumed_from_row"] == resumed_from
    assert run_b["settings"]["resume"] is True and run_a["rows"] == run_b["rows"] and run_a["outputs"] == names


@pytest.fixture(scope="module")
def tissue_reference(scan, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "whole"
    res = invoke(tissue_args(scan, out))
    assert res.exit_code == 0, res.output
    return out


def test_tissue_resume_gives_byte_identical_outputs(scan, tissue_reference, tmp_path, monkeypatch):
    out = tmp_path / "out"
    res = interrupted(monkeypatch, tissue_run, tissue_args(scan, out), chunks=1)  # --detailed 20 spans 2 chunks
    assert res.exit_code == 130
    partial = tmp_path / ".out.partial"
    assert f"interrupted after {CHUNK} of about 96 rows (kept in {partial}); run the same command with --resume" in (
        res.output
    )
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [".out.partial"]

    res = interrupted(monkeypatch, tissue_run, tissue_args(scan, out, "--resume"), chunks=3)  # interrupted again
    assert res.exit_code == 130 and f"interrupted after {4 * CHUNK} of" in res.output and not out.exists()

    res = invoke(tissue_args(scan, out, "--resume"))
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert_same_outputs(tissue_reference, out, resumed_from=4 * CHUNK)


def test_a_half_written_chunk_is_cut_off(scan, tissue_reference, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert interrupted(monkeypatch, tissue_run, tissue_args(scan, out), chunks=2).exit_code == 130
    partial = tmp_path / ".out.partial"
    state = json.loads((partial / "resume" / "state.json").read_text())
    assert state["rows"] == 2 * CHUNK and (partial / "samples.npy").stat().st_size > state["files"]["samples.npy"]
    with open(partial / "summary.csv", "a") as fh:
        fh.write("p32,half a row")
    (partial / "report.html").write_text("left by an interrupted finish")
    res = invoke(tissue_args(scan, out, "--resume"))
    assert res.exit_code == 0, res.output
    assert_same_outputs(tissue_reference, out, resumed_from=2 * CHUNK)


def test_sigterm_and_a_kill_keep_the_finished_chunks(scan, tissue_reference, tmp_path, monkeypatch):
    out = tmp_path / "out"
    res = interrupted(monkeypatch, tissue_run, tissue_args(scan, out), chunks=2, stop=lambda: SystemExit(143))
    assert res.exit_code == 143 and "run the same command with --resume to continue" in res.output
    # as if the run were killed (SIGKILL): its work folder under the name of a process that is gone
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".out.partial").rename(tmp_path / f".out.tmp-{int(gone.stdout)}-abc")
    res = invoke(tissue_args(scan, out))  # without --resume: kept, and refused
    assert res.exit_code == 2 and "give --resume to continue it, or --overwrite" in res.output
    assert (tmp_path / ".out.partial").is_dir() and not out.exists()
    res = invoke(tissue_args(scan, out, "--resume"))
    assert res.exit_code == 0, res.output
    assert_same_outputs(tissue_reference, out, resumed_from=2 * CHUNK)


def test_what_differs_from_the_interrupted_run_is_refused(scan, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert interrupted(monkeypatch, tissue_run, tissue_args(scan, out), chunks=1).exit_code == 130
    res = invoke(tissue_args(scan, out, "--resume", "--seed", "1"))
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        f"error: cannot resume {out}: --seed 1 differs from the interrupted run's 0; rerun without --resume "
        "(with --overwrite) to start afresh"
    ]
    other = tmp_path / "other.csv"
    other.write_text(scan.read_text().replace("p0,", "q0,"))
    res = invoke([*tissue_args(other, out, "--resume"), "--samples", "64"])
    assert res.exit_code == 2 and "the input file is not the one of the interrupted run" in res.output
    assert "--samples 64 differs from the interrupted run's 32" in res.output
    assert (tmp_path / ".out.partial" / "resume" / "state.json").is_file() and not out.exists()  # kept as it was

    (tmp_path / ".out.partial" / "resume" / "chunk-000000.npz").write_bytes(b"PK damaged")
    res = invoke(tissue_args(scan, out, "--resume"))  # a damaged kept run: discarded with a warning, afresh
    assert res.exit_code == 0, res.output
    assert "cannot be continued (its kept results cannot be read" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv", "out"]
    assert "resumed_from_row" not in json.loads((out / "run.json").read_text())["settings"]


def assert_fresh_outputs(out, reference):
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in reference.iterdir())
    assert all((out / n).read_bytes() == (reference / n).read_bytes() for n in names if n != "run.json")
    assert "resumed_from_row" not in json.loads((out / "run.json").read_text())["settings"]


def test_overwrite_discards_a_kept_run(scan, tissue_reference, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert interrupted(monkeypatch, tissue_run, tissue_args(scan, out), chunks=1).exit_code == 130
    res = invoke(tissue_args(scan, out, "--overwrite"))  # --overwrite without --resume: discarded, afresh
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert_fresh_outputs(out, tissue_reference)


def test_resume_with_nothing_to_resume_is_a_normal_run(scan, tissue_reference, tmp_path, monkeypatch):
    out = tmp_path / "out"
    res = interrupted(monkeypatch, tissue_run, tissue_args(scan, out), chunks=0)  # before any chunk was finished
    assert res.exit_code == 130 and "no output folder was written or changed" in res.output
    assert list(tmp_path.iterdir()) == []
    res = invoke([a for a in tissue_args(scan, out, "--resume") if a != "--quiet"])  # the note is shown
    assert res.exit_code == 0, res.output
    assert f"note: no interrupted run into {out} to resume; starting afresh" in res.output
    assert_fresh_outputs(out, tissue_reference)


def test_stars_resume_gives_byte_identical_outputs(tmp_path, monkeypatch):
    whole, out = tmp_path / "whole", tmp_path / "out"
    res = invoke(stars_args(whole))
    assert res.exit_code == 0, res.output
    res = interrupted(monkeypatch, stars_run, stars_args(out), chunks=1)
    assert res.exit_code == 130 and "interrupted after 3 of 8 objects" in res.output and not out.exists()
    res = invoke(stars_args(out, "--resume", "--no-importance"))
    assert res.exit_code == 2 and "--importance off differs from the interrupted run's on" in res.output
    with open(tmp_path / ".out.partial" / "summary.fits", "ab") as fh:
        fh.write(b"\0" * 100)  # half a row
    res = invoke(stars_args(out, "--resume"))
    assert res.exit_code == 0, res.output
    assert_same_outputs(whole, out, resumed_from=3)


def test_the_demo_app_resumes_too(tmp_path, monkeypatch):
    """The third app gets --resume from the kit alone (run directly: its command has no --chunk)."""
    import typer

    import invert.apps.demo.job as demo_job
    from invert.apps.kit.job import JobSettings

    model = tmp_path / "toy.invert"
    res = invoke(["demo", "gmm8", "--n-sims", "2000", "--epochs", "2", "--save", str(model), "--quiet"])
    assert res.exit_code == 0, res.output
    rows = [",".join(["id", *(f"label{j}" for j in range(6))])]
    rows += [",".join([f"r{i}", *("1" if j == i % 6 else "0" for j in range(6))]) for i in range(9)]
    csv = tmp_path / "obs.csv"
    csv.write_text("\n".join(rows) + "\n")

    def run(out, resume=False):
        settings = JobSettings(n_samples=32, chunk=2, detailed=3, save_samples=True, progress=False, resume=resume)
        try:
            return demo_job.run_rows(csv, model, out, settings)
        except typer.Exit as stop:
            return stop.exit_code

    assert run(tmp_path / "whole") == 0
    with monkeypatch.context() as patch:
        stop_after(patch, demo_job, 2)
        assert run(tmp_path / "out") == 130
    assert run(tmp_path / "out", resume=True) == 0
    assert_same_outputs(tmp_path / "whole", tmp_path / "out", resumed_from=4)
