"""Speed and accuracy of the tissue forward model (docs/tissue.md).

Measures, in one run: the torch adding-doubling solver's time per sample*wavelength in batch
(CPU with 1 and all threads, CUDA if present) and iadpython's time per sample*wavelength for
the same 3-layer problems (quad_pts 16), plus the largest relative difference between the two
on random prior draws. Writes benchmarks/results/tissue_forward.json and .png.

    python benchmarks/tissue_forward.py [--samples 200] [--iad-elements 24] [--batch-check 10000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from invert.apps.tissue import TissueProblem
from invert.apps.tissue.adding_doubling import AddingDoubling

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: its test helpers
from tests.apps.tissue.iad_reference import iadpython_rd  # noqa: E402 - iadpython's reflectance, a test helper

RESULTS = Path(__file__).parent / "results"


def time_torch(solver: AddingDoubling, inputs: list[torch.Tensor], repeats: int = 2) -> float:
    """Best wall time (s) of `repeats` solver calls on the whole batch."""
    if inputs[0].is_cuda:
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        solver.reflectance(*inputs)
        if inputs[0].is_cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="prior draws for the torch timing (x 88 wavelengths)")
    parser.add_argument("--iad-elements", type=int, default=24, help="sample*wavelength elements run in iadpython")
    parser.add_argument("--batch-check", type=int, default=10_000, help="samples simulated end to end (V7), 0 = skip")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    problem = TissueProblem()
    x = problem.sample_prior(args.samples, torch.Generator().manual_seed(args.seed))
    mu_a, mu_s, g, d = (v.reshape(-1, 3) for v in problem.layer_optics(x))
    n_el = mu_a.shape[0]
    solver = problem.solver
    inputs = [mu_a, mu_s, g, d]
    solver.reflectance(*(v[:8] for v in inputs))  # warm-up

    timings = {}
    threads_all = torch.get_num_threads()
    for threads in sorted({1, threads_all}):
        torch.set_num_threads(threads)
        timings[f"torch_cpu_{threads}thread"] = time_torch(solver, inputs) / n_el * 1e6
    torch.set_num_threads(threads_all)
    if torch.cuda.is_available():
        big = [v.repeat(50, 1).cuda() for v in inputs]
        solver.reflectance(*(v[:8] for v in big))
        timings["torch_cuda"] = time_torch(solver, big, repeats=3) / big[0].shape[0] * 1e6

    # iadpython on a subset of the same elements (spread over samples and wavelengths)
    pick = np.linspace(0, n_el - 1, args.iad_elements).round().astype(int)
    arrays = [v.numpy() for v in inputs]
    t0 = time.perf_counter()
    rd_iad = np.array([iadpython_rd(*(a[i] for a in arrays), n=(1.36, 1.36, 1.38), quad_pts=16) for i in pick])
    timings["iadpython_qp16"] = (time.perf_counter() - t0) / len(pick) * 1e6
    rd_torch = solver.reflectance(*(v[pick] for v in inputs)).numpy()
    max_rel = float(np.max(np.abs(rd_torch / rd_iad - 1)))

    # the V7 batch through the public simulator (10^4 samples x 8 bands): finite, float32
    batch = {}
    if args.batch_check:
        t0 = time.perf_counter()
        x_big = problem.sample_prior(args.batch_check, torch.Generator().manual_seed(1))
        y = problem.simulate(x_big, torch.Generator().manual_seed(2))
        batch = {
            "samples": args.batch_check,
            "seconds": time.perf_counter() - t0,
            "finite_float32": bool(torch.isfinite(y).all()) and y.dtype == torch.float32,
        }

    result = {
        "unit": "microseconds per sample*wavelength (3 layers, quad_pts 16, float64)",
        "timings_us": timings,
        "speedup_vs_iadpython_cpu": timings["iadpython_qp16"]
        / min(v for k, v in timings.items() if k.startswith("torch_cpu")),
        "max_rel_diff_vs_iadpython": max_rel,
        "n_elements_torch": n_el,
        "n_elements_iadpython": len(pick),
        "simulate_batch": batch,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": threads_all,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "torch": torch.__version__,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tissue_forward.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    plot(timings, RESULTS / "tissue_forward.png")


def plot(timings: dict[str, float], path: Path) -> None:
    """Bar chart (log scale) of the time per sample*wavelength."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    names = list(timings)
    ax.barh(
        names, [timings[k] for k in names], color=["tab:blue" if k.startswith("torch") else "tab:gray" for k in names]
    )
    ax.set_xscale("log")
    ax.set_xlabel("µs per sample·wavelength (3 layers, 16 angles)")
    ax.axvline(90, color="tab:red", ls="--", lw=1, label="target 90 µs")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
