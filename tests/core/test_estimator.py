"""fit / sample / log_prob / save / load on the paper's 8-mode toy and on bad inputs."""

import math

import numpy as np
import pytest
import torch

import invert.core as ic
from invert.core.diagnostics import calibration_error
from invert.core.toys import INN_TOY_NET, INN_TOY_TRAIN, MODES, mode_shares


def _check_modes(post, problem, in_modes: float = 0.9):
    """Paper toy criterion: >= 90 % of samples within 3 sigma of a mode of the label, shares within 0.1."""
    for label in range(problem.n_labels):
        shares = mode_shares(post.sample(problem.observation(label), 4000, seed=label), problem.sigma)
        modes = problem.modes_of(label).tolist()
        assert shares[modes].sum() >= in_modes, (label, shares)
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
    # a row's draws depend only on the seed and its index, not on batching, chunking or the other rows
    whole = gmm8_cinn.sample(y, 50, seed=3)
    np.testing.assert_allclose(gmm8_cinn.sample(y, 50, seed=3, chunk_rows=60), whole, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gmm8_cinn.sample(y[1:], 50, seed=3, rows=[1, 2]), whole[1:], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gmm8_cinn.sample(y[2], 50, seed=3, rows=[2]), whole[2], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        gmm8_cinn.sample(y[[2, 0]], 50, seed=3, rows=[2, 0]), whole[[2, 0]], rtol=1e-6, atol=1e-6
    )


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


def test_sample_and_log_prob_agree_with_sample_and_log_prob(gmm8_cinn, gmm8):
    """The densities of the sampling pass equal log_prob of the same draws (float32 round trip)."""
    y = np.stack([gmm8.observation(k) for k in range(3)])
    x, log_q = gmm8_cinn.sample_and_log_prob(y, 200, seed=5)
    np.testing.assert_array_equal(x, gmm8_cinn.sample(y, 200, seed=5))
    again = gmm8_cinn.log_prob(x.reshape(-1, 2), np.repeat(y, 200, axis=0)).reshape(3, 200)
    np.testing.assert_allclose(log_q, again, atol=2e-3)


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


def test_float32_rounding_at_a_bound_is_not_outside():
    """float32(pi / 2) exceeds pi / 2 in float64: such simulations train (set onto the bound); 1e-4 beyond is
    refused."""
    a = (np.random.default_rng(0).uniform(-0.5, 0.5, (200, 1)) * np.pi).astype(np.float32)
    a[:2, 0] = np.float32(-np.pi / 2), np.float32(np.pi / 2)
    assert float(a[1, 0]) > np.pi / 2 and float(a[0, 0]) < -np.pi / 2
    y = np.c_[np.sin(a), np.cos(a)]
    post = ic.fit(a, y, x_bounds=[(-np.pi / 2, np.pi / 2)], max_epochs=1, progress=False)
    assert np.all(np.abs(post.sample(y[:2], 100)) <= np.pi / 2)
    with pytest.raises(ValueError, match="outside x_bounds"):
        ic.fit(a.astype(np.float64) + np.r_[0.0, 1e-4, np.zeros(198)][:, None], y, x_bounds=[(-np.pi / 2, np.pi / 2)])


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
    with pytest.raises(ValueError, match="x_names"):
        ic.fit(x, y, metadata={"x_names": ["a", "b", "c"]})
    y_nan = y.copy()
    y_nan[:5, 0] = np.nan
    with pytest.warns(UserWarning, match="dropped 5 of 200"):
        post = ic.fit(x, y_nan, max_epochs=1, progress=False)
    assert post.metadata["n_train"] + post.metadata["n_val"] == 195


def test_ood_flag_and_validation_metrics_survive_save(gmm8_cinn, gmm8, tmp_path):
    y_in = np.stack([gmm8.observation(k) for k in range(gmm8.n_labels)])
    y_out = np.full((1, gmm8.n_labels), 5.0, dtype=np.float32)  # no label looks like this
    assert not gmm8_cinn.is_ood(y_in).any() and gmm8_cinn.is_ood(y_out).all()
    val = gmm8_cinn.metadata["validation"]
    assert len(val["calibration_error"]) == 2 and max(val["calibration_error"]) < 0.15
    gmm8_cinn.save(tmp_path / "m.invert")
    again = ic.load(tmp_path / "m.invert")
    np.testing.assert_array_equal(again.ood_score(y_out), gmm8_cinn.ood_score(y_out))
    assert again.metadata["validation"] == val


@pytest.fixture(scope="module")
def gmm8_inn(gmm8_data):
    """The paper's INN on the toy: a small network, lr 1e-2, batch 400 (as the paper's toy code), 20k simulations."""
    x, y = gmm8_data
    return ic.fit(x, y, method="inn", net=INN_TOY_NET, train=INN_TOY_TRAIN, progress=False, seed=0)


def test_inn_finds_all_modes(gmm8_inn, gmm8):
    """The INN puts 0.896-0.966 of its samples within 3 sigma of the label's modes (least over the labels,
    training seeds 0-3, measured 2026-12-02): the paper's 90 % is met on half the seeds, so 0.85 here."""
    _check_modes(gmm8_inn, gmm8, in_modes=0.85)


