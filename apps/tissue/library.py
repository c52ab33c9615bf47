"""A spectral library: noise-free diffuse reflectance Rd of prior draws on a 2 nm grid, simulated once and folded
with any camera's filters afterwards, so that a new camera costs a matrix product instead of new radiative
transfer.

The grid is the haemoglobin table's own (450, 452, ..., 720 nm); a camera's filters weigh Rd on the 1 nm grid,
where it is taken as linear between library points (`Camera.fold_matrix`). The difference from solving at the
camera's own wavelengths is measured in benchmarks/tissue_camera.py and tests/apps/tissue/test_library.py.
Noise is added per camera when the library is folded, so one library serves every SNR.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from invert.core.simulation import SimulationFileError, load_simulations

from .camera import GRID_NM, Band, Camera
from .problem import SOLVER_VERSION, TissueProblem

LIBRARY_GRID_NM = np.arange(450.0, 721.0, 2.0)
FOLD_CHUNK = 65536  # library rows folded at a time

__all__ = ["LIBRARY_GRID_NM", "SpectralLibrary", "fold_library", "read_libraries"]


def _grid_camera() -> Camera:
    """A 'camera' whose bands are the library's wavelengths themselves (one-hot filters)."""
    index = np.searchsorted(GRID_NM, LIBRARY_GRID_NM)
    response = np.zeros((len(LIBRARY_GRID_NM), len(GRID_NM)))
    response[np.arange(len(index)), index] = 1.0
    bands = tuple(Band(float(w), 0.0, "measured") for w in LIBRARY_GRID_NM)
    return Camera("library-grid", bands, (1.0,) * len(bands), response)


class SpectralLibrary:
    """Prior draws x and their noise-free Rd on LIBRARY_GRID_NM, in the shape core.simulate_to_file writes."""

    name = "tissue-library"

    def __init__(self, quad_pts: int = 16, chunk_elements: int | None = None) -> None:
        """quad_pts and chunk_elements as for TissueProblem."""
        self.tissue = TissueProblem(camera=_grid_camera(), quad_pts=quad_pts, chunk_elements=chunk_elements)
        self.x_names, self.x_units, self.x_bounds = self.tissue.x_names, self.tissue.x_units, self.tissue.x_bounds
        self.y_names = tuple(f"Rd{w:g}" for w in LIBRARY_GRID_NM)
        grid = f"{LIBRARY_GRID_NM[0]:g}-{LIBRARY_GRID_NM[-1]:g}by{LIBRARY_GRID_NM[1] - LIBRARY_GRID_NM[0]:g}nm"
        self.version = f"{SOLVER_VERSION.format(quad_pts=quad_pts)}-rd{grid}-v1"

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """x ~ the tissue prior."""
        return self.tissue.sample_prior(n, generator)

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noise-free Rd at the library wavelengths (n, 136), float32 (the generator is not used)."""
        return self.tissue.reflectance(x).to(torch.float32)


@dataclass
class Library:
    """Library rows read from one or more files: x, Rd and each file's metadata."""

    x: np.ndarray
    rd: np.ndarray
    files: list[dict]


def read_libraries(paths: Sequence[str | os.PathLike]) -> Library:
    """Concatenate library files (in the given order); SimulationFileError (one line) for other files."""
    version = SpectralLibrary().version
    xs, rds, files = [], [], []
    for path in paths:
        x, rd, meta = load_simulations(path)
        if meta.get("simulator") != version:
            raise SimulationFileError(
                f"{path}: not a spectral library of this version of invert (it holds {meta.get('simulator')!r}; "
                f"make one with `invert tissue library`)"
            )
        xs.append(x)
        rds.append(rd)
        files.append({k: meta.get(k) for k in ("simulator", "seed", "n", "chunk")})
    return Library(np.concatenate(xs), np.concatenate(rds), files)


def fold_library(rd: np.ndarray, problem: TissueProblem, seed: int) -> np.ndarray:
    """Observations y (n, bands), float32, of the camera of `problem` from library spectra rd (n, 136): filter fold,
    the camera's noise (seeded) and the preprocessing."""
    fold = torch.from_numpy(problem.camera.fold_matrix(LIBRARY_GRID_NM))
    generator = torch.Generator().manual_seed(seed)
    ys = [
        problem.observe(torch.from_numpy(rd[i : i + FOLD_CHUNK].astype(np.float64)) @ fold.T, generator).numpy()
        for i in range(0, len(rd), FOLD_CHUNK)
    ]
    return np.concatenate(ys).astype(np.float32) if ys else np.empty((0, len(problem.y_names)), np.float32)
