"""Posterior accuracy and speed of invert's cinn and inn against sbi's NPE, in one run.

Every method is fitted on the same simulations of two tasks: the paper's 8-mode toy (`gmm8`, exact
posteriors) and sbibm's `two_moons` (sbibm's reference posterior samples, read from the files its wheel
ships). Per method: C2ST as sbibm defines it (sbibm's own `c2st` function, reference vs posterior
samples, one score per observation), wall-clock training time and sampling throughput (samples/s for a
batch of all observations of a task). Writes <out>/posteriors.json, .md and .png.

Fair-comparison choices: the same simulations, batch size 256, early-stopping patience 20 and wall-clock
budget (--budget-s) for cinn and NPE; invert's default network (8 coupling blocks of 128 hidden units,
~140k weights) against sbi's NSF with 5 transforms and 78 hidden units (~140k weights). The INN uses the
settings of the paper's toy code instead (invert.core.toys.INN_TOY_*: 6 blocks of 16 hidden units,
lr 1e-2, batch 400, 80 epochs, no early stopping; with the default network it missed modes). One torch thread
each (--threads; on 2 shared cores, 2 threads made training up to ~100x slower when other processes ran).

    python benchmarks/posteriors.py [--n-sims 10000] [--seeds 1] [--n-obs N] [--budget-s 240] [--quick]

Needs sbi and scikit-learn, and sbibm installed with `pip install --no-deps sbibm` (its pins ask for
sbi<0.22 and pyro; only its data files and its metrics/c2st.py are used, without importing sbibm).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from records import args_record
from sbi_tools import NoTracker

import invert.core as ic
from invert.core.toys import INN_TOY_NET, INN_TOY_TRAIN, MODES, GaussianMixture8

METHODS = ("cinn", "inn", "npe")
NPE_MODEL = "nsf"  # sbibm's NPE density estimator (neural spline flow)
NPE_TRANSFORMS = 5  # sbi's default number of flow transforms
NPE_HIDDEN = 78  # ~140k weights, the size of invert's default network (8 coupling blocks, 128 hidden units)
NPE_STOP_AFTER = 20  # sbi's default early-stopping patience (epochs); invert's is the same
NPE_CHUNK_EPOCHS = 5  # NPE trains in chunks of epochs so that the time budget is checked between them
BATCH_SIZE = 256  # invert's default batch size; NPE trains with the same
GMM8_PLOT_OBS = 3  # labels 0, 1 (bimodal posteriors) and 2 (unimodal)


class TwoMoons:
    """sbibm's two_moons simulator (sbibm 1.1.0, tasks/two_moons/task.py) as an invert problem."""

    name = "two_moons"
    x_bounds = [(-1.0, 1.0), (-1.0, 1.0)]

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Uniform prior on [-1, 1]^2."""
        return 2 * torch.rand(n, 2, generator=generator, device=generator.device) - 1

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A noisy half circle (angle ~ U(-pi/2, pi/2), radius ~ N(0.1, 0.01)) shifted by (-|z0|, z1)."""
        n, dev = x.shape[0], x.device
        a = (torch.rand(n, generator=generator, device=dev) - 0.5) * math.pi
        r = 0.1 + 0.01 * torch.randn(n, generator=generator, device=dev)
        z0 = (x[:, 0] + x[:, 1]) / math.sqrt(2)  # x rotated by -pi/4
        z1 = (x[:, 1] - x[:, 0]) / math.sqrt(2)
        return torch.stack([torch.cos(a) * r + 0.25 - z0.abs(), torch.sin(a) * r + z1], dim=1)


class Gmm8Prior(torch.distributions.MixtureSameFamily):
    """The 8-mode toy's prior for sbi: its mixture with a support that torch can biject (R^2)."""

    support = torch.distributions.constraints.real_vector

    def __init__(self, sigma: float):
        normals = torch.distributions.Independent(torch.distributions.Normal(MODES, sigma), 1)
        super().__init__(torch.distributions.Categorical(torch.ones(len(MODES))), normals)


@dataclass
class Task:
    """A benchmark task: simulator, observations, reference posterior samples and sbi's prior."""

    name: str
    problem: Any
    observations: np.ndarray  # (B, dy)
    reference: Callable[[int, int, int], np.ndarray]  # (observation index, n, seed) -> (n, dx)
    prior: torch.distributions.Distribution
    x_bounds: list[tuple[float, float]] | None
    obs_names: list[str]


