"""Prahl extinction table and layer optics (docs/tissue.md: data source, units)."""

import numpy as np
import pytest
import torch

from invert.apps.tissue import TissueProblem, optics


def test_prahl_table_v1():
    table = optics.load_prahl_table()
    assert table.shape == (136, 3)
    np.testing.assert_array_equal(table[:, 0], np.arange(450, 721, 2))
    row = {int(w): (o, d) for w, o, d in table}
    assert row[560] == (32613.2, 53788.0)
    assert row[660] == (319.6, 3226.56)


def test_prahl_table_has_provenance_header():
    from importlib import resources

    text = resources.files("invert.data").joinpath("tissue/prahl_hb_extinction.csv").read_text()
    header = [ln for ln in text.splitlines() if ln.startswith("#")]
    assert any("Prahl" in ln for ln in header) and any("Gratzer" in ln for ln in header)


def test_extinction_interpolates_linearly_between_table_rows():
    eps_o, eps_d = optics.extinction(np.array([560.0, 561.0, 562.0]))
    assert eps_o[1] == pytest.approx(0.5 * (32613.2 + 32620.0))
    assert eps_d[1] == pytest.approx(0.5 * (53788.0 + 52276.0))
    with pytest.raises(ValueError):
        optics.extinction(np.array([449.0]))


def test_mu_a_v2():
    mu_a = optics.mu_a(torch.tensor(0.7), torch.tensor(0.01), torch.tensor(32613.2), torch.tensor(53788.0))
    assert optics.MU_A_PER_EPS == pytest.approx(4.2839e-3, rel=1e-4)
    assert mu_a.item() == pytest.approx(1.6692, rel=1e-4)


def test_mu_s_reduced_v2():
    mu_sp = optics.mu_s_reduced(torch.tensor(18.9), torch.tensor(560.0))
    assert mu_sp.item() == pytest.approx(16.3368, rel=1e-4)
    assert optics.mu_s_reduced(torch.tensor(18.9), torch.tensor(500.0)).item() == pytest.approx(18.9)


def test_thickness_mm_to_cm():
    assert optics.mm_to_cm(torch.tensor(1.5)).item() == pytest.approx(0.15)


def test_problem_layer_optics_units():
    """x holds d in mm and amie in 1/cm; the solver receives 1/cm and cm, per layer, top first."""
    p = TissueProblem()
    x = torch.tensor([[0.7, 0.01, 18.9, 0.9, 0.5, 0.05, 15.0, 0.85, 0.6, 0.10, 25.0, 0.80, 0.8]])
    mu_a, mu_s, g, d = p.layer_optics(x)
    i560 = int(np.flatnonzero(p.camera.solver_wavelengths() == 560)[0])
    assert mu_a[0, i560].tolist() == pytest.approx([1.6692, 5 * 1.6692, 10 * 1.6692], rel=1e-4)
    assert mu_s[0, i560, 0].item() == pytest.approx(16.3368 / 0.1, rel=1e-4)
    assert g[0, i560].tolist() == pytest.approx([0.9, 0.85, 0.8])
    assert d[0, 0].tolist() == pytest.approx([0.05, 0.06, 0.08])
