"""Dust coefficients a_j = A_j / A_V (V3) and the Balmer-decrement inversion of V2's Cardelli case."""

import math

import numpy as np
import pytest

from invert.apps.stars.model import dust
from invert.apps.stars.model.linelist import AIR_AA, NAMES

IX = {n: i for i, n in enumerate(NAMES)}
V3_CCM = dict(Halpha=0.8177, Hbeta=1.1642, OIII5007=1.1203, OII3726=1.5395, SII6716=0.7940)
V3_CALZETTI = dict(Halpha=0.8212, Hbeta=1.1353, OIII5007=1.1022, OII3726=1.4467, SII6716=0.7974)


@pytest.mark.parametrize("law, want", [("ccm89", V3_CCM), ("calzetti", V3_CALZETTI)])
def test_v3_coefficients(law, want):
    a = dust.line_coefficients(law)
    assert a.shape == (12,)
    for name, value in want.items():
        assert a[IX[name]] == pytest.approx(value, rel=1e-3), name


def test_coefficients_are_taken_at_air_wavelengths():
    np.testing.assert_array_equal(dust.line_coefficients("ccm89"), dust.ccm89(AIR_AA))
    assert dust.ccm89(np.array([6564.61]))[0] != dust.line_coefficients("ccm89")[IX["Halpha"]]


def test_curves_are_normalised_at_v_and_fall_with_wavelength():
    assert dust.ccm89(np.array([5495.0]))[0] == pytest.approx(1.0, abs=0.01)  # A_V / A_V (V = 0.55 micron)
    assert dust.calzetti(np.array([5500.0]))[0] == pytest.approx(1.0, abs=0.01)
    for wav in (np.linspace(3000.0, 6299.0, 200), np.linspace(6300.0, 9000.0, 200)):
        for law in dust.LAWS:
            assert np.all(np.diff(dust.attenuation(law, wav)) < 0)
    # Calzetti's two pieces meet with a 0.6 % step at 6300 A (as in Calzetti 2000 and bagpipes)
    left, right = dust.calzetti(np.array([6299.999, 6300.0]))
    assert right / left - 1 == pytest.approx(0.0075, abs=0.002)
    # every CCM branch is evaluated (UV bump, far-UV, X-UV, IR) and continuous at its edges
    for edge in (1.1, 3.3, 5.9, 8.0):
        left, right = dust.ccm89(1e4 / np.array([edge - 1e-9, edge + 1e-9]))
        assert right == pytest.approx(left, abs=1e-3)


def test_unknown_law():
    with pytest.raises(ValueError, match="unknown dust law"):
        dust.attenuation("smc", AIR_AA)


def test_balmer_decrement_inversion_of_v2_cardelli_case():
    a = dust.line_coefficients("ccm89")
    a_v = 2.5 / (a[IX["Hbeta"]] - a[IX["Halpha"]]) * math.log10(3.8954 / 2.8311)
    assert a_v == pytest.approx(1.0, abs=0.002)
    # and the V2 Cardelli / Calzetti decrements follow from the intrinsic one
    for law, want in (("ccm89", 3.8954), ("calzetti", 3.7807)):
        a = dust.line_coefficients(law)
        assert 2.8311 * 10 ** (0.4 * (a[IX["Hbeta"]] - a[IX["Halpha"]])) == pytest.approx(want, rel=2e-4)
