"""Forward model of StarsProblem: V1 through the problem, V5 scaling laws, dust, the noise-free y,
and preprocessing of measured fluxes (distance, redshift) into the same y (docs/stars.md)."""

import math

import numpy as np
import pytest
import torch

from invert.apps.stars import StarsProblem
from invert.apps.stars.model import measurement_model
from invert.apps.stars.model.cosmology import MPC_CM, distance_cm, log_area_cm2, luminosity_distance_cm
from invert.apps.stars.model.linelist import HBETA, NAMES

IX = {n: i for i, n in enumerate(NAMES)}
OTHERS = [j for j in range(12) if j != HBETA]
V1_1E4 = np.array(
    [
        7.6076e37,
        1.0288e38,
        1.8021e38,
        1.6062e38,
        4.6425e38,
        2.3868e37,
        4.3357e36,
        1.9963e37,
        5.1019e38,
        5.8847e37,
        4.1145e37,
        3.1471e37,
    ]
)  # NAMES order


@pytest.fixture(scope="module")
def problem():
    return StarsProblem()


@pytest.fixture(scope="module")
def x_prior(problem):
    return problem.sample_prior(2000, torch.Generator().manual_seed(3)).double()


def _x(logm=4.0, logt=6.5, logz=0.0, logu=-2.0, a_v=0.0):
    return torch.tensor([[logm, logt, logz, logu, a_v]], dtype=torch.float64)


def test_v1_line_luminosities(problem):
    got = problem.line_luminosities(_x())[0].numpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, V1_1E4, rtol=1e-4)
    got = problem.line_luminosities(_x(logt=6.3, logz=math.log10(0.2), logu=-3.0))[0]
    np.testing.assert_allclose(
        got[[IX["Halpha"], IX["Hbeta"], IX["OIII5007"], IX["NII6583"]]],
        [6.7874e38, 2.4243e38, 6.8332e38, 2.9106e37],
        rtol=1e-4,
    )


def test_v2_dust_numbers(problem):
    ha, hb = IX["Halpha"], IX["Hbeta"]
    for law, want_ha, want_dec in (("ccm89", 2.4024e38, 3.8954), ("calzetti", 2.3947e38, 3.7807)):
        lum = StarsProblem(dust_law=law).line_luminosities(_x(a_v=1.0))[0]
        assert float(lum[ha]) == pytest.approx(want_ha, rel=1e-4)
        assert float(lum[ha] / lum[hb]) == pytest.approx(want_dec, rel=1e-4)


def test_v5_luminosity_scales_exactly_with_mass(problem, x_prior):
    log_l = problem.log_line_luminosities(x_prior)
    shifted = x_prior.clone()
    shifted[:, 0] += 1.7
    torch.testing.assert_close(
        problem.log_line_luminosities(shifted) - log_l, torch.full_like(log_l, 1.7), atol=1e-12, rtol=0
    )
    y, y_shifted = problem.forward(x_prior.float()), problem.forward(shifted.float())
    torch.testing.assert_close(y_shifted[:, 1:], y[:, 1:])  # ratios, errors and flags independent of logM
    torch.testing.assert_close(y_shifted[:, 0] - y[:, 0], torch.full_like(y[:, 0], 1.7), atol=1e-5, rtol=0)


def test_v5_dust_slope_is_minus_04_a_j_dex_per_mag(problem, x_prior):
    x1 = x_prior.clone()
    x1[:, 4] += 1.0
    slope = (problem.log_line_luminosities(x1) - problem.log_line_luminosities(x_prior)).numpy()
    np.testing.assert_allclose(slope, np.broadcast_to(-0.4 * problem.a_j, slope.shape), atol=1e-12)
    no_dust = problem.log_line_luminosities(x_prior, attenuated=False)
    x0 = x_prior.clone()
    x0[:, 4] = 0.0
    torch.testing.assert_close(no_dust, problem.log_line_luminosities(x0))


def test_v5_hbeta_per_mass_and_line_ratios_at_listed_nodes(problem):
    hb = [math.log10(problem.line_luminosities(_x(logm=0.0, logt=t))[0, HBETA]) for t in (6.0, 6.5, 7.0, 7.4)]
    np.testing.assert_allclose(hb, [34.424, 34.256, 31.905, 29.876], atol=1e-3)
    xs = torch.cat([_x(logu=u) for u in (-4.0, -3.0, -2.0, -1.0)])
    log_l = problem.log_line_luminosities(xs).numpy()
    np.testing.assert_allclose(log_l[:, IX["OIII5007"]] - log_l[:, HBETA], [-1.099, 0.201, 0.411, 0.460], atol=1e-3)
    np.testing.assert_allclose(
        log_l[:, IX["NII6583"]] - log_l[:, IX["Halpha"]], [-0.200, -0.419, -0.938, -1.287], atol=1e-3
    )
    # the double-valued [OIII]/Hbeta branch over Z at 3.16 Myr, logU -2 (section 1)
    xs = torch.cat([_x(logz=math.log10(z)) for z in (0.005, 0.02, 0.2, 0.4, 1.0)])
    log_l = problem.log_line_luminosities(xs).numpy()
    np.testing.assert_allclose(
        log_l[:, IX["OIII5007"]] - log_l[:, HBETA], [-0.533, 0.043, 0.676, 0.686, 0.411], atol=1e-3
    )