def test_inn_is_calibrated(gmm8_inn, gmm8):
    """Within its modes too: measured calibration error 0.015-0.03 (0.19-0.22 when sampling ignored the y noise)."""
    x_test, y_test = ic.simulate_dataset(gmm8, 1000, seed=20_000)
    assert calibration_error(gmm8_inn.sample(y_test, 500, seed=0), x_test).max() < 0.06


def test_inn_records_its_loss_terms_and_round_trips(gmm8_inn, gmm8, tmp_path):
    """The INN records its loss terms, samples finite values, has no density and round-trips through save/load."""
    assert isinstance(gmm8_inn, ic.PosteriorLike) and not gmm8_inn.has_density
    with pytest.raises(NotImplementedError, match="cINN"):
        gmm8_inn.log_prob(np.zeros((1, 2)), gmm8.observation(2))
    metrics = gmm8_inn.metadata["val_metrics"]
    assert {"val_L_y", "val_L_z", "val_L_x", "val_L_rec", "val_L_ml"} <= metrics.keys()
    assert all(np.isfinite(v) for v in metrics.values())
    s = gmm8_inn.sample(gmm8.observation(2), 500, seed=1)
    assert s.shape == (500, 2) and np.isfinite(s).all()
    gmm8_inn.save(tmp_path / "inn.invert")
    np.testing.assert_array_equal(ic.load(tmp_path / "inn.invert").sample(gmm8.observation(2), 500, seed=1), s)


@pytest.mark.parametrize(
    "training, terms",
    [("bidirectional", {"L_y", "L_z", "L_x", "L_rec", "L_ml"}), ("forward", {"L_y", "L_z"}), ("inverse", {"L_x"})],
)
def test_inn_training_strategies_record_their_loss_terms(training, terms, gmm8_data, tmp_path):
    """The paper's ablation: each strategy trains (tiny budget) on exactly its loss terms, stored in the bundle."""
    x, y = gmm8_data
    post = ic.fit(x[:2000], y[:2000], method="inn", training=training, max_epochs=2, net=INN_TOY_NET, progress=False)
    recorded = {k.removeprefix("val_") for k in post.metadata["val_metrics"] if k.startswith("val_L_")}
    assert recorded == terms
    assert np.isfinite(post.sample(y[0], 100)).all()
    post.save(tmp_path / "m.invert")
    assert ic.load(tmp_path / "m.invert").metadata["training"] == training


def test_training_strategy_is_checked(gmm8_data):
    x, y = gmm8_data
    for method, training in [("inn", "sideways"), ("cinn", "forward")]:
        with pytest.raises(ValueError, match="training must be one of"):
            ic.fit(x[:500], y[:500], method=method, training=training, progress=False)


def test_fit_keeps_its_training_history_in_log_dir(gmm8_data, tmp_path):
    """fit(log_dir=...) writes metrics.csv, one row per epoch with finite training and validation losses (and each
    INN loss term); the last row is what the bundle stores; a second fit there replaces the history."""
    import pandas as pd

    x, y = gmm8_data
    logs = tmp_path / "logs"
    post = ic.fit(x[:400], y[:400], method="inn", max_epochs=2, net=INN_TOY_NET, progress=False, log_dir=logs)
    history = pd.read_csv(logs / "metrics.csv")
    assert list(history["epoch"]) == [0, 1]
    losses = ["train_loss", "val_loss"] + [f"{s}_L_{t}" for s in ("train", "val") for t in ("y", "z", "x", "rec", "ml")]
    assert set(losses) <= set(history.columns)
    assert np.isfinite(history[losses].to_numpy()).all()
    assert history["val_loss"].iloc[-1] == pytest.approx(post.metadata["val_metrics"]["val_loss"])
    assert (logs / "hparams.yaml").read_text().count("method: inn") == 1

    ic.fit(x[:400], y[:400], max_epochs=3, progress=False, log_dir=logs)
    history = pd.read_csv(logs / "metrics.csv")
    assert list(history["epoch"]) == [0, 1, 2] and not any(c.startswith("train_L_") for c in history.columns)
    assert np.isfinite(history[["train_loss", "val_loss"]].to_numpy()).all()


def test_epoch_csv_logger_merges_an_epoch_into_one_row(tmp_path):
    """Lightning logs validation, then training metrics at an epoch's end: one row each epoch, the file up to date
    after every save (its last row rewritten in place; all of it when a column appears)."""
    import pandas as pd

    from invert.core.training import EpochCSVLogger

    logger = EpochCSVLogger(tmp_path)
    for epoch, extra in [(0, {}), (1, {"val_L_x": 3.0}), (2, {})]:
        logger.log_metrics({"val_loss": 1.0 + epoch, "epoch": epoch, **extra}, step=10 * epoch + 9)
        logger.save()
        logger.log_metrics({"train_loss": 2.0 + epoch, "epoch": epoch}, step=10 * epoch + 9)
        logger.save()
        history = pd.read_csv(tmp_path / "metrics.csv")
        assert list(history["epoch"]) == list(range(epoch + 1))
    assert list(history.columns) == ["epoch", "step", "train_loss", "val_loss", "val_L_x"]
    assert list(history["train_loss"]) == [2.0, 3.0, 4.0] and list(history["step"]) == [9, 19, 29]
    assert history["val_L_x"].isna().tolist() == [True, False, True]