@dataclass
class Fitted:
    """A trained posterior of one method with its training cost."""

    sample: Callable[[np.ndarray, int, int], np.ndarray]  # (y (B, dy), n, seed) -> (B, n, dx)
    train_s: float
    epochs: int
    n_params: int


def sbibm_dir() -> Path:
    """The installed sbibm package folder, found without importing sbibm (its __init__ needs pyro)."""
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("sbibm is not installed: pip install --no-deps sbibm")
    return Path(spec.submodule_search_locations[0])


def load_c2st() -> Callable[..., torch.Tensor]:
    """sbibm's `c2st` function (metrics/c2st.py: z-scored MLP classifier, 5-fold CV, mean accuracy)."""
    spec = importlib.util.spec_from_file_location("sbibm_c2st", sbibm_dir() / "metrics" / "c2st.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.c2st


def gmm8_task(n_obs: int) -> Task:
    """The 8-mode toy: one observation per label, exact posterior samples."""
    problem = GaussianMixture8()
    labels = list(range(min(n_obs, problem.n_labels)))

    def reference(i: int, n: int, seed: int) -> np.ndarray:
        return problem.sample_posterior(labels[i], n, torch.Generator().manual_seed(seed)).numpy()

    return Task(
        "gmm8",
        problem,
        np.stack([problem.observation(k) for k in labels]),
        reference,
        Gmm8Prior(problem.sigma),
        None,
        [f"label {k}" for k in labels],
    )


def two_moons_task(n_obs: int) -> Task:
    """sbibm's two_moons: its observations 1..n_obs and their 10,000 reference posterior samples."""
    files = sbibm_dir() / "tasks" / "two_moons" / "files"
    folders = [files / f"num_observation_{i}" for i in range(1, min(n_obs, 10) + 1)]
    observations = np.stack([pd.read_csv(f / "observation.csv").to_numpy(np.float32)[0] for f in folders])
    samples = [pd.read_csv(f / "reference_posterior_samples.csv.bz2").to_numpy(np.float32) for f in folders]

    def reference(i: int, n: int, seed: int) -> np.ndarray:
        if n > len(samples[i]):
            raise ValueError(f"sbibm ships {len(samples[i])} reference samples per observation, {n} asked")
        return samples[i][:n]

    box = torch.distributions.Independent(torch.distributions.Uniform(-torch.ones(2), torch.ones(2)), 1)
    names = [f"observation {i}" for i in range(1, len(folders) + 1)]
    return Task("two_moons", TwoMoons(), observations, reference, box, TwoMoons.x_bounds, names)


def n_weights(module: torch.nn.Module) -> int:
    """Number of trainable weights."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def fit_invert(method: str, task: Task, x: np.ndarray, y: np.ndarray, seed: int, budget_s: float) -> Fitted:
    """Fit invert's cinn (defaults) or inn (the toy settings) with a wall-clock budget."""
    settings = dict(net=INN_TOY_NET, train=INN_TOY_TRAIN) if method == "inn" else {}
    t0 = time.perf_counter()
    post = ic.fit(
        x, y, method=method, x_bounds=task.x_bounds, seed=seed, time_budget_s=budget_s, progress=False, **settings
    )
    train_s = time.perf_counter() - t0
    epochs = post.metadata["epochs_run"]
    return Fitted(lambda y_obs, n, s: post.sample(y_obs, n, seed=s), train_s, epochs, n_weights(post.net))


def fit_npe(task: Task, x: np.ndarray, y: np.ndarray, seed: int, budget_s: float) -> Fitted:
    """Fit sbi's NPE (NSF) with early stopping, resumed in chunks of epochs until converged or out of budget."""
    from sbi.inference import NPE
    from sbi.neural_nets import posterior_nn

    torch.manual_seed(seed)
    estimator = posterior_nn(NPE_MODEL, hidden_features=NPE_HIDDEN, num_transforms=NPE_TRANSFORMS)
    inference = NPE(task.prior, density_estimator=estimator, tracker=NoTracker(), show_progress_bars=False)
    inference.append_simulations(torch.from_numpy(x), torch.from_numpy(y))
    t0, epochs = time.perf_counter(), 0
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore", message=".*Maximum number of epochs.*")
        while True:
            cap = epochs + NPE_CHUNK_EPOCHS
            net = inference.train(
                training_batch_size=BATCH_SIZE,
                stop_after_epochs=NPE_STOP_AFTER,
                max_num_epochs=cap,
                resume_training=epochs > 0,
            )
            epochs = inference.summary["epochs_trained"][-1]
            if epochs <= cap or time.perf_counter() - t0 > budget_s:  # converged, or budget spent
                break
    train_s = time.perf_counter() - t0
    posterior = inference.build_posterior(net)

    def sample(y_obs: np.ndarray, n: int, s: int) -> np.ndarray:
        torch.manual_seed(s)
        draws = posterior.sample_batched((n,), x=torch.from_numpy(y_obs), show_progress_bars=False)
        return draws.permute(1, 0, 2).contiguous().numpy()

    return Fitted(sample, train_s, epochs, n_weights(net))


def c2st_scores(c2st: Callable[..., torch.Tensor], task: Task, samples: np.ndarray, seed: int) -> list[float]:
    """sbibm's C2ST of every observation's samples against its reference (1.0 when samples are not finite)."""
    scores = []
    for i, s in enumerate(samples):
        if not np.isfinite(s).all():
            scores.append(1.0)
            continue
        ref = task.reference(i, s.shape[0], seed)
        scores.append(float(c2st(torch.from_numpy(ref), torch.from_numpy(s))[0]))
    return scores


def run_method(
    method: str, task: Task, x: np.ndarray, y: np.ndarray, seed: int, args: argparse.Namespace, c2st: Callable
) -> tuple[dict, np.ndarray]:
    """Fit one method, draw samples for every observation (timed) and score them; returns record and samples."""
    if method == "npe":
        fitted = fit_npe(task, x, y, seed, args.budget_s)
    else:
        fitted = fit_invert(method, task, x, y, seed, args.budget_s)
    fitted.sample(task.observations, 16, seed)  # warm-up
    t0 = time.perf_counter()
    samples = fitted.sample(task.observations, args.n_samples, seed)
    sample_s = time.perf_counter() - t0
    record = {
        "task": task.name,
        "method": method,
        "seed": seed,
        "n_params": fitted.n_params,
        "train_s": round(fitted.train_s, 2),
        "epochs": fitted.epochs,
        "samples_per_s": round(samples.shape[0] * samples.shape[1] / sample_s),
        "c2st": [round(c, 4) for c in c2st_scores(c2st, task, samples, seed)],
        "non_finite_samples": int((~np.isfinite(samples)).any(-1).sum()),
    }
    return record, samples


def summarize(records: list[dict]) -> list[dict]:
    """One row per (task, method): C2ST mean and std over observations and seeds, mean cost."""
    rows = []
    for task in dict.fromkeys(r["task"] for r in records):
        for method in METHODS:
            rs = [r for r in records if r["task"] == task and r["method"] == method]
            c2st = np.concatenate([r["c2st"] for r in rs])
            rows.append(
                {
                    "task": task,
                    "method": method,
                    "n_params": rs[0]["n_params"],
                    "c2st_mean": round(float(c2st.mean()), 3),
                    "c2st_std": round(float(c2st.std()), 3),
                    "train_s": round(float(np.mean([r["train_s"] for r in rs])), 1),
                    "epochs": round(float(np.mean([r["epochs"] for r in rs])), 1),
                    "samples_per_s": round(float(np.mean([r["samples_per_s"] for r in rs]))),
                }
            )
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The summary rows as a markdown table."""
    lines = [
        "| task | method | weights | C2ST (mean ± std) | train time (s) | epochs | sampling (samples/s) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['method']} | {r['n_params']:,} | {r['c2st_mean']:.3f} ± {r['c2st_std']:.3f} "
            f"| {r['train_s']:.0f} | {r['epochs']:g} | {r['samples_per_s']:,} |"
        )
    return "\n".join(lines)


def plot(tasks: dict[str, Task], samples: dict[tuple[str, str], np.ndarray], records: list[dict], path: Path) -> None:
    """gmm8: samples per method for labels 0-2 over the exact ones; two_moons: samples vs reference, observation 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("gmm8", i) for i in range(min(GMM8_PLOT_OBS, len(tasks["gmm8"].obs_names)))] + [("two_moons", 0)]
    fig, axes = plt.subplots(len(panels), len(METHODS), figsize=(3.2 * len(METHODS), 3.2 * len(panels)), squeeze=False)
    for row, (name, i) in enumerate(panels):
        task = tasks[name]
        for col, method in enumerate(METHODS):
            ax = axes[row, col]
            s = samples[name, method][i][:2000]
            ref = task.reference(i, 2000, 0)
            score = next(r["c2st"][i] for r in records if (r["task"], r["method"], r["seed"]) == (name, method, 0))
            ax.scatter(*ref.T, s=2, c="0.75", label="exact" if name == "gmm8" else "reference")
            ax.scatter(*s.T, s=2, c="C0", alpha=0.5, label=method)
            if name == "gmm8":
                modes = MODES[task.problem.modes_of(i)].numpy()  # observation i is label i
                ax.scatter(*modes.T, marker="x", s=40, c="k", label="exact modes")
                ax.set(xlim=(-4, 4), ylim=(-4, 4))
            else:
                ax.set(xlim=(-1, 1), ylim=(-1, 1))
            ax.set_title(f"{name}, {task.obs_names[i]}: {method}\nC2ST {score:.3f}", fontsize=9)
            ax.set_aspect("equal")
            if row == 0 and col == 0:
                ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    tmp = path.with_suffix(".png.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    """Write a file atomically (temporary name, then rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def machine() -> dict[str, Any]:
    """The software and hardware the numbers were measured on."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        **{f"{p}_version": version(p) for p in ("torch", "sbi", "sbibm", "scikit-learn", "invert")},
    }


def main() -> None:
    """Run the benchmark, print the table and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sims", type=int, default=10_000, help="simulations per task (all methods share them)")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (simulations, initialization, sampling)")
    parser.add_argument("--n-obs", type=int, default=10, help="observations per task (gmm8 has 6 labels, two_moons 10)")
    parser.add_argument("--n-samples", type=int, default=10_000, help="posterior and reference samples per C2ST")
    parser.add_argument("--budget-s", type=float, default=240.0, help="wall-clock training budget per fit (s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every method")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2000 sims, 2 obs, 1000 samples, 5 s budget")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if args.quick:
        args.n_sims, args.n_obs, args.n_samples, args.budget_s = min(args.n_sims, 2000), min(args.n_obs, 2), 1000, 5.0
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*triangular_solve is deprecated.*")  # inside nflows (sbi's NSF)
    c2st = load_c2st()

    tasks = {t.name: t for t in (gmm8_task(args.n_obs), two_moons_task(args.n_obs))}
    records, samples = [], {}
    for seed in range(args.seeds):
        for task in tasks.values():
            x, y = ic.simulate_dataset(task.problem, args.n_sims, seed=seed)
            for method in METHODS:
                record, s = run_method(method, task, x, y, seed, args, c2st)
                records.append(record)
                if seed == 0:
                    samples[task.name, method] = s
                print(
                    f"{task.name:10s} {method:5s} seed {seed}: C2ST {np.mean(record['c2st']):.3f}, train "
                    f"{record['train_s']:.0f} s ({record['epochs']} epochs), {record['samples_per_s']:,} samples/s",
                    flush=True,
                )

    rows = summarize(records)
    table = markdown_table(rows)
    print("\n" + table)
    config = args_record(args)
    config["npe"] = {
        "model": NPE_MODEL,
        "hidden_features": NPE_HIDDEN,
        "num_transforms": NPE_TRANSFORMS,
        "training_batch_size": BATCH_SIZE,
        "stop_after_epochs": NPE_STOP_AFTER,
    }
    config["invert"] = {"net": asdict(ic.NetConfig()), "train": asdict(ic.TrainConfig())}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "posteriors_quick" if args.quick else "posteriors"
    host = machine()
    result = {"config": config, "machine": host, "summary": rows, "runs": records}
    write_text(args.out / f"{stem}.json", json.dumps(result, indent=1) + "\n")
    command = " ".join(["python", "benchmarks/posteriors.py", *sys.argv[1:]])
    settings = (
        f"{args.n_sims} simulations, {args.seeds} seed(s), {args.n_samples} samples per C2ST, "
        f"{args.budget_s:g} s training budget, {args.threads} torch thread(s), "
        f"{host['cpu_count']} CPU cores, torch {host['torch_version']}, sbi {host['sbi_version']}"
    )
    write_text(args.out / f"{stem}.md", f"`{command}`\n\n{settings}\n\n{table}\n")
    plot(tasks, samples, records, args.out / f"{stem}.png")


if __name__ == "__main__":
    main()
