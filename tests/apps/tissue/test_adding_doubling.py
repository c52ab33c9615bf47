"""Adding-doubling solver against published values, iadpython and an independent photon Monte Carlo (docs/tissue.md)."""

import numpy as np
import pytest
import torch

from invert.apps.tissue import optics
from invert.apps.tissue.adding_doubling import AddingDoubling, quadrature

from . import iad_reference
from .mc import diffuse_reflectance as mc_reflectance

N = 1.36
R_SPEC = ((N - 1) / (N + 1)) ** 2  # 0.023269, specular reflection at normal incidence
BANDS = [470, 480, 511, 560, 580, 600, 660, 700]
# V4 test case T1, layers top first: (vhb, amie 1/cm, g, d mm)
T1 = [(0.02, 18.9, 0.90, 0.5), (0.05, 15.0, 0.85, 0.6), (0.10, 25.0, 0.80, 0.8)]
T1_AD = [0.19127, 0.20746, 0.19853, 0.12776, 0.10900, 0.29723, 0.45037, 0.46379]
T1_MC = [0.19156, 0.20781, 0.19869, 0.12764, 0.10911, 0.29616, 0.44856, 0.46195]


def layer_properties(layers, wavelength, so2=0.7):
    """mu_a, mu_s (1/cm), g, d (cm) lists for layers (vhb, amie, g, d_mm), top first."""
    eps_o, eps_d = (float(e[0]) for e in optics.extinction(np.array([wavelength])))
    mu_a = [
        float(optics.mu_a(torch.tensor(so2), torch.tensor(v), torch.tensor(eps_o), torch.tensor(eps_d)))
        for v, _, _, _ in layers
    ]
    mu_s = [
        float(optics.mu_s_reduced(torch.tensor(a), torch.tensor(float(wavelength)))) / (1 - g) for _, a, g, _ in layers
    ]
    return mu_a, mu_s, [g for _, _, g, _ in layers], [d / 10 for _, _, _, d in layers]


def solve(cases, quad_pts=16):
    """Rd from the torch solver for a list of (mu_a, mu_s, g, d) layer lists."""
    cols = [torch.tensor([c[j] for c in cases], dtype=torch.float64) for j in range(4)]
    return AddingDoubling(N, N, quad_pts).reflectance(*cols).numpy()


def homogeneous(vhb, wavelength=560, so2=0.7):
    """V3: 2 mm slab of three identical layers (g 0.9, amie 18.9)."""
    return layer_properties([(vhb, 18.9, 0.9, 0.5), (vhb, 18.9, 0.9, 0.5), (vhb, 18.9, 0.9, 1.0)], wavelength, so2)


def iadpython_rd(mu_a, mu_s, g, d_cm, quad_pts=16):
    """Rd from iadpython's building blocks (skipped when iadpython is not installed)."""
    pytest.importorskip("iadpython")
    return iad_reference.iadpython_rd(mu_a, mu_s, g, d_cm, n=(N, N, N), quad_pts=quad_pts)


def test_quadrature_matches_iadpython():
    iad = pytest.importorskip("iadpython")
    s = iad.Sample(n=N, quad_pts=16)
    s.update_quadrature()
    nu, w = quadrature(N, 16)
    np.testing.assert_allclose(nu, s.nu, atol=1e-12)
    np.testing.assert_allclose(2 * nu * w, s.twonuw, atol=1e-12)
    assert nu[-1] == 1.0 and nu[7] < np.sqrt(1 - 1 / N**2) < nu[8]


@pytest.mark.parametrize("vhb, rd_ref", [(0.01, 0.26081), (0.04, 0.09273), (0.10, 0.03509)])
def test_v3_homogeneous_slab(vhb, rd_ref):
    case = homogeneous(vhb)
    rd = solve([case])[0]
    assert rd == pytest.approx(rd_ref, rel=2e-3)  # table: iadpython quad_pts 32
    assert rd == pytest.approx(iadpython_rd(*case), rel=1e-6)


def test_v4_three_layer_t1():
    cases = [layer_properties(T1, lam) for lam in BANDS]
    rd = solve(cases)
    rel_ad = np.abs(rd / np.array(T1_AD) - 1)
    assert np.all(rel_ad[:5] <= 3e-3) and np.all(rel_ad[5:] <= 6e-3), rel_ad
    np.testing.assert_allclose(rd, T1_MC, rtol=1e-2)


