"""The paper's methods and baselines on the core's toys, with the metrics of Kruse et al. 2021 (arXiv 2101.10763).

Every method is fitted on the same --n-sims simulations (seed 0) of each toy: the 8-mode Gaussian mixture
(`gmm8`, one observation per label, exact posteriors) and inverse kinematics (`ik`, --n-obs observations,
reference posteriors: the 2 x --n-samples nearest of --ref-sims rejection-ABC simulations). Methods:
cinn, inn (the paper's toy settings, invert.core.toys.INN_TOY_*), cvae, dropout and abc (rejection ABC over
the same training simulations, the 1 % nearest kept). Per method and toy, averaged over observations:

- MMD between --n-samples posterior samples and as many reference samples (inverse multiquadratic kernels
  C / (C + |a - b|^2), C = 0.04, 0.25, 0.81, 1.69, on x standardized by the prior's std; biased estimator);
- re-simulation error: mean distance |f(x_sample) - y_obs| of the noise-free forward model;
- fit time and time per observation, as measured: sampling only (ABC: the search in its pool, which is the
  training simulations, simulated once for all observations; that simulation time is reported once, apart,
  as "ABC pool simulation").

    python benchmarks/baselines.py [--n-sims 20000] [--n-obs 20] [--n-samples 2000] [--ref-sims 2000000]

Writes benchmarks/results/baselines.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from posteriors import machine, write_text
from records import args_record

import invert.core as ic
from invert.core.baselines import RejectionABC
from invert.core.diagnostics import resimulation_error
from invert.core.evaluation import run_method
from invert.core.losses import KERNELS_X, mmd
from invert.core.toys import INN_TOY_NET, INN_TOY_TRAIN, GaussianMixture8, InverseKinematics

METHODS = ("cinn", "inn", "cvae", "dropout", "abc")
RESULTS = Path(__file__).parent / "results"


def reference_samples(name: str, problem, y_obs: np.ndarray, n: int, args: argparse.Namespace) -> np.ndarray:
    """2n reference samples per observation in random order, (B, 2n, dx): exact posterior samples (gmm8)
    or the 2n nearest of a large rejection-ABC pool (ik)."""
    if name == "gmm8":
        gen = torch.Generator().manual_seed(7)
        return np.stack([problem.sample_posterior(int(np.argmax(y)), 2 * n, gen).numpy() for y in y_obs])
    kept = RejectionABC.simulate(problem, args.ref_sims, seed=99).sample(y_obs, 2 * n)
    rng = np.random.default_rng(0)
    return np.stack([k[rng.permutation(len(k))] for k in kept])


def mmd_to_reference(samples: np.ndarray, reference: np.ndarray, scale: np.ndarray) -> float:
    """Mean over observations of the MMD between samples and reference, on x / scale."""
    values = [
        float(mmd(torch.as_tensor(s / scale), torch.as_tensor(r / scale), KERNELS_X))
        for s, r in zip(samples, reference)
    ]
    return float(np.mean(values))


def main() -> None:
    """Run every method on both toys, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sims", type=int, default=20_000)
    parser.add_argument("--n-obs", type=int, default=20, help="inverse-kinematics observations (gmm8: its 6 labels)")
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--ref-sims", type=int, default=2_000_000, help="ABC pool of the inverse-kinematics reference")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows, pool_notes = [], []
    for name, problem in (("gmm8", GaussianMixture8()), ("ik", InverseKinematics())):
        t0 = time.perf_counter()
        x, y = ic.simulate_dataset(problem, args.n_sims, seed=0)
        abc = RejectionABC(x, y, sim_time_s=time.perf_counter() - t0)  # the pool: the training simulations
        if name == "gmm8":
            y_obs = np.stack([problem.observation(k) for k in range(problem.n_labels)])
        else:
            y_obs = ic.simulate_dataset(problem, args.n_obs, seed=1)[1]
        both = reference_samples(name, problem, y_obs, args.n_samples, args)
        reference, second = both[:, : args.n_samples], both[:, args.n_samples :]
        scale = x.std(axis=0)
        for method in METHODS:
            kwargs = dict(net=INN_TOY_NET, train=INN_TOY_TRAIN) if method == "inn" else {"max_epochs": 40}
            run = run_method(method, x, y, y_obs, args.n_samples, 0, kwargs, abc=abc)
            row = {
                "toy": name,
                "method": method,
                "fit_s": round(run.fit_s, 1),
                "ms_per_obs": round(run.per_obs_s * 1e3, 2),
                "mmd": round(mmd_to_reference(run.samples, reference, scale), 4),
                "resim_error": round(float(np.mean(resimulation_error(run.samples, y_obs, problem.forward))), 4),
            }
            if method == "abc":
                row["pool_sim_s"] = float(f"{run.notes['pool_sim_s']:.3g}")
                pool_notes.append(f"{name}: {run.notes['pool']} simulations in {row['pool_sim_s']:g} s")
            rows.append(row)
            print(row, flush=True)
        rows.append(
            {
                "toy": name,
                "method": "reference (second draw: the noise floor)",
                "fit_s": 0.0,
                "ms_per_obs": 0.0,
                "mmd": round(mmd_to_reference(second, reference, scale), 4),
                "resim_error": round(float(np.mean(resimulation_error(second, y_obs, problem.forward))), 4),
            }
        )
    lines = [
        "| toy | method | MMD to reference | re-simulation error | fit (s) | sampling (ms per observation) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['toy']} | {r['method']} | {r['mmd']:.4f} | {r['resim_error']:.4f} | {r['fit_s']:.0f} "
        f"| {r['ms_per_obs']:.2f} |"
        for r in rows
    ]
    table = "\n".join(lines) + (
        "\n\nTimes as measured: fit = training (ABC: 0, its pool given); time per observation = sampling "
        "(ABC: the search in its pool). ABC pool simulation, once for all observations: " + "; ".join(pool_notes)
    )
    print("\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(
        args.out / "baselines.md", f"`python benchmarks/baselines.py`, {args.n_sims} simulations per toy\n\n{table}\n"
    )
    write_text(
        args.out / "baselines.json",
        json.dumps({"args": args_record(args), "machine": machine(), "rows": rows}, indent=1),
    )


if __name__ == "__main__":
    main()
