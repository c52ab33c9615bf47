"""invert.core.outputs: atomic output folders and streamed .npy rows."""

import os

import numpy as np
import pytest

from invert.core import outputs


def listing(folder):
    return sorted(os.listdir(folder))


def test_atomic_write_creates_and_replaces(tmp_path):
    out = tmp_path / "report"
    outputs.write_outputs_atomically(out, {"summary.csv": "a,b\n1,2\n", "report.html": b"<html>1</html>"})
    assert listing(out) == ["report.html", "summary.csv"]
    assert (out / "summary.csv").read_text() == "a,b\n1,2\n"
    assert listing(tmp_path) == ["report"]  # no temporary folder left
    (out / "notes.txt").write_text("mine")
    big = tmp_path / "samples.npy"
    big.write_bytes(b"\x00" * 1000)
    outputs.write_outputs_atomically(out, {"summary.csv": "new", "samples.npy": big, "report.html": "<html>2</html>"})
    assert (out / "summary.csv").read_text() == "new" and (out / "report.html").read_text() == "<html>2</html>"
    assert (out / "samples.npy").read_bytes() == b"\x00" * 1000 and big.exists()
    assert not (out / "notes.txt").exists()  # the folder is replaced whole: nothing stale stays
    assert listing(tmp_path) == ["report", "samples.npy"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask  # not the 0700 of a temporary folder


def test_interrupted_write_keeps_previous_content(tmp_path, monkeypatch):
    out = tmp_path / "report"
    outputs.write_outputs_atomically(out, {"summary.csv": "old", "report.html": "old page"})
    calls = []
    original = outputs._put

    def failing_put(target, content):
        calls.append(target.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed in the middle of writing
        original(target, content)

    monkeypatch.setattr(outputs, "_put", failing_put)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_outputs_atomically(out, {"summary.csv": "new", "report.html": "new page"})
    assert (out / "summary.csv").read_text() == "old" and (out / "report.html").read_text() == "old page"
    assert listing(tmp_path) == ["report"]
    with pytest.raises(KeyboardInterrupt):  # the same for a folder that did not exist yet
        calls.clear()
        outputs.write_outputs_atomically(tmp_path / "fresh", {"a.txt": "1", "b.txt": "2"})
    assert listing(tmp_path) == ["report"]


def test_atomic_write_rejects_paths_in_names(tmp_path):
    for name in ["../x", "a/b", "", ".."]:
        with pytest.raises(ValueError):
            outputs.write_outputs_atomically(tmp_path / "out", {name: "x"})
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        outputs.write_outputs_atomically(tmp_path / "file", {"a": "x"})


def test_npy_rows_streams_batches_of_any_count(tmp_path):
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((3, 4, 2)), rng.standard_normal((0, 4, 2)), rng.standard_normal((2, 4, 2))]
    rows = outputs.NpyRows(tmp_path / "s.npy", (4, 2))
    for b in blocks:
        rows(b)
    path = rows.close()
    np.testing.assert_array_equal(np.load(path), np.concatenate(blocks).astype(np.float32))
    assert np.load(path, mmap_mode="r").shape == (5, 4, 2)
    empty = outputs.NpyRows(tmp_path / "e.npy", (4, 2))
    assert np.load(empty.close()).shape == (0, 4, 2)
    with pytest.raises(ValueError, match="expected"):
        outputs.NpyRows(tmp_path / "w.npy", (4, 2))(np.zeros((1, 3, 2)))


def test_npy_rows_aligned_by_row_number(tmp_path):
    rows = outputs.NpyRows(tmp_path / "a.npy", (2,))
    rows(np.ones((2, 2)), rows=np.array([1, 3]))
    rows(np.full((1, 2), 2.0), rows=np.array([4]))
    data = np.load(rows.close(n_rows=6))
    assert data.shape == (6, 2)
    assert np.isnan(data[[0, 2, 5]]).all() and (data[[1, 3]] == 1).all() and (data[4] == 2).all()
    with pytest.raises(ValueError, match="comes after"):
        outputs.NpyRows(tmp_path / "b.npy", (2,))(np.ones((2, 2)), rows=np.array([3, 1]))
