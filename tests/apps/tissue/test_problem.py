"""TissueProblem: protocol, prior, camera bands, noise, preprocessing (V4 y) and physics sanity (V7)."""

import math

import numpy as np
import pytest
import torch

from invert.apps.tissue import TissueProblem
from invert.apps.tissue.camera import add_noise, features, load_camera, preprocess_reflectance
from invert.core import Problem, simulate_dataset

T1_AD = [0.19127, 0.20746, 0.19853, 0.12776, 0.10900, 0.29723, 0.45037, 0.46379]
T1_Y = [0.37102, 0.35830, 0.36519, 0.43421, 0.45907, 0.30200, 0.23694, 0.23234]
T1_X = [0.7, 0.02, 18.9, 0.90, 0.5, 0.05, 15.0, 0.85, 0.6, 0.10, 25.0, 0.80, 0.8]


@pytest.fixture(scope="module")
def problem():
    return TissueProblem()


@pytest.fixture(scope="module")
def prior_x(problem):
    return problem.sample_prior(20_000, torch.Generator().manual_seed(0))


def test_implements_problem_protocol(problem):
    assert isinstance(problem, Problem)
    assert problem.name == "tissue"
    assert list(problem.x_names) == [
        "sO2",
        "vhb1",
        "amie1",
        "g1",
        "d1",
        "vhb2",
        "amie2",
        "g2",
        "d2",
        "vhb3",
        "amie3",
        "g3",
        "d3",
    ]
    assert len(problem.x_units) == len(problem.x_bounds) == 13
    assert problem.x_units[2] == "cm^-1" and problem.x_units[4] == "mm"
    assert list(problem.y_names) == ["R470", "R480", "R511", "R560", "R580", "R600", "R660", "R700"]


def test_version_records_solver_camera_noise_and_preprocessing(problem):
    v = problem.version
    for part in ("ad16", "box10nm", "470,480,511,560,580,600,660,700", "snr10", "lognorm"):
        assert part in v
    assert TissueProblem(snr=20).version != v
    assert TissueProblem(quad_pts=32).version != v


def test_camera_file_and_band_quadrature():
    cam = load_camera()
    assert cam.band_centers_nm == (470, 480, 511, 560, 580, 600, 660, 700)
    assert {b.fwhm_nm for b in cam.bands} == {10} and cam.snr == (10.0,) * 8
    wl, m = cam.solver_wavelengths(), cam.band_matrix()
    assert wl.shape == (87,) and list(wl[:11]) == list(range(465, 476))  # 475 nm is in two bands
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(m[0, :11], np.r_[0.05, [0.1] * 9, 0.05])
    # the trapezoid box average of a straight line is its value at the band centre
    np.testing.assert_allclose(m @ (2.0 + 0.01 * wl), 2.0 + 0.01 * np.array(cam.band_centers_nm))


def test_prior_support_and_truncated_normal(problem, prior_x):
    assert prior_x.dtype == torch.float32 and prior_x.shape == (20_000, 13)
    lo = torch.tensor([b[0] for b in problem.x_bounds])
    hi = torch.tensor([b[1] for b in problem.x_bounds])
    assert torch.all(prior_x >= lo) and torch.all(prior_x <= hi)
    amie = prior_x[:, [2, 6, 10]].double()
    assert (amie <= 0.1 + 1e-6).float().mean() < 1e-3  # truncation, no point mass at the clip value
    alpha, beta = (0.1 - 18.9) / 10.2, (60 - 18.9) / 10.2
    pdf = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))  # noqa: E731
    mean = 18.9 + 10.2 * (pdf(alpha) - pdf(beta)) / (cdf(beta) - cdf(alpha))
    assert amie.mean().item() == pytest.approx(mean, abs=0.15)
    assert prior_x[:, 0].mean().item() == pytest.approx(0.5, abs=0.01)
    d1 = prior_x[:, 4]
    assert d1.min() >= 0.600 and d1.max() <= 1.010


