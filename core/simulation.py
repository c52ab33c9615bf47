"""Simulated training sets: draw (x, y) pairs from a `Problem` and keep them in a versioned file."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from .devices import resolve_device
from .outputs import NpyRows, atomic_write
from .problem import NoiseVariables, Problem, problem_metadata
from .progress import Progress
from .resources import check_disk

__all__ = [
    "iter_simulations",
    "simulate_dataset",
    "simulate_to_file",
    "save_simulations",
    "load_simulations",
    "SimulationFileError",
]


class SimulationFileError(ValueError):
    """A simulation file that cannot be read or does not belong to the expected problem."""


def iter_simulations(
    problem: Problem,
    n: int,
    seed: int = 0,
    chunk: int = 65536,
    device: str | torch.device = "cpu",
    with_noise: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs (x, y) from the joint p(x) p(y | x) as float32 chunks of at most `chunk` rows, simulated on device
    ("auto": a GPU when present). with_noise: x also holds the simulator's noise variables u as its last columns
    (problem.u_names; a NoiseVariables problem only), with the same x and y as without for the same seed."""
    if with_noise and not isinstance(problem, NoiseVariables):
        raise TypeError(f"problem {problem.name!r} does not show its noise variables (simulate_with_noise)")
    device = resolve_device(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    for start in range(0, n, chunk):
        x = problem.sample_prior(min(chunk, n - start), generator).to(device)
        if with_noise:
            y, u = problem.simulate_with_noise(x, generator)
            x = torch.cat([x, u], dim=1)
        else:
            y = problem.simulate(x, generator)
        yield x.cpu().numpy().astype(np.float32), y.cpu().numpy().astype(np.float32)


def _metered(
    problem: Problem, n: int, seed: int, chunk: int, device: str | torch.device, progress: bool, with_noise: bool
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """iter_simulations with a progress line."""
    meter = Progress("simulated", n, "pairs", progress)
    for x, y in iter_simulations(problem, n, seed, chunk, device, with_noise):
        yield x, y
        meter.advance(len(x))
    meter.close()


def simulate_dataset(
    problem: Problem,
    n: int,
    seed: int = 0,
    chunk: int = 65536,
    device: str | torch.device = "cpu",
    progress: bool = False,
    with_noise: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw n pairs (x, y) from the joint p(x) p(y | x), simulated in chunks; with_noise: iter_simulations'."""
    xs, ys = [], []
    for x, y in _metered(problem, n, seed, chunk, device, progress, with_noise):
        xs.append(x)
        ys.append(y)
    if not xs:
        dx = len(problem.x_names) + (len(problem.u_names) if with_noise else 0)
        return np.empty((0, dx), np.float32), np.empty((0, len(problem.y_names)), np.float32)
    return np.concatenate(xs), np.concatenate(ys)


def simulate_to_file(
    path: str | os.PathLike,
    problem: Problem,
    n: int,
    seed: int = 0,
    chunk: int = 65536,
    device: str | torch.device = "cpu",
    progress: bool = False,
    **info: object,
) -> None:
    """Simulate n pairs straight into a simulation file (as `save_simulations` writes, with seed, n and chunk in
    its metadata), chunk by chunk, so that memory stays flat however large n is; the same pairs as
    simulate_dataset with the same seed and chunk."""
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    # float32 x and y, twice: the .npy files being written, then their copy into the .npz
    check_disk(folder, 2 * 4 * n * (len(problem.x_names) + len(problem.y_names)), f"{n:,} simulations")
    with tempfile.TemporaryDirectory(dir=folder, prefix=".sims-") as tmp:
        xs = NpyRows(Path(tmp) / "x.npy", (len(problem.x_names),))
        ys = NpyRows(Path(tmp) / "y.npy", (len(problem.y_names),))
        for x, y in _metered(problem, n, seed, chunk, device, progress, with_noise=False):
            xs(x)
            ys(y)
        meta = {**problem_metadata(problem), "seed": seed, "n": n, "chunk": chunk, **info}
        _write_npz(path, {"x": xs.close(), "y": ys.close()}, meta)


def save_simulations(path: str | os.PathLike, x: np.ndarray, y: np.ndarray, problem: Problem, **info: object) -> None:
    """Write pairs (x, y) with the problem's names and simulator version to a compressed .npz, atomically."""
    _write_npz(path, {"x": np.asarray(x), "y": np.asarray(y)}, {**problem_metadata(problem), **info})


def _write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray | Path], meta: dict) -> None:
    """A compressed .npz (as numpy.savez_compressed writes) of arrays, or of finished .npy files copied in pieces."""

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for name, array in {**arrays, "meta": np.array(json.dumps(meta))}.items():
                if isinstance(array, Path):
                    zf.write(array, f"{name}.npy")
                else:
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                        np.lib.format.write_array(fh, array, allow_pickle=False)

    atomic_write(path, write)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def load_simulations(path: str | os.PathLike, problem: Problem | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read pairs written by `save_simulations`; SimulationFileError (one line) for a damaged file, x and y that are
    not numeric 2-D arrays of as many rows, and with `problem` for files from another simulator version or of other
    dimensions."""
    try:
        with np.load(path, allow_pickle=False) as f:
            x, y, meta = f["x"], f["y"], json.loads(str(f["meta"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise SimulationFileError(f"{path}: not a simulation file written by invert ({_one_line(err)})") from None
    if not isinstance(meta, dict):
        raise SimulationFileError(f"{path}: its metadata is not a JSON object")
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or x.dtype.kind != "f" or y.dtype.kind != "f":
        raise SimulationFileError(
            f"{path}: x {x.shape} ({x.dtype}) and y {y.shape} ({y.dtype}) must be float arrays of (rows, dimensions) "
            "with as many rows"
        )
    if problem is not None and meta.get("simulator") != problem.version:
        raise SimulationFileError(
            f"{path}: simulated with {meta.get('simulator')!r}, "
            f"but this version of invert simulates {problem.version!r}"
        )
    if problem is not None and (x.shape[1], y.shape[1]) != (len(problem.x_names), len(problem.y_names)):
        raise SimulationFileError(
            f"{path}: x has {x.shape[1]} and y {y.shape[1]} columns; the {problem.name} problem has "
            f"{len(problem.x_names)} and {len(problem.y_names)}"
        )
    return x, y, meta
