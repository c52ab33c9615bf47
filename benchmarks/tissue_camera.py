"""From a camera file to a trained model, and how good that model is (issue: tissue on the user's own camera).

For each camera (the shipped XIMEA 4x4 snapshot mosaic camera and a 100-band hyperspectral camera written here),
the two commands a user runs once a spectral library exists are timed as subprocesses:

    invert tissue simulate --camera CAM --library L1 --library L2 --n N --out sims.npz
    invert tissue train --sims sims.npz --out model.invert

and the model is scored on held-out simulations made by the radiative transfer at the camera's own wavelengths
(not from the library; seed 2024), as benchmarks/tissue.py scores the shipped model. The one-time cost of the
library is read from its run.json, and the cost of simulating each camera directly (no library) is measured on a
few spectra in the same run and extrapolated to N.

    python benchmarks/tissue_camera.py --library lib1.npz --library lib2.npz [--n 50000] [--n-test 1000]

Writes benchmarks/results/tissue_camera.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from records import args_record, portable
from tissue import score

from invert.apps.kit.models import load_model
from invert.apps.tissue.camera import load_camera
from invert.apps.tissue.library import SpectralLibrary
from invert.apps.tissue.problem import TissueProblem, problem_for

RESULTS = Path(__file__).parent / "results"
HYPERSPECTRAL = {
    "name": "hyperspectral-100",
    "description": "illustrative hyperspectral imager: 100 Gaussian bands of 4 nm FWHM, 455-715 nm",
    "bands": [dict(center_nm=round(float(c), 2), fwhm_nm=4.0, shape="gaussian") for c in np.linspace(455, 715, 100)],
    "snr": 10.0,
}


def run(*args: str) -> float:
    """Run an `invert` command; its wall time in seconds."""
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "invert"), *args, "--quiet"], check=True)
    return time.perf_counter() - t0


def library_cost(paths: list[Path]) -> dict:
    """Spectra and wall seconds of the libraries, from their run.json (written when each was made)."""
    spectra, seconds = 0, 0.0
    for path in paths:
        info = json.loads(Path(f"{path}.run.json").read_text())
        start, end = (datetime.fromisoformat(info[k]) for k in ("started", "finished"))
        spectra += info["settings"]["n"]
        seconds += (end - start).total_seconds()
    return {"spectra": spectra, "process_seconds": seconds}


def direct_rate(problem: TissueProblem, n: int = 24) -> float:
    """Spectra per second of the radiative transfer at the camera's own wavelengths (this process's threads)."""
    x = problem.sample_prior(n, torch.Generator().manual_seed(3))
    t0 = time.perf_counter()
    problem.reflectance(x)
    return n / (time.perf_counter() - t0)


def camera_row(camera_arg: str, problem: TissueProblem, args: argparse.Namespace, work: Path) -> dict:
    """Time simulate --library and train for one camera, score the model on held-out direct simulations."""
    sims, model = work / f"{problem.camera.name}.npz", work / f"{problem.camera.name}.invert"
    libraries = [a for lib in args.library for a in ("--library", str(lib))]
    fold_s = run("tissue", "simulate", "--camera", camera_arg, *libraries, "--n", str(args.n), "--out", str(sims))
    train_s = run("tissue", "train", "--sims", str(sims), "--out", str(model))
    post, problem = load_model(model, "tissue", problem_for)
    scores = score(post, problem, n=args.n_test, samples=args.samples, seed=args.seed)
    rate = direct_rate(problem)
    return {
        "camera": problem.camera.name,
        "bands": len(problem.camera.bands),
        "solver_wavelengths": len(problem.camera.solver_wavelengths()),
        "fold_seconds": fold_s,
        "train_seconds": train_s,
        "epochs": post.metadata.get("epochs_run"),
        "camera_file_to_model_seconds": fold_s + train_s,
        "direct_simulation_spectra_per_s": rate,
        "direct_simulation_seconds_for_n": args.n / rate,
        "sO2": scores["parameters"]["sO2"],
        "parameters": scores["parameters"],
    }


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, action="append", required=True, help="spectral library (repeat)")
    parser.add_argument("--n", type=int, default=50_000, help="training simulations per camera")
    parser.add_argument("--n-test", type=int, default=1000, help="held-out simulations per camera")
    parser.add_argument("--samples", type=int, default=4096, help="posterior samples per observation")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the held-out simulations")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        hyper = work / "hyperspectral.json"
        hyper.write_text(json.dumps(HYPERSPECTRAL))
        for camera_arg in ("ximea_sm4x4_vis3", str(hyper)):
            rows.append(camera_row(camera_arg, TissueProblem(camera=load_camera(camera_arg)), args, work))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "parameters"}, indent=1), flush=True)
    library = library_cost(args.library)
    library["spectra_per_s"] = library["spectra"] / library["process_seconds"]
    library["version"] = SpectralLibrary().version
    result = {
        "args": args_record(args) | {"library": [portable(p) for p in args.library]},
        "library": library,
        "cameras": rows,
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tissue_camera.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "tissue_camera.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    """The README table of the benchmark."""
    lib = result["library"]
    lines = [
        f"Spectral library: {lib['spectra']:,} spectra made in {lib['process_seconds'] / 60:.0f} process-minutes "
        f"({lib['spectra_per_s']:.1f} spectra/s per process), once for every camera.",
        "",
        "| camera | bands | fold (s) | train (s) | file to model (min) | direct simulation instead (min) | "
        "sO2 median abs error (median / MAP) | sO2 calibration error | sO2 68 % coverage |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["cameras"]:
        s = r["sO2"]
        lines.append(
            f"| {r['camera']} | {r['bands']} | {r['fold_seconds']:.0f} | {r['train_seconds']:.0f} | "
            f"{r['camera_file_to_model_seconds'] / 60:.1f} | {r['direct_simulation_seconds_for_n'] / 60:.0f} | "
            f"{s['median_abs_error_median']:.3f} / {s['median_abs_error_map']:.3f} | {s['calibration_error']:.3f} | "
            f"{s['coverage_68']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
