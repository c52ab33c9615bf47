"""The shipped example scan: a small simulated multispectral image with a known sO2 map.

A 6 x 8 pixel patch of colon tissue (the model's prior, docs/tissue.md) whose oxygenation is 0.75 except
for an ischemic corner (sO2 0.35); band values are 12-bit camera counts with SNR-10 noise and an
arbitrary illumination scale, as a camera would deliver them after dark/flat-field correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .camera import add_noise
from .problem import TissueProblem

SHAPE = (6, 8)
SO2_HEALTHY, SO2_ISCHEMIC = 0.75, 0.35


def make_example(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scan, truth): the scan as the CSV users write (id, row, col, bands in nm) and the true parameters; the
    shipped one has seed cli.EXAMPLE_SEED, which no training recipe uses, so that it is held out."""
    problem = TissueProblem()
    gen = torch.Generator().manual_seed(seed)
    rows, cols = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    x = problem.sample_prior(rows.size, gen)
    ischemic = (rows >= 3) & (cols >= 5)
    x[:, 0] = torch.from_numpy(np.where(ischemic, SO2_ISCHEMIC, SO2_HEALTHY)).float()
    x[:, 0] += 0.02 * torch.randn(rows.size, generator=gen)
    reflectance = add_noise(problem.reflectance(x), problem.snr, gen)
    counts = np.round(3000.0 * reflectance.numpy() / reflectance.max().item()).astype(int)
    ids = [f"px{r}_{c}" for r, c in zip(rows, cols)]
    scan = pd.DataFrame({"id": ids, "row": rows, "col": cols})
    for band, column in zip(problem.camera.band_centers_nm, counts.T):
        scan[f"{band:g}"] = column
    truth = pd.DataFrame(x.numpy().round(5), columns=problem.x_names)
    truth.insert(0, "id", ids)
    return scan, truth
