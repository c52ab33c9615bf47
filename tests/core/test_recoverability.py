"""recoverability: contraction and accuracy per parameter, exact on a Gaussian, verdicts on a fitted posterior."""

import numpy as np
import pytest

import invert.core as ic
from invert.core.recoverability import recoverability_table, stored_table, verdict


def test_contraction_of_the_exact_gaussian_posterior():
    """x ~ N(0, 1), y = x + N(0, s^2): the posterior variance is s^2 / (1 + s^2), so contraction = 1 / (1 + s^2)."""
    rng = np.random.default_rng(0)
    noise = np.array([0.1, 1.0, 10.0])
    x = rng.standard_normal((4000, 3))
    y = x + noise * rng.standard_normal((4000, 3))
    post_var = noise**2 / (1 + noise**2)
    samples = y[:, None, :] / (1 + noise**2) + np.sqrt(post_var) * rng.standard_normal((4000, 200, 3))
    table = recoverability_table(samples, x, ["sharp", "half", "prior"])
    np.testing.assert_allclose(table["contraction"], 1 / (1 + noise**2), atol=0.03)
    np.testing.assert_allclose(table["corr"], 1 / np.sqrt(1 + noise**2), atol=0.03)  # corr(E[x|y], x)
    assert table["verdict"].tolist() == ["recoverable", "partly", "not recoverable"]


def test_verdict_thresholds():
    assert verdict(0.9, 0.95) == "recoverable"
    assert verdict(0.9, 0.5) == "partly"
    assert verdict(0.05, 0.9) == "not recoverable"
    assert verdict(0.6, float("nan")) == "not recoverable"


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="expected"):
        recoverability_table(np.zeros((5, 10, 2)), np.zeros((5, 3)))


def test_fitted_posterior_tells_the_ignored_from_the_measured_parameter():
    """y measures x1 with little noise, ignores x0: x0 'not recoverable', x1 'recoverable', stored at training."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (6000, 2))
    y = np.stack([x[:, 1], x[:, 1] ** 2], 1) + 0.01 * rng.standard_normal((6000, 2))
    post = ic.fit(
        x,
        y,
        method="cinn",
        x_bounds=[(0, 1), (0, 1)],
        max_epochs=15,
        progress=False,
        seed=0,
        net=ic.NetConfig(n_blocks=4, hidden=32),
        metadata={"x_names": ["ignored", "measured"]},
    )
    x_test = rng.uniform(0, 1, (500, 2))
    y_test = np.stack([x_test[:, 1], x_test[:, 1] ** 2], 1) + 0.01 * rng.standard_normal((500, 2))
    table = ic.recoverability(post, x_test, y_test, n_samples=256)
    assert table.loc["ignored", "verdict"] == "not recoverable"
    assert table.loc["measured", "verdict"] == "recoverable"
    stored, n_obs = stored_table(post.metadata)
    assert stored["verdict"].tolist() == ["not recoverable", "recoverable"] and n_obs == 600
