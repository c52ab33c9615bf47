"""Posterior accuracy and speed of the tissue app on held-out simulations (issue: tissue app).

On --n held-out draws from the prior (a seed the model never saw), simulated at the model's SNR:
sO2 median |error| of the posterior median and of the MAP, calibration error of the sO2
marginal (paper's definition, q = 0.01..0.99), coverage and mean width of the 68 % interval,
the same for every other parameter (posterior/prior width ratio: what 8 bands constrain);
inference throughput (observations/s at --samples each) on this machine; the forward solver's
speed against iadpython in the same run (benchmarks/tissue_forward.py does this in detail).
Writes benchmarks/results/tissue.json and .png.

    python benchmarks/tissue.py [--model data/tissue/tissue_cinn.invert] [--n 1000] [--samples 4096]
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
from records import portable

import invert.core as ic
from invert.apps.kit.models import load_model
from invert.apps.tissue.cli import pretrained_path
from invert.apps.tissue.problem import problem_for
from invert.core.diagnostics import calibration_curve, calibration_error, coverage
from invert.core.problem import prior_std
from invert.core.summaries import map_estimate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: its test helpers
from tests.apps.tissue.iad_reference import iadpython_rd  # noqa: E402 - iadpython's reflectance, a test helper

RESULTS = Path(__file__).parent / "results"


def solver_speed(problem, n_samples: int = 40, n_iad: int = 8) -> dict[str, float]:
    """Spectra per second (88 wavelengths, 3 layers) of the torch solver and of iadpython, same inputs."""
    x = problem.sample_prior(n_samples, torch.Generator().manual_seed(7))
    t0 = time.perf_counter()
    problem.spectrum(x)
    torch_rate = n_samples / (time.perf_counter() - t0)
    mu_a, mu_s, g, d = (v.reshape(-1, 3).numpy() for v in problem.layer_optics(x[:1]))
    pick = np.linspace(0, len(mu_a) - 1, n_iad).round().astype(int)
    t0 = time.perf_counter()
    for i in pick:
        iadpython_rd(mu_a[i], mu_s[i], g[i], d[i], n=(1.36, 1.36, 1.38), quad_pts=16)
    iad_rate = 1.0 / ((time.perf_counter() - t0) / n_iad * mu_a.shape[0])
    return {"torch_spectra_per_s": torch_rate, "iadpython_spectra_per_s": iad_rate, "speedup": torch_rate / iad_rate}


def score(post: ic.Posterior, problem, *, n: int, samples: int, seed: int) -> dict:
    """Accuracy and calibration of every parameter on n held-out simulations of problem (seed), inference speed;
    also the sO2 calibration curve (levels, curve) for the plot."""
    x_true, y = ic.simulate_dataset(problem, n, seed=seed, chunk=1024)
    t0 = time.perf_counter()
    draws = post.sample(y, samples, seed=1)
    infer_s = time.perf_counter() - t0
    median = np.median(draws, axis=1)
    map_ = map_estimate(draws)
    lo, hi = np.quantile(draws, [0.16, 0.84], axis=1)
    levels, curve = calibration_curve(draws, x_true)
    sd = prior_std(problem)
    per_param = {
        name: {
            "median_abs_error_median": float(np.median(np.abs(median[:, j] - x_true[:, j]))),
            "median_abs_error_map": float(np.median(np.abs(map_[:, j] - x_true[:, j]))),
            "calibration_error": float(calibration_error(draws, x_true)[j]),
            "coverage_68": float(coverage(draws, x_true, np.array([0.68]))[0, j]),
            "width_68": float(np.mean(hi[:, j] - lo[:, j])),
            "posterior_prior_width_ratio": float(np.median(draws[:, :, j].std(1)) / sd[j]),
        }
        for j, name in enumerate(problem.x_names)
    }
    return {"parameters": per_param, "inference_obs_per_s": n / infer_s, "levels": levels, "curve": curve}


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model bundle (default: the shipped pretrained model)")
    parser.add_argument("--n", type=int, default=1000, help="held-out simulations")
    parser.add_argument("--samples", type=int, default=4096, help="posterior samples per observation")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the held-out simulations")
    args = parser.parse_args()

    model = args.model or pretrained_path()
    post, problem = load_model(model, "tissue", problem_for)
    scores = score(post, problem, n=args.n, samples=args.samples, seed=args.seed)
    per_param, levels, curve = scores["parameters"], scores.pop("levels"), scores.pop("curve")
    result = {
        "model": portable(Path(model)),
        "method": post.method,
        "n_sims_trained": post.metadata.get("n_sims"),
        "held_out": args.n,
        "samples": args.samples,
        "sO2": per_param["sO2"],
        "goals": {"sO2_median_abs_error": 0.055, "sO2_calibration_error": 0.01},
        "parameters": per_param,
        "inference_obs_per_s": scores["inference_obs_per_s"],
        "solver": solver_speed(problem),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tissue.json").write_text(json.dumps(result, indent=2))
    s = result["sO2"]
    print(f"sO2 on {args.n} held-out simulations ({post.method}, {result['n_sims_trained']} training simulations):")
    print(
        f"  median |error|: posterior median {s['median_abs_error_median']:.4f}, "
        f"MAP {s['median_abs_error_map']:.4f} (goal <= 0.055)"
    )
    print(
        f"  calibration error {s['calibration_error']:.4f} (goal <= 0.01); "
        f"68 % interval: coverage {s['coverage_68']:.3f}, width {s['width_68']:.3f}"
    )
    print(f"  inference: {result['inference_obs_per_s']:.1f} observations/s at {args.samples} samples each")
    v = result["solver"]
    print(
        f"  forward solver: torch {v['torch_spectra_per_s']:.1f} spectra/s vs iadpython "
        f"{v['iadpython_spectra_per_s']:.3f} ({v['speedup']:.0f}x; goal >= 1000x)"
    )
    print("\nparameter   median|err|  cal.err  cov68  width/prior")
    for name, p in per_param.items():
        print(
            f"  {name:<8} {p['median_abs_error_median']:10.4f} {p['calibration_error']:8.4f} {p['coverage_68']:6.3f} "
            f"{p['posterior_prior_width_ratio']:8.2f}"
        )
    plot(levels, curve[:, 0], RESULTS / "tissue.png")


def plot(levels: np.ndarray, curve: np.ndarray, path: Path) -> None:
    """Calibration curve of the sO2 marginal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(levels, curve, color="tab:blue")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("confidence level q")
    ax.set_ylabel("coverage - q (sO2)")
    ax.set_title("sO2 calibration on held-out simulations")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
