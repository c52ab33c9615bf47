"""V2: ClusterLite against bagpipes' own model_galaxy at grid nodes (skipped when bagpipes is absent)."""

import math

import numpy as np
import pytest
import torch

from invert.apps.stars import StarsProblem
from invert.apps.stars.model import dust
from invert.apps.stars.model.linelist import CLOUDY_LABELS

pipes = pytest.importorskip("bagpipes")

NODES = [(1.0, -2.0, 6.5), (0.2, -3.0, 6.3), (1.0, -2.0, 6.0)]


def _bagpipes_lines(z, logu, logt, dust_type=None):
    comp = {
        "redshift": 0,
        "t_bc": 0.01,
        "burst": {"age": 10**logt / 1e9, "massformed": 4.0, "metallicity": z},
        "nebular": {"logU": logu},
    }
    if dust_type:
        comp["dust"] = {"type": dust_type, "Av": 1.0, "eta": 1.0}
    model = pipes.model_galaxy(comp)
    return np.array([model.line_fluxes[label] for label in CLOUDY_LABELS])


@pytest.mark.parametrize("dust_type, law", [(None, "ccm89"), ("Cardelli", "ccm89"), ("Calzetti", "calzetti")])
def test_v2_matches_bagpipes_model_galaxy(dust_type, law):
    problem = StarsProblem(dust_law=law)
    nodes = NODES if dust_type is None else NODES[:1]
    for z, logu, logt in nodes:
        x = torch.tensor([[4.0, logt, math.log10(z), logu, 1.0 if dust_type else 0.0]], dtype=torch.float64)
        np.testing.assert_allclose(
            problem.line_luminosities(x)[0].numpy(), _bagpipes_lines(z, logu, logt, dust_type), rtol=1e-6
        )


def test_dust_curves_equal_bagpipes():
    from bagpipes.models.dust_attenuation_model import dust_attenuation

    wavs = np.geomspace(500.0, 50_000.0, 400)
    np.testing.assert_allclose(dust.ccm89(wavs), dust_attenuation._cardelli(None, wavs), rtol=1e-13)
    np.testing.assert_allclose(dust.calzetti(wavs), dust_attenuation._calzetti(None, wavs), rtol=1e-13)
