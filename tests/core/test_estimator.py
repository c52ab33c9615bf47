"""fit / sample / log_prob / save / load on the paper's 8-mode toy and on bad inputs."""

import math

import numpy as np
import pytest
import torch

import invert.core as ic
from invert.apps.demo import mode_shares
from invert.core.toys import MODES


def _check_modes(post, problem):
    """Paper toy criterion: >= 90 % of samples within 3 sigma of a mode of the label, shares within 0.1."""
    for label in range(problem.n_labels):
        shares = mode_shares(post.sample(problem.observation(label), 4000, seed=label), problem.sigma)
        modes = problem.modes_of(label).tolist()
        assert shares[modes].sum() >= 0.9, (label, shares)
        for k in modes:
            assert abs(shares[k] - 1 / len(modes)) <= 0.1, (label, k, shares)


def test_cinn_finds_all_modes(gmm8_cinn, gmm8):
    _check_modes(gmm8_cinn, gmm8)


def test_sample_shapes_and_seeds(gmm8_cinn, gmm8):
    y = np.stack([gmm8.observation(k) for k in range(3)])
    assert gmm8_cinn.sample(y, 5).shape == (3, 5, 2)
    assert gmm8_cinn.sample(y[0], 7).shape == (7, 2)
    np.testing.assert_array_equal(gmm8_cinn.sample(y, 50, seed=3), gmm8_cinn.sample(y, 50, seed=3))
    assert not np.array_equal(gmm8_cinn.sample(y, 50, seed=3), gmm8_cinn.sample(y, 50, seed=4))
    # chunking over observations does not change the draws' distribution or shapes
    assert gmm8_cinn.sample(y, 50, seed=3, chunk_rows=60).shape == (3, 50, 2)


def test_log_prob_is_normalized(gmm8_cinn, gmm8):
    """The cINN density integrates to ~1 over the plane and peaks at the label's modes."""
    grid = torch.linspace(-4, 4, 161)
    xx, yy = torch.meshgrid(grid, grid, indexing="xy")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1).numpy()
    obs = gmm8.observation(2)
    dens = np.exp(gmm8_cinn.log_prob(pts, obs))
    cell = float(grid[1] - grid[0]) ** 2
    assert abs(dens.sum() * cell - 1) < 0.05
    k = gmm8.modes_of(2).item()
    assert np.linalg.norm(pts[dens.argmax()] - MODES[k].numpy()) < 0.3


def test_save_load_round_trip(gmm8_cinn, gmm8, tmp_path):
    path = tmp_path / "gmm8.invert"
    gmm8_cinn.save(path)
    again = ic.load(path)
    y = gmm8.observation(0)
    np.testing.assert_array_equal(gmm8_cinn.sample(y, 100, seed=5), again.sample(y, 100, seed=5))
    assert again.metadata["method"] == "cinn"


def test_tampered_bundle_is_refused(gmm8_cinn, tmp_path):
    path = tmp_path / "m.invert"
    gmm8_cinn.save(path)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF  # flip bits inside the weights
    bad = tmp_path / "bad.invert"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ic.BundleError, match="checksum"):
        ic.load(bad)
    junk = tmp_path / "junk.invert"
    junk.write_bytes(b"not a model")
    with pytest.raises(ic.BundleError, match="not a readable"):
        ic.load(junk)
    with pytest.raises(ic.BundleError, match="not found"):
        ic.load(tmp_path / "missing.invert")


def test_bounds_are_respected():
    """A bounded Gaussian-linear problem: no sample leaves [0, 1] x [0, inf)."""
    gen = np.random.default_rng(0)
    x = np.stack([gen.uniform(0, 1, 3000), gen.exponential(1.0, 3000)], 1)
    y = x + 0.3 * gen.normal(size=x.shape)
    post = ic.fit(x, y, x_bounds=[(0, 1), (0, math.inf)], max_epochs=3, progress=False)
    s = post.sample(np.array([[1.2, -0.5], [-0.3, 3.0]]), 2000)
    assert s[..., 0].min() >= 0 and s[..., 0].max() <= 1 and s[..., 1].min() >= 0


def test_bad_training_data():
    x = np.random.default_rng(0).normal(size=(200, 2))
    y = x.copy()
    with pytest.raises(ValueError, match="rows"):
        ic.fit(x, y[:100])
    with pytest.raises(ValueError, match="constant"):
        ic.fit(x, np.c_[y, np.ones(200)])
    with pytest.raises(ValueError, match="method"):
        ic.fit(x, y, method="vae")
    with pytest.raises(ValueError, match="outside x_bounds"):
        ic.fit(x, y, x_bounds=[(0, 1), (-5, 5)])
    y_nan = y.copy()
    y_nan[:5, 0] = np.nan
    with pytest.warns(UserWarning, match="dropped 5 of 200"):
        post = ic.fit(x, y_nan, max_epochs=1, progress=False)
    assert post.metadata["n_train"] + post.metadata["n_val"] == 195
