"""Hostile inputs and output faults against the main jobs: one error line and exit code 2 (1 for an internal
error), every good row kept, and an output folder that is either the whole new result or untouched."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from invert.apps.cli import app
from invert.apps.tissue.analysis import NON_FINITE
from invert.core import outputs

runner = CliRunner()
BANDS = ["470", "480", "511", "560", "580", "600", "660", "700"]
SPECTRUM = [410.0, 450.0, 480.0, 230.0, 180.0, 900.0, 1700.0, 1500.0]
FAST = ["--samples", "16", "--resim", "0", "--quiet"]


def write_scan(path, rows, header=("id", *BANDS)):
    path.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")
    return path


def good_rows(n, start=0):
    rng = np.random.default_rng(start)
    return [[f"p{i}", *np.round(np.array(SPECTRUM) * rng.uniform(0.8, 1.2, 8), 1)] for i in range(start, start + n)]


def tissue(*args):
    return runner.invoke(app, ["tissue", *map(str, args)])


def error_lines(res):
    return [ln for ln in res.output.splitlines() if ln.startswith("error:")]


def one_error(res, code, *phrases):
    """Exit code, exactly one error line with the phrases, no traceback."""
    assert res.exit_code == code, res.output
    lines = error_lines(res)
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def debris(parent, keep):
    """Entries of parent other than those named in keep (hidden work folders included)."""
    return sorted(p.name for p in parent.iterdir() if p.name not in keep)


@pytest.mark.parametrize(
    "bad, status", [(["5e-324"] + ["400"] * 7, NON_FINITE), (["1e308"] * 8, NON_FINITE), (["1e308"] + ["1"] * 7, "ood")]
)
def test_extreme_values_flag_their_row_and_keep_the_others(tmp_path, bad, status):
    rows = good_rows(4)
    rows.insert(2, ["bad", *bad])
    scan = write_scan(tmp_path / "scan.csv", rows)
    res = tissue("-i", scan, "--out", tmp_path / "out", "--samples", "16", "--resim", "0", "--quiet")
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "out" / "summary.csv", keep_default_na=False)
    assert list(table["id"]) == ["p0", "p1", "bad", "p2", "p3"]
    assert table.loc[2, "status"] == status  # finite but far from any training spectrum: out of distribution
    assert (table.loc[2, "sO2_median"] == "") == (status == NON_FINITE)
    assert (table.drop(index=2)["status"] == "ok").all()
    assert pd.to_numeric(table.drop(index=2)["sO2_median"]).between(0, 1).all()


def test_per_row_plots_are_keyed_by_id(tmp_path):
    rows = good_rows(6)
    rows[1] = ["bad", *(["1e308"] * 8)]
    scan = write_scan(tmp_path / "scan.csv", rows)
    res = tissue("-i", scan, "--out", tmp_path / "out", *FAST)
    assert res.exit_code == 0, res.output
    html = (tmp_path / "out" / "report.html").read_text()
    table = pd.read_csv(tmp_path / "out" / "summary.csv")
    ids = [i for i in table["id"] if i != "bad"]
    # each per-row section names its row in the heading and in the figure; the median quoted is that row's
    for row_id in ids:
        assert f'alt="sO2 posterior of row {row_id}"' in html
        median = table.loc[table["id"] == row_id, "sO2_median"].iloc[0]
        section = html.split(f"<h3>{row_id}")[1].split("</p>")[0]
        assert f"median {100 * median:.1f} %" in section, section
    assert 'alt="sO2 posterior of row bad"' not in html


def test_every_row_unusable_is_one_error_line(tmp_path):
    scan = write_scan(tmp_path / "scan.csv", [[f"r{i}", *(["1e308"] * 8)] for i in range(3)])
    res = tissue("-i", scan, "--out", tmp_path / "out", *FAST)
    one_error(res, 2, "no usable rows")
    assert (pd.read_csv(tmp_path / "out" / "summary.csv")["status"] == NON_FINITE).all()


def test_existing_folder_is_refused_then_replaced_whole(tmp_path):
    scan = write_scan(tmp_path / "scan.csv", good_rows(3))
    out = tmp_path / "out"
    assert tissue("-i", scan, "--out", out, "--save-samples", *FAST).exit_code == 0
    before = snapshot(out)
    assert "samples.npz" in before
    one_error(tissue("-i", scan, "--out", out, *FAST), 2, "exists", "--overwrite")
    assert snapshot(out) == before
    res = tissue("-i", scan, "--out", out, "--overwrite", *FAST)
    assert res.exit_code == 0, res.output
    assert sorted(snapshot(out)) == ["report.html", "run.json", "summary.csv", "summary.ecsv"]  # no old samples
    assert debris(tmp_path, {"scan.csv", "out"}) == []


@pytest.mark.parametrize("where", ["file", "input", "parent_of_input"])
def test_output_that_would_destroy_something_is_refused_up_front(tmp_path, where):
    folder = tmp_path / "data"
    folder.mkdir()
    scan = write_scan(folder / "scan.csv", good_rows(2))
    other = tmp_path / "notes.txt"
    other.write_text("keep me")
    out, phrase = {
        "file": (other, "is a file"),
        "input": (scan, "is the input file"),
        "parent_of_input": (folder, "lies inside the output folder"),
    }[where]
    res = tissue("-i", scan, "--out", out, "--overwrite", *FAST)
    one_error(res, 2, phrase)
    assert other.read_text() == "keep me" and scan.read_text().startswith("id,470")
    assert debris(tmp_path, {"data", "notes.txt"}) == [] and sorted(os.listdir(folder)) == ["scan.csv"]


def test_read_only_or_full_output_is_one_line(tmp_path, monkeypatch):
    scan = write_scan(tmp_path / "scan.csv", good_rows(2))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as m:
        m.setattr(outputs.tempfile, "mkdtemp", read_only)
        one_error(tissue("-i", scan, "--out", tmp_path / "out", *FAST), 2, "Read-only file system")
    with monkeypatch.context() as m:
        m.setattr(outputs.shutil, "disk_usage", lambda path: outputs.shutil._ntuple_diskusage(10**9, 10**9, 1000))
        one_error(tissue("-i", scan, "--out", tmp_path / "out", *FAST), 2, "not enough space")
    assert debris(tmp_path, {"scan.csv"}) == []
    # the disk fills up while the report is written: the previous result stays whole
    assert tissue("-i", scan, "--out", tmp_path / "out", *FAST).exit_code == 0
    before = snapshot(tmp_path / "out")

    def full(target, content):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    with monkeypatch.context() as m:
        m.setattr(outputs, "_put", full)
        one_error(tissue("-i", scan, "--out", tmp_path / "out", "--overwrite", *FAST), 2, "No space left on device")
    assert snapshot(tmp_path / "out") == before and debris(tmp_path, {"scan.csv", "out"}) == []


def test_impossible_sample_count_is_refused_before_work(tmp_path):
    scan = write_scan(tmp_path / "scan.csv", good_rows(2))
    started = time.perf_counter()
    one_error(
        tissue("-i", scan, "--out", tmp_path / "out", "--samples", "100000000", "--quiet"),
        2,
        "--samples 100,000,000",
        "GiB",
    )
    assert time.perf_counter() - started < 30 and not (tmp_path / "out").exists()


def test_spreadsheet_formulas_in_ids_are_neutralized(tmp_path):
    ids = ['=HYPERLINK("http://example.com";"x")', "=cmd|' /C calc'!A0", "+1+1", "@SUM(A1)", "-5", "plain"]
    rows = [[f'"{i}"' if '"' not in i else '"' + i.replace('"', '""') + '"', *SPECTRUM] for i in ids]
    scan = write_scan(tmp_path / "scan.csv", rows)
    assert tissue("-i", scan, "--out", tmp_path / "out", *FAST).exit_code == 0
    written = pd.read_csv(tmp_path / "out" / "summary.csv", dtype={"id": str})["id"].tolist()
    assert written == ["'" + i for i in ids[:4]] + ["-5", "plain"]


def test_damaged_image_header_is_one_line(tmp_path):
    path = tmp_path / "image.npy"
    np.save(path, np.ones((20, 3, 8), np.float32))
    path.write_bytes(path.read_bytes().replace(b"(20, 3, 8)", b"(-2, 3, 8)"))
    one_error(tissue("-i", path, "--bands", ",".join(BANDS), "--out", tmp_path / "out", *FAST), 2, "image.npy")
    assert not (tmp_path / "out").exists()


def test_internal_error_is_one_line_with_exit_1_and_a_traceback_on_request(tmp_path, monkeypatch):
    scan = write_scan(tmp_path / "scan.csv", good_rows(2))

    def broken(*args, **kwargs):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr("invert.apps.tissue.run.analyse_chunk", broken)
    line = one_error(tissue("-i", scan, "--out", tmp_path / "out", *FAST), 1, "internal error", "--debug")
    assert "a bug over two lines" in line
    res = runner.invoke(app, ["--debug", "tissue", "-i", str(scan), "--out", str(tmp_path / "out"), *FAST])
    assert isinstance(res.exception, RuntimeError)
    assert debris(tmp_path, {"scan.csv"}) == []


def test_interrupt_leaves_no_folder(tmp_path, monkeypatch):
    scan = write_scan(tmp_path / "scan.csv", good_rows(2))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("invert.apps.tissue.run.analyse_chunk", interrupted)
    res = tissue("-i", scan, "--out", tmp_path / "out", *FAST)
    assert res.exit_code == 130 and "no output folder was written" in res.output
    assert debris(tmp_path, {"scan.csv"}) == []


def _start(scan, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-c",
        "from invert.apps.cli import app; app()",
        "tissue",
        "-i",
        str(scan),
        "--out",
        str(out),
        "--samples",
        "64",
        "--chunk",
        "64",
        "--quiet",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_work_folder(parent, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        work = [p for p in parent.iterdir() if p.name.startswith(".out.tmp-")]
        if work and (work[0] / "summary.csv").exists():
            return work[0]
        time.sleep(0.05)
    raise AssertionError(f"no work folder appeared: {proc.communicate()}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_leaves_no_visible_debris(tmp_path, sig):
    scan = write_scan(tmp_path / "scan.csv", good_rows(3000))
    proc = _start(scan, tmp_path / "out")
    _wait_for_work_folder(tmp_path, proc)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode in (128 + sig, -sig)
    visible = [name for name in debris(tmp_path, {"scan.csv"}) if not name.startswith(".")]
    assert visible == []  # no output folder, no half-written summary
    if sig == signal.SIGTERM:
        assert debris(tmp_path, {"scan.csv"}) == []  # cleaned up on the way out
    else:  # SIGKILL cannot be caught: a hidden work folder stays until the next run into the same folder
        assert len(debris(tmp_path, {"scan.csv"})) == 1
        small = write_scan(tmp_path / "small.csv", good_rows(2))
        assert tissue("-i", small, "--out", tmp_path / "out", *FAST).exit_code == 0
        assert debris(tmp_path, {"scan.csv", "small.csv"}) == ["out"]


@pytest.mark.parametrize("where", ["symlink", "dangling", "current", "under_a_file", "proc"])
def test_output_paths_that_cannot_be_replaced_are_refused_up_front(tmp_path, monkeypatch, where):
    scan = write_scan(tmp_path / "scan.csv", good_rows(2))
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "afile").write_text("x")
    monkeypatch.chdir(tmp_path / "real")
    out, phrase = {
        "symlink": (tmp_path / "link", "symbolic link"),
        "dangling": (tmp_path / "dangling", "symbolic link"),
        "current": (Path("."), "current folder"),
        "under_a_file": (tmp_path / "afile" / "sub", "is a file, not a folder"),
        "proc": (Path("/proc/invert_out"), "cannot write into /proc"),
    }[where]
    one_error(tissue("-i", scan, "--out", out, "--overwrite", *FAST), 2, phrase)
    assert sorted(os.listdir(tmp_path / "real")) == [] and (tmp_path / "afile").read_text() == "x"


def test_option_errors_and_odd_images_are_one_line(tmp_path):
    scan = write_scan(tmp_path / "scan.csv", good_rows(2))
    one_error(tissue("-i", scan, "--out", tmp_path / "o", "--samples", "0"), 2, "--samples")
    times = tmp_path / "times.npy"
    np.save(times, np.ones((2, 2, 8)).astype("m8[s]"))
    one_error(tissue("-i", times, "--bands", ",".join(BANDS), "--out", tmp_path / "o", *FAST), 2, "timedelta64")
    text = tmp_path / "text.npy"
    text.write_text("id,470\n")
    line = one_error(tissue("-i", text, "--bands", ",".join(BANDS), "--out", tmp_path / "o", *FAST), 2, "text.npy")
    assert "pickle" not in line
    wide = write_scan(
        tmp_path / "wide.csv",
        [[*row, *[""] * 500] for row in good_rows(1)],
        header=("id", *BANDS, *[f"x{i}" for i in range(500)]),
    )
    res = tissue("-i", wide, "--out", tmp_path / "w", *FAST)
    assert res.exit_code == 0 and len([ln for ln in res.output.splitlines() if ln.startswith("warning:")]) <= 13


@pytest.mark.parametrize("budget", ["nan", "-5", "inf"])
def test_training_time_budget_must_be_positive_and_finite(tmp_path, budget):
    sims = tmp_path / "sims.npz"
    np.savez(sims, x=np.zeros((1, 1)))  # never read: the option is refused first
    one_error(tissue("train", "--sims", sims, "--out", tmp_path / "m.invert", "--time-budget", budget), 2, "positive")
