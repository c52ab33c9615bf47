"""Simulated training sets: draw (x, y) pairs from a `Problem` and keep them in a versioned file."""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np
import torch

from .bundle import atomic_write
from .problem import Problem, problem_metadata

__all__ = ["simulate_dataset", "save_simulations", "load_simulations", "SimulationFileError"]


class SimulationFileError(ValueError):
    """A simulation file that cannot be read or does not belong to the expected problem."""


def simulate_dataset(
    problem: Problem,
    n: int,
    seed: int = 0,
    chunk: int = 65536,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw n pairs (x, y) from the joint p(x) p(y | x), in chunks so memory stays flat."""
    generator = torch.Generator(device=device).manual_seed(seed)
    xs, ys = [], []
    t0 = time.perf_counter()
    n_chunks = max(1, math.ceil(n / chunk))
    for i in range(n_chunks):
        m = min(chunk, n - i * chunk)
        x = problem.sample_prior(m, generator).to(device)
        y = problem.simulate(x, generator)
        xs.append(x.cpu().numpy())
        ys.append(y.cpu().numpy())
        if progress:
            done = min((i + 1) * chunk, n)
            rate = done / max(time.perf_counter() - t0, 1e-9)
            eta = (n - done) / rate
            print(f"\rsimulated {done}/{n}  ({rate:.0f}/s, {eta / 60:.1f} min left)  ", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def save_simulations(path: str | os.PathLike, x: np.ndarray, y: np.ndarray, problem: Problem, **info: object) -> None:
    """Write pairs (x, y) with the problem's names and simulator version to a compressed .npz, atomically."""
    meta = {**problem_metadata(problem), **info}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, x=x, y=y, meta=np.array(json.dumps(meta)))

    atomic_write(path, write)


def load_simulations(path: str | os.PathLike, problem: Problem | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read pairs written by `save_simulations`; with `problem`, refuse files from another simulator version."""
    try:
        with np.load(path, allow_pickle=False) as f:
            x, y, meta = f["x"], f["y"], json.loads(str(f["meta"]))
    except (OSError, KeyError, ValueError) as err:
        raise SimulationFileError(f"{path}: not a simulation file written by invert ({err})") from None
    if problem is not None and meta.get("simulator") != problem.version:
        raise SimulationFileError(
            f"{path}: simulated with {meta.get('simulator')!r}, but this version of invert simulates {problem.version!r}"
        )
    return x, y, meta
