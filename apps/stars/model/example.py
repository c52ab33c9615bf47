"""The shipped example: an emission-line table (layout D) of HII regions simulated from known parameters.

Eight regions (or n_regions) of one galaxy at z = 0.02 (D_L = 88 Mpc), parameters drawn from the default prior, line
fluxes from the ClusterLite forward model with the training noise model at 2-15 % relative errors (one
draw per line), written like a PHANGS-style catalogue in units of 1e-17 erg/s/cm2. Region 3 lacks [OI]
(a masked line); region 8 is too faint: its Hbeta stands below 3 sigma, so it gets no posterior (no_hbeta).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from astropy.io import fits

from .cosmology import MPC_CM, log_area_cm2, luminosity_distance_cm
from .linelist import HBETA, NAMES
from .measurement_model import draw_measurement
from .problem import StarsProblem

__all__ = ["make_example", "COLUMNS", "REDSHIFT", "N_REGIONS"]

REDSHIFT = 0.02
N_REGIONS = 8
R_RANGE = (0.02, 0.15)
UNIT = 1e-17  # erg/s/cm2 per table unit
COLUMNS = (
    "OII3726",
    "OII3729",
    "HB4861",
    "OIII4959",
    "OIII5007",
    "HEI5876",
    "OI6300",
    "NII6548",
    "HA6563",
    "NII6583",
    "SII6716",
    "SII6731",
)  # column stems, linelist order


def make_example(seed: int, n_regions: int = N_REGIONS) -> tuple[fits.HDUList, pd.DataFrame]:
    """(FITS line table, true parameters with redshift and distance per region); n_regions >= 3. The shipped one has
    seed cli.EXAMPLE_SEED, which no training recipe uses, so that it is held out."""
    problem = StarsProblem()
    gen = torch.Generator().manual_seed(seed)
    x = problem.sample_prior(n_regions, gen)
    m = draw_measurement(
        problem.log_line_luminosities(x.double()), gen, mask_prob=0.0, r_range=R_RANGE, coverage_prob=0.0
    )
    distance = float(luminosity_distance_cm(REDSHIFT))
    sigma = 10.0 ** (m.log_sigma.numpy() - log_area_cm2(distance)) / UNIT
    flux = m.snr.numpy() * sigma
    flux[2, NAMES.index("OI6300")] = sigma[2, NAMES.index("OI6300")] = np.nan
    flux[-1, HBETA] = 1.5 * sigma[-1, HBETA]
    ids = [f"HII-{i + 1}" for i in range(n_regions)]
    cols = [
        fits.Column(name="REGION_ID", format=f"{max(map(len, ids))}A", array=ids),
        fits.Column(name="REDSHIFT", format="D", array=np.full(n_regions, REDSHIFT)),
    ]
    for j, stem in enumerate(COLUMNS):
        cols.append(fits.Column(name=f"{stem}_FLUX", format="E", array=flux[:, j], unit="1e-17 erg/(s cm2)"))
        cols.append(fits.Column(name=f"{stem}_FLUX_ERR", format="E", array=sigma[:, j], unit="1e-17 erg/(s cm2)"))
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = "invert stars example"
    primary.header["COMMENT"] = "Simulated HII regions (ClusterLite forward model); true parameters in the _truth.csv"
    hdul = fits.HDUList([primary, fits.BinTableHDU.from_columns(cols, name="LINES")])
    truth = pd.DataFrame(x.numpy().round(5), columns=problem.x_names)
    truth.insert(0, "id", ids)
    truth["redshift"], truth["distance_mpc"] = REDSHIFT, round(distance / MPC_CM, 4)
    return hdul, truth