def test_forward_is_the_noise_free_encoding(problem):
    y = problem.forward(_x().float())[0].numpy()
    assert y.shape == (35,) and y.dtype == np.float32
    log_l = np.log10(V1_1E4)
    assert y[0] == pytest.approx(log_l[HBETA], abs=1e-4)
    np.testing.assert_allclose(y[1:12], log_l[OTHERS] - log_l[HBETA], atol=1e-4)
    np.testing.assert_allclose(y[12:24], math.log10(measurement_model.NOMINAL_R), atol=1e-6)
    np.testing.assert_array_equal(y[24:], 1.0)


def test_ratios_only_mode(x_prior):
    ratios, absolute = StarsProblem(ratios_only=True), StarsProblem()
    assert ratios.x_names == ("logt", "logZ", "logU", "A_V") and len(ratios.y_names) == 34
    assert "log_L_Hbeta" not in ratios.y_names and ratios.version != absolute.version
    y_r, y_a = ratios.forward(x_prior[:, 1:].float()), absolute.forward(x_prior.float())
    torch.testing.assert_close(y_r, y_a[:, 1:])
    with pytest.raises(ValueError, match="shape"):
        ratios.forward(x_prior.float())


def test_preprocess_luminosities_matches_forward(problem, x_prior):
    lum = problem.line_luminosities(x_prior[:50]).numpy()
    y = problem.preprocess(np.hstack([lum, 0.05 * lum]))
    np.testing.assert_allclose(y, problem.forward(x_prior[:50].float()).numpy(), atol=2e-5)


def test_preprocess_fluxes_with_distance_and_redshift(problem):
    lum = V1_1E4[None, :]
    d = 10.0 * MPC_CM
    flux = lum / (4 * np.pi * d**2)
    y = problem.preprocess_lines(flux, 0.05 * flux, distance_cm=d)
    np.testing.assert_allclose(y, problem.forward(_x().float()).numpy(), atol=2e-5)
    assert distance_cm(distance_mpc=10.0) == d
    # D_L(z) from FlatLambdaCDM(H0 = 70, Om0 = 0.3): z = 0.1 -> 460.0 Mpc
    assert luminosity_distance_cm(0.1) / MPC_CM == pytest.approx(460.0, rel=1e-3)
    assert distance_cm(redshift=0.1) == pytest.approx(float(luminosity_distance_cm(0.1)))
    assert log_area_cm2(d) == pytest.approx(math.log10(4 * math.pi * d * d))
    for bad in (dict(distance_mpc=-1.0), dict(redshift=0.0), dict()):
        with pytest.raises(ValueError):
            distance_cm(**bad)


def test_preprocess_censoring_masking_and_no_hbeta(problem):
    lum = np.tile(V1_1E4, (5, 1))
    err = 0.05 * lum
    lum[0, IX["OI6300"]] = -1e35  # negative catalogue flux -> upper limit at 3 sigma
    err[1, IX["NII6548"]] = np.nan  # NaN error -> unobserved
    observed = np.ones_like(lum, dtype=bool)
    observed[2, IX["SII6716"]] = False  # outside coverage
    lum[3, HBETA] = 2 * err[3, HBETA]  # Hbeta at S/N 2 -> no posterior
    observed[4, HBETA] = False  # no Hbeta coverage -> no posterior
    y = problem.preprocess_lines(lum, err, observed)
    names = list(problem.y_names)
    oi = names.index("log_OI6300/Hbeta")
    assert y[0, oi] == pytest.approx(math.log10(3 * err[0, IX["OI6300"]] / lum[0, HBETA]), abs=1e-5)
    assert y[0, names.index("log_r_OI6300")] == pytest.approx(-math.log10(3), abs=1e-6)
    assert y[0, names.index("det_OI6300")] == 0.0
    for row, line in ((1, "NII6548"), (2, "SII6716")):
        fill = measurement_model.MISSING_FILL[OTHERS.index(IX[line])]
        assert y[row, names.index(f"log_{line}/Hbeta")] == np.float32(fill)
        assert y[row, names.index(f"log_r_{line}")] == measurement_model.MISSING_LOG_R
        assert y[row, names.index(f"det_{line}")] == 0.0
    assert np.isfinite(y[:3]).all() and np.isnan(y[3:]).all()
    with pytest.raises(ValueError, match="shape"):
        problem.preprocess(lum)
