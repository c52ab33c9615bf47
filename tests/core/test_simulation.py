"""invert.core.simulation: chunked simulation, streamed simulation files, and their checks."""

import numpy as np
import pytest

import invert.core as ic
from invert.core.toys import GaussianMixture8


def test_file_streamed_in_chunks_holds_the_pairs_of_simulate_dataset(tmp_path):
    problem = GaussianMixture8()
    path = tmp_path / "sims.npz"
    ic.simulate_to_file(path, problem, 1000, seed=4, chunk=300, note="x")
    x, y, meta = ic.load_simulations(path, problem)
    x_ref, y_ref = ic.simulate_dataset(problem, 1000, seed=4, chunk=300)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert x.dtype == y.dtype == np.float32
    assert meta["seed"] == 4 and meta["n"] == 1000 and meta["chunk"] == 300 and meta["note"] == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["sims.npz"]  # no temporary files left
    ic.save_simulations(tmp_path / "same.npz", x, y, problem, seed=4, n=1000, chunk=300, note="x")
    again = ic.load_simulations(tmp_path / "same.npz", problem)
    np.testing.assert_array_equal(again[0], x)
    assert again[2] == meta


def test_no_simulations():
    problem = GaussianMixture8()
    x, y = ic.simulate_dataset(problem, 0)
    assert x.shape == (0, 2) and y.shape == (0, len(problem.y_names))


def test_simulation_file_checks(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ic.SimulationFileError, match="not a simulation file"):
        ic.load_simulations(tmp_path / "bad.npz")


def test_damaged_or_inconsistent_simulation_files_are_one_line_errors(tmp_path):
    import json

    from invert.core.simulation import SimulationFileError, load_simulations

    mismatch = tmp_path / "mismatch.npz"
    np.savez(mismatch, x=np.zeros((100, 2), "f4"), y=np.zeros((300, 3), "f4"), meta=json.dumps({"simulator": "s"}))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(mismatch.read_bytes()[:500])
    integers = tmp_path / "integers.npz"
    np.savez(integers, x=np.zeros((3, 2), "i8"), y=np.zeros((3, 3), "f4"), meta=json.dumps({"simulator": "s"}))
    for path, phrase in ((mismatch, "as many rows"), (truncated, "not a simulation file"), (integers, "float")):
        with pytest.raises(SimulationFileError, match=phrase) as info:
            load_simulations(path)
        assert "\n" not in str(info.value)


def test_a_file_larger_than_the_free_disk_is_refused_before_simulating(tmp_path):
    from invert.core.resources import ResourceError

    with pytest.raises(ResourceError, match=r"10,000,000,000,000 simulations needs about .* GiB of disk"):
        ic.simulate_to_file(tmp_path / "big.npz", GaussianMixture8(), 10**13)
    assert list(tmp_path.iterdir()) == []