@pytest.mark.parametrize("lam", [470, 560, 660])
def test_v4_matches_iadpython_asymmetric_adding(lam):
    case = layer_properties(T1, lam)
    assert solve([case])[0] == pytest.approx(iadpython_rd(*case), rel=1e-6)


def test_v5_layer_order():
    top_blood = [(0.10, 18.9, 0.9, 0.5), (0.01, 18.9, 0.9, 0.5), (0.01, 18.9, 0.9, 1.0)]
    rd = solve([layer_properties(top_blood, 560), layer_properties(top_blood[::-1], 560)])
    assert rd[0] == pytest.approx(0.0436, rel=2e-2)
    assert rd[1] == pytest.approx(0.245, rel=2e-2)


def test_v6_so2_sensitivity():
    ur1 = {(lam, s): solve([homogeneous(0.04, lam, s)])[0] + R_SPEC for lam in (500, 560, 584) for s in (0.0, 1.0)}
    assert ur1[500, 0.0] == pytest.approx(0.19932, rel=2e-3)
    assert ur1[500, 1.0] == pytest.approx(0.19888, rel=2e-3)
    change = {lam: ur1[lam, 1.0] / ur1[lam, 0.0] - 1 for lam in (500, 560, 584)}
    assert -0.01 < change[500] < 0 and -0.01 < change[584] < 0
    assert change[560] == pytest.approx(0.459, abs=0.01)


def test_quadrature_convergence():
    """16 angles per hemisphere is within 0.1 % of 32 (spec: +0.05 %)."""
    case = homogeneous(0.04)
    assert solve([case], 16)[0] == pytest.approx(solve([case], 32)[0], rel=1e-3)


def test_batch_composition_does_not_change_results():
    """Elements are sorted by doubling count inside; each result must not depend on its neighbours."""
    gen = torch.Generator().manual_seed(0)
    mu_a = 20 * torch.rand(40, 3, generator=gen, dtype=torch.float64)
    mu_s = 50 + 1500 * torch.rand(40, 3, generator=gen, dtype=torch.float64)
    g = 0.8 + 0.15 * torch.rand(40, 3, generator=gen, dtype=torch.float64)
    d = 0.04 + 0.06 * torch.rand(40, 3, generator=gen, dtype=torch.float64)
    solver = AddingDoubling(1.36, 1.38, 16)
    batch = solver.reflectance(mu_a, mu_s, g, d)
    single = torch.cat(
        [solver.reflectance(mu_a[i : i + 1], mu_s[i : i + 1], g[i : i + 1], d[i : i + 1]) for i in (0, 17, 39)]
    )
    torch.testing.assert_close(batch[[0, 17, 39]], single, rtol=1e-12, atol=0)
    assert torch.all((batch > 0) & (batch < 1))


def test_absorbing_slab_without_scattering():
    """Only the collimated beam bouncing between the Fresnel surfaces returns: t^2 r E^2 / (1 - r^2 E^2)."""
    mu_a, depth = 1.0, 0.15
    e2 = np.exp(-2 * mu_a * depth)
    expected = (1 - R_SPEC) ** 2 * R_SPEC * e2 / (1 - R_SPEC**2 * e2)
    assert solve([([mu_a] * 3, [0.0] * 3, [0.9] * 3, [0.05] * 3)])[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available: GPU path not exercised")
def test_cuda_matches_cpu():
    cases = [layer_properties(T1, lam) for lam in BANDS]
    cols = [torch.tensor([c[j] for c in cases], dtype=torch.float64) for j in range(4)]
    solver = AddingDoubling(N, N, 16)
    cpu = solver.reflectance(*cols)
    gpu = solver.reflectance(*(c.cuda() for c in cols)).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", ["homogeneous_vhb0.04", "v5_blood_on_top"])
def test_v8_monte_carlo(name):
    """An independent photon MC (1e5 photons, sigma ~0.5 %) agrees within 2 %."""
    if name == "homogeneous_vhb0.04":
        case = homogeneous(0.04)
    else:
        case = layer_properties([(0.10, 18.9, 0.9, 0.5), (0.01, 18.9, 0.9, 0.5), (0.01, 18.9, 0.9, 1.0)], 560)
    rd_mc, err = mc_reflectance(*case, n=N, n_photons=100_000, seed=1)
    assert err < 0.01 * rd_mc
    assert solve([case])[0] == pytest.approx(rd_mc, rel=2e-2)