def test_prior_is_reproducible(problem):
    a = problem.sample_prior(5, torch.Generator().manual_seed(3))
    b = problem.sample_prior(5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_v4_preprocessed_y_of_ad_row():
    y = features(torch.tensor([T1_AD], dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(y, T1_Y, atol=1e-3)


def test_v4_forward_of_t1_is_close_to_spec_y(problem):
    """Band-averaged y of test case T1 stays near the monochromatic spec y (10 nm boxes change it little)."""
    y = problem.forward(torch.tensor([T1_X]))[0].numpy()
    np.testing.assert_allclose(y, T1_Y, atol=1e-2)
    assert np.linalg.norm(y) == pytest.approx(1.0, abs=1e-6)


def test_preprocess_is_scale_free_and_matches_simulation_path(problem):
    r = problem.reflectance(torch.tensor([T1_X]))
    y_sim = preprocess_reflectance(r).numpy()
    raw = r.numpy()
    np.testing.assert_allclose(problem.preprocess(raw), y_sim, atol=1e-6)
    np.testing.assert_allclose(problem.preprocess(raw * 4095.0), y_sim, atol=1e-6)
    assert problem.preprocess(raw).dtype == np.float32


def test_preprocess_flags_unusable_rows(problem):
    raw = np.array([[1.0] * 8, [1.0, 2, 3, 4, 5, 6, 7, 0.0], [np.nan] + [1.0] * 7, [2.0] * 7 + [np.inf]])
    y = problem.preprocess(raw)
    np.testing.assert_allclose(y[0], np.full(8, 1 / math.sqrt(8)), atol=1e-6)  # flat spectrum is valid
    assert np.isnan(y[1:]).all()
    with pytest.raises(ValueError):
        problem.preprocess(np.ones((2, 7)))


def test_noise_is_multiplicative_with_given_snr():
    r = torch.full((200_000,), 0.2, dtype=torch.float64)
    noisy = add_noise(r, 10.0, torch.Generator().manual_seed(0))
    rel = noisy / r - 1
    assert rel.mean().item() == pytest.approx(0.0, abs=1e-3)
    assert rel.std().item() == pytest.approx(0.1, rel=1e-2)


def test_simulate_and_forward(problem):
    x = problem.sample_prior(3, torch.Generator().manual_seed(1))
    y1 = problem.simulate(x, torch.Generator().manual_seed(2))
    y2 = problem.simulate(x, torch.Generator().manual_seed(2))
    y0 = problem.forward(x)
    assert y1.dtype == y0.dtype == torch.float32 and y1.shape == (3, 8)
    torch.testing.assert_close(y1, y2)
    assert not torch.allclose(y1, y0)
    torch.testing.assert_close(torch.linalg.vector_norm(y1, dim=1), torch.ones(3))
    assert (y1 - y0).abs().max() < 0.2  # SNR-10 noise perturbs, does not scramble


def test_simulate_dataset_in_chunks():
    """Several solver chunks per call and the engine's dataset helper give finite float32 pairs."""
    p = TissueProblem(chunk_elements=500)
    x, y = simulate_dataset(p, 16, seed=0, chunk=8)
    assert x.shape == (16, 13) and y.shape == (16, 8)
    assert x.dtype == y.dtype == np.float32 and np.isfinite(y).all()


def _vary(x, column, values):
    """Copies of the rows of x with one column set to each of `values`: shape (len(values) * n, 13)."""
    rows = []
    for v in values:
        xv = x.clone()
        xv[:, column] = v
        rows.append(xv)
    return torch.cat(rows)


def test_v7_physics_sanity(problem):
    x = problem.sample_prior(3, torch.Generator().manual_seed(5)).double()
    n = len(x)
    checks = {1: (0.01, 0.05, 0.09), 5: (0.01, 0.05, 0.09), 9: (0.01, 0.05, 0.09), 2: (5.0, 20.0, 40.0), 0: (0.1, 0.9)}
    batch = torch.cat([_vary(x, col, vals) for col, vals in checks.items()])
    r = problem.reflectance(batch)
    assert torch.all((r > 0) & (r < 1))
    start = 0
    curves = {}
    for col, vals in checks.items():
        curves[col] = r[start : start + n * len(vals)].reshape(len(vals), n, 8)
        start += n * len(vals)
    for col in (1, 5, 9):  # Rd never increases with blood volume of any layer
        steps = curves[col][1:] - curves[col][:-1]
        assert torch.all(steps <= 1e-12 * curves[col][:-1]), col
    assert torch.all(curves[1][1:] < curves[1][:-1])  # top-layer blood is always visible
    assert torch.all(curves[2][1:] > curves[2][:-1])  # more top-layer scattering, more Rd
    d_so2 = curves[0][1] - curves[0][0]
    bands = list(problem.y_names)
    for b in ("R560", "R600"):
        assert torch.all(d_so2[:, bands.index(b)] > 0), b
    for b in ("R470", "R480"):
        assert torch.all(d_so2[:, bands.index(b)] < 0), b
