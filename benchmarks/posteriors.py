"""Posterior accuracy and speed of invert's cINN and INN against sbi's NPE, FMPE and NPSE, in one run.

Every method is fitted on the same simulations of each task: the paper's 8-mode toy (`gmm8`, exact posteriors),
sbibm's `two_moons`, `slcp` and `gaussian_mixture` (our copies of sbibm's simulators; sbibm's observations and
reference posterior samples, read from the files its wheel ships) and the paper's inverse kinematics (`ik`,
invert.core.toys.InverseKinematics: Gaussian prior, noise-free; observations simulated with seed IK_OBS_SEED,
which no training set uses; reference: the 2 x --n-samples nearest of --ik-ref-sims rejection-ABC simulations,
built as in benchmarks/baselines.py, split at random into the reference and a second draw). Per method: C2ST as
sbibm defines it (sbibm's own `c2st` function, reference vs posterior samples, one score per observation), MMD
as benchmarks/baselines.py defines it (Kruse et al. 2021's kernels on x / the prior's std, at most MMD_SAMPLES
samples per observation), wall-clock training time and sampling throughput (samples/s for a batch of all
observations of a task). An ABC reference is blurred by its tolerance, so for `ik` the second draw is scored
against the reference like a method (the noise floor: what a perfect posterior scores) and the reference's
re-simulation error (mean |f(x) - y_obs|, its blur in y) is recorded. Writes <out>/posteriors[_tag].json,
.md and .png.

Methods (--methods): invert's `cinn` (its defaults), `cinn-affine` (the defaults before spline couplings: affine
blocks, early-stopping patience 20), `cinn-ens3` (an ensemble of 3 default cINNs), `inn` (the paper's INN with the
settings of its toy code, invert.core.toys.INN_TOY_*: 6 blocks of 16 hidden units, lr 1e-2, batch 400, 80 epochs),
`inn-net` (the INN with invert's default network and the toy training), `inn-full` (the INN with every fit()
default), `inn-noise` (inn-full learning the simulator's noise variables u along with x and marginalizing them,
fit's n_nuisance, on tasks whose simulator shows them: two_moons' angle and radius, slcp's unit normals; elsewhere
it is inn-full), `inn-spline` and `inn-spline-noise` (the same two with spline couplings); sbi's `npe` (neural
spline flow, 5 transforms of 78 hidden units, ~140k weights like invert's default cINN), `fmpe` (flow matching) and
`npse` (score matching), both with sbi's default networks. sbi's estimators train with their own recipe (early
stopping after 20 epochs without improvement), all with batch size 256 and the wall-clock budget --budget-s. One
torch thread each (--threads; on 2 shared cores, 2 threads made training up to ~100x slower when other processes
ran).

    python benchmarks/posteriors.py [--tasks gmm8,two_moons,...] [--methods cinn,npe,...] [--n-sims 10000]
        [--seeds 1] [--n-obs N] [--budget-s 240] [--ik-ref-sims 20000000] [--tag NAME] [--quick]

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
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from records import args_record
from sbi_tools import NoTracker

import invert.core as ic
from invert.core.diagnostics import resimulation_error
from invert.core.problem import NoiseVariables
from invert.core.toys import INN_TOY_NET, INN_TOY_TRAIN, MODES, GaussianMixture8, InverseKinematics
from invert.core.transforms import unbounded

INVERT_METHODS = {  # name -> fit() settings (see the docstring)
    "cinn": {},  # the defaults: spline couplings, the whole cosine schedule
    "cinn-affine": dict(net=ic.NetConfig(coupling="affine"), train=ic.TrainConfig(patience=20)),  # the defaults before
    "cinn-ens3": dict(ensemble=3),  # an ensemble of 3 default cINNs
    "inn": dict(net=INN_TOY_NET, train=INN_TOY_TRAIN, method="inn"),  # the paper's toy settings
    "inn-net": dict(train=INN_TOY_TRAIN, method="inn"),  # the INN with invert's default network
    "inn-full": dict(method="inn"),  # the INN with every fit() default: invert's network and training recipe
    "inn-noise": dict(method="inn", noise_variables=True),  # inn-full, the simulator's noise variables in x
    "inn-spline": dict(method="inn", net=ic.NetConfig(coupling="spline")),  # inn-full with spline couplings
    "inn-spline-noise": dict(method="inn", net=ic.NetConfig(coupling="spline"), noise_variables=True),
}
SBI_METHODS = ("npe", "fmpe", "npse")  # sbi's estimators
METHODS = (*INVERT_METHODS, *SBI_METHODS)
TASKS = ("gmm8", "two_moons", "slcp", "gaussian_mixture", "ik")
NOISE_FLOOR = "reference, 2nd draw"  # the method name of a second reference draw scored against the first
NPE_MODEL = "nsf"  # sbibm's NPE density estimator (neural spline flow)
NPE_TRANSFORMS = 5  # sbi's default number of flow transforms
NPE_HIDDEN = 78  # ~140k weights, the size of invert's default network (8 coupling blocks, 128 hidden units)
NPE_STOP_AFTER = 20  # sbi's default early-stopping patience (epochs); invert's is the same
NPE_CHUNK_EPOCHS = 5  # NPE trains in chunks of epochs so that the time budget is checked between them
BATCH_SIZE = 256  # invert's default batch size; NPE trains with the same
GMM8_PLOT_OBS = 3  # labels 0, 1 (bimodal posteriors) and 2 (unimodal)
MMD_SAMPLES = 2000  # samples per observation in the MMD (its cost grows with their square)
IK_OBS_SEED = 1000  # ik's observations; training sets use seeds 0 .. --seeds - 1
IK_REF_SEED = 99  # the seed of benchmarks/baselines.py's reference pool (fixed in its reference_samples)


class TwoMoons:
    """sbibm's two_moons simulator (sbibm 1.1.0, tasks/two_moons/task.py) as an invert problem."""

    name = "two_moons"
    x_bounds = [(-1.0, 1.0), (-1.0, 1.0)]

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Uniform prior on [-1, 1]^2."""
        return 2 * torch.rand(n, 2, generator=generator, device=generator.device) - 1

    u_names = ["angle", "radius"]  # the simulator's noise variables (invert.core.problem.NoiseVariables)
    u_bounds = [(-math.pi / 2, math.pi / 2), (-math.inf, math.inf)]

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A noisy half circle (angle ~ U(-pi/2, pi/2), radius ~ N(0.1, 0.01)) shifted by (-|z0|, z1)."""
        return self.simulate_with_noise(x, generator)[0]

    def simulate_with_noise(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, u): `simulate`'s observations and the angle and radius behind each."""
        n, dev = x.shape[0], x.device
        a = (torch.rand(n, generator=generator, device=dev) - 0.5) * math.pi
        r = 0.1 + 0.01 * torch.randn(n, generator=generator, device=dev)
        z0 = (x[:, 0] + x[:, 1]) / math.sqrt(2)  # x rotated by -pi/4
        z1 = (x[:, 1] - x[:, 0]) / math.sqrt(2)
        y = torch.stack([torch.cos(a) * r + 0.25 - z0.abs(), torch.sin(a) * r + z1], dim=1)
        return y, torch.stack([a, r], dim=1)


class SLCP:
    """sbibm's slcp simulator (sbibm 1.1.0, tasks/slcp/task.py): four draws of a 2-D Gaussian whose mean is
    (x0, x1), standard deviations x2^2 and x3^2, correlation tanh(x4); prior uniform on [-3, 3]^5."""

    name = "slcp"
    x_bounds = [(-3.0, 3.0)] * 5

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Uniform prior on [-3, 3]^5."""
        return 6 * torch.rand(n, 5, generator=generator, device=generator.device) - 3

    u_names = [f"e{k}{axis}" for k in range(4) for axis in "xy"]  # the unit normals of the four points
    u_bounds = [(-math.inf, math.inf)] * 8

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Four points (8 numbers) per parameter vector, with sbibm's 1e-6 added to the covariance diagonal."""
        return self.simulate_with_noise(x, generator)[0]

    def simulate_with_noise(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, u): `simulate`'s points and the unit normals e (n, 8) that the covariance's Cholesky factor scales."""
        s1, s2, rho = x[:, 2] ** 2, x[:, 3] ** 2, torch.tanh(x[:, 4])
        cov = torch.stack([s1**2 + 1e-6, rho * s1 * s2, rho * s1 * s2, s2**2 + 1e-6], dim=1).reshape(-1, 2, 2)
        chol = torch.linalg.cholesky(cov)
        e = torch.randn(x.shape[0], 4, 2, generator=generator, device=x.device)
        points = x[:, None, :2] + torch.einsum("nij,nkj->nki", chol, e)
        return points.reshape(x.shape[0], 8), e.reshape(x.shape[0], 8)


class GaussianMixture:
    """sbibm's gaussian_mixture simulator: y ~ 0.5 N(x, I) + 0.5 N(x, 0.01 I) in 2-D; prior uniform on [-10, 10]^2."""

    name = "gaussian_mixture"
    x_bounds = [(-10.0, 10.0)] * 2

    def sample_prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Uniform prior on [-10, 10]^2."""
        return 20 * torch.rand(n, 2, generator=generator, device=generator.device) - 10

    def simulate(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x plus noise of scale 1 or 0.1 (each with probability 1/2)."""
        wide = torch.rand(x.shape[0], 1, generator=generator, device=x.device) < 0.5
        scale = torch.where(wide, 1.0, 0.1)
        return x + scale * torch.randn(x.shape, generator=generator, device=x.device)


SBIBM_TASKS = {"two_moons": TwoMoons, "slcp": SLCP, "gaussian_mixture": GaussianMixture}


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
    second_draw: np.ndarray | None = None  # (B, n, dx) reference samples disjoint from `reference`'s, or None
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None  # a noise-free simulator: re-simulation error
    notes: dict[str, Any] = field(default_factory=dict)  # how the reference was built


@dataclass
class Fitted:
    """A trained posterior of one method with its training cost."""

    sample: Callable[[np.ndarray, int, int], np.ndarray]  # (y (B, dy), n, seed) -> (B, n, dx)
    train_s: float
    epochs: int
    n_params: int
    noise_variables: int = 0  # the simulator's noise variables learned along with x, then marginalized


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


def sbibm_task(name: str, n_obs: int) -> Task:
    """An sbibm task: our copy of its simulator, its observations 1..n_obs and their 10,000 reference samples."""
    problem = SBIBM_TASKS[name]()
    files = sbibm_dir() / "tasks" / name / "files"
    folders = [files / f"num_observation_{i}" for i in range(1, min(n_obs, 10) + 1)]
    observations = np.stack([pd.read_csv(f / "observation.csv").to_numpy(np.float32)[0] for f in folders])
    samples = [pd.read_csv(f / "reference_posterior_samples.csv.bz2").to_numpy(np.float32) for f in folders]

    def reference(i: int, n: int, seed: int) -> np.ndarray:
        if n > len(samples[i]):
            raise ValueError(f"sbibm ships {len(samples[i])} reference samples per observation, {n} asked")
        return samples[i][:n]

    lo, hi = (torch.tensor(b, dtype=torch.float32) for b in zip(*problem.x_bounds))
    box = torch.distributions.Independent(torch.distributions.Uniform(lo, hi), 1)
    names = [f"observation {i}" for i in range(1, len(folders) + 1)]
    return Task(name, problem, observations, reference, box, problem.x_bounds, names)


def ik_task(n_obs: int, n_samples: int, ref_sims: int) -> Task:
    """Inverse kinematics: n_obs observations simulated with seed IK_OBS_SEED; benchmarks/baselines.py's
    reference (the 2 n_samples nearest of ref_sims ABC simulations, in random order) split into the reference
    (first half) and a second draw (second half)."""
    from baselines import reference_samples  # imported here, since baselines imports this module

    problem = InverseKinematics()
    observations = ic.simulate_dataset(problem, n_obs, seed=IK_OBS_SEED)[1]
    t0 = time.perf_counter()
    both = reference_samples("ik", problem, observations, n_samples, argparse.Namespace(ref_sims=ref_sims))
    build_s = time.perf_counter() - t0
    print(f"ik reference: the {2 * n_samples:,} nearest of {ref_sims:,} simulations in {build_s:.1f} s", flush=True)
    resim = resimulation_error(both, observations, problem.forward)
    notes = {
        "pool_sims": ref_sims,
        "pool_seed": IK_REF_SEED,
        "observation_seed": IK_OBS_SEED,
        "kept_per_observation": 2 * n_samples,
        "build_s": round(build_s, 1),
        "resim_error": round(float(np.mean(resim)), 4),
    }

    def reference(i: int, n: int, seed: int) -> np.ndarray:
        if n > n_samples:
            raise ValueError(f"the ik reference holds {n_samples} samples per observation, {n} asked")
        return both[i, :n]

    std = problem.prior_std
    prior = torch.distributions.Independent(torch.distributions.Normal(torch.zeros_like(std), std), 1)
    names = [f"observation {i}" for i in range(1, n_obs + 1)]
    second = both[:, n_samples:]
    return Task("ik", problem, observations, reference, prior, problem.x_bounds, names, second, problem.forward, notes)


def make_task(name: str, args: argparse.Namespace) -> Task:
    """The task of that name with the observations and reference the arguments ask for."""
    if name == "gmm8":
        return gmm8_task(args.n_obs)
    if name == "ik":
        return ik_task(args.n_obs, args.n_samples, args.ik_ref_sims)
    return sbibm_task(name, args.n_obs)


def n_weights(module: torch.nn.Module) -> int:
    """Number of trainable weights."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def simulations(task: Task, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """n pairs (x, y) of the task's simulator and, where it shows them (NoiseVariables), its noise variables u."""
    if not isinstance(task.problem, NoiseVariables):
        return *ic.simulate_dataset(task.problem, n, seed=seed), None
    xu, y = ic.simulate_dataset(task.problem, n, seed=seed, with_noise=True)
    du = len(task.problem.u_names)
    return xu[:, :-du], y, xu[:, -du:]


def fit_invert(
    method: str, task: Task, x: np.ndarray, y: np.ndarray, u: np.ndarray | None, seed: int, budget_s: float
) -> Fitted:
    """Fit one of invert's settings (INVERT_METHODS) with a wall-clock budget; a setting with noise_variables
    learns the joint posterior of x and the simulator's noise variables u (where the task has them) and
    marginalizes u."""
    settings = {"method": "cinn"} | INVERT_METHODS[method]
    bounds = task.x_bounds or unbounded(x.shape[1])
    if settings.pop("noise_variables", False) and u is not None:
        x, bounds = np.hstack([x, u]), [*bounds, *task.problem.u_bounds]
        settings["n_nuisance"] = u.shape[1]
    t0 = time.perf_counter()
    post = ic.fit(x, y, x_bounds=bounds, seed=seed, time_budget_s=budget_s, progress=False, **settings)
    train_s = time.perf_counter() - t0
    epochs = post.metadata["epochs_run"]
    return Fitted(
        lambda y_obs, n, s: post.sample(y_obs, n, seed=s), train_s, epochs, n_weights(post.net), post.n_nuisance
    )


def fit_sbi(kind: str, task: Task, x: np.ndarray, y: np.ndarray, seed: int, budget_s: float) -> Fitted:
    """Fit one of sbi's estimators (NPE: NSF; FMPE: flow matching; NPSE: score matching, sbi's default MLP
    vector fields) with early stopping, resumed in chunks of epochs until converged or out of budget."""
    from sbi.inference import FMPE, NPE, NPSE
    from sbi.neural_nets import posterior_nn

    torch.manual_seed(seed)
    common = dict(tracker=NoTracker(), show_progress_bars=False)
    if kind == "npe":
        estimator = posterior_nn(NPE_MODEL, hidden_features=NPE_HIDDEN, num_transforms=NPE_TRANSFORMS)
        inference = NPE(task.prior, density_estimator=estimator, **common)
    else:
        inference = {"fmpe": FMPE, "npse": NPSE}[kind](task.prior, **common)
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
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
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


def mmd_score(task: Task, samples: np.ndarray, seed: int) -> float:
    """benchmarks/baselines.py's MMD to the reference (on x / the prior's std), mean over observations, from the
    first MMD_SAMPLES samples of each."""
    from baselines import mmd_to_reference  # imported here, since baselines imports this module

    n = min(MMD_SAMPLES, samples.shape[1])
    reference = np.stack([task.reference(i, n, seed) for i in range(len(samples))])
    return mmd_to_reference(samples[:, :n], reference, task.prior.stddev.numpy())


def noise_floor(task: Task, c2st: Callable) -> dict:
    """The record of the task's second reference draw scored against the reference: what a perfect method scores."""
    return {
        "task": task.name,
        "method": NOISE_FLOOR,
        "seed": 0,
        "c2st": [round(c, 4) for c in c2st_scores(c2st, task, task.second_draw, 0)],
        "mmd": round(mmd_score(task, task.second_draw, 0), 5),
        **resim_record(task, task.second_draw),
    }


def resim_record(task: Task, samples: np.ndarray) -> dict:
    """{"resim_error": mean |f(x) - y_obs| over samples and observations} for a task with a noise-free simulator."""
    if task.forward is None:
        return {}
    return {"resim_error": round(float(np.mean(resimulation_error(samples, task.observations, task.forward))), 4)}


def run_method(
    method: str,
    task: Task,
    simulated: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    seed: int,
    args: argparse.Namespace,
    c2st: Callable,
) -> tuple[dict, np.ndarray]:
    """Fit one method on simulated (x, y, u), draw samples for every observation (timed) and score them; returns
    record and samples."""
    x, y, u = simulated
    if method in SBI_METHODS:
        fitted = fit_sbi(method, task, x, y, seed, args.budget_s)
    else:
        fitted = fit_invert(method, task, x, y, u, seed, args.budget_s)
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
        "noise_variables": fitted.noise_variables,
        "samples_per_s": round(samples.shape[0] * samples.shape[1] / sample_s),
        "c2st": [round(c, 4) for c in c2st_scores(c2st, task, samples, seed)],
        "mmd": round(mmd_score(task, samples, seed), 5),
        **resim_record(task, samples),
        "non_finite_samples": int((~np.isfinite(samples)).any(-1).sum()),
    }
    return record, samples


def summarize(records: list[dict]) -> list[dict]:
    """One row per (task, method): C2ST mean and std over observations and seeds, mean MMD, mean cost (None for
    the noise floor, which has none)."""
    rows = []
    for task in dict.fromkeys(r["task"] for r in records):
        for method in dict.fromkeys(r["method"] for r in records):
            rs = [r for r in records if r["task"] == task and r["method"] == method]
            if not rs:
                continue
            c2st = np.concatenate([r["c2st"] for r in rs])

            def mean(key: str, digits: int | None) -> float | None:
                return round(float(np.mean([r[key] for r in rs])), digits) if key in rs[0] else None

            rows.append(
                {
                    "task": task,
                    "method": method,
                    "n_params": rs[0].get("n_params"),
                    "c2st_mean": round(float(c2st.mean()), 3),
                    "c2st_std": round(float(c2st.std()), 3),
                    "mmd": mean("mmd", 4),
                    "resim_error": mean("resim_error", 4),
                    "train_s": mean("train_s", 1),
                    "epochs": mean("epochs", 1),
                    "samples_per_s": mean("samples_per_s", None),
                }
            )
    return rows


def _cell(value: float | None, spec: str) -> str:
    """A table cell: the value formatted, or a dash where there is none."""
    return "–" if value is None else format(value, spec)


def markdown_table(rows: list[dict]) -> str:
    """The summary rows as a markdown table."""
    lines = [
        "| task | method | weights | C2ST (mean ± std) | MMD | re-sim. error | train time (s) | epochs "
        "| sampling (samples/s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['method']} | {_cell(r['n_params'], ',')} | {r['c2st_mean']:.3f} ± {r['c2st_std']:.3f} "
            f"| {r['mmd']:.4f} | {_cell(r['resim_error'], '.4f')} | {_cell(r['train_s'], '.0f')} "
            f"| {_cell(r['epochs'], 'g')} | {_cell(r['samples_per_s'], ',')} |"
        )
    return "\n".join(lines)


def plot(tasks: dict[str, Task], samples: dict[tuple[str, str], np.ndarray], records: list[dict], path: Path) -> None:
    """gmm8: samples per method for labels 0-2 over the exact ones; two_moons, gaussian_mixture: samples vs
    reference, observation 1; ik: the same projected on (rail, theta1). slcp (5-D) is left out (no figure for it
    alone)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in dict.fromkeys(r["method"] for r in records) if m != NOISE_FLOOR]
    panels = [("gmm8", i) for i in range(min(GMM8_PLOT_OBS, len(tasks["gmm8"].obs_names)))] if "gmm8" in tasks else []
    panels += [(name, 0) for name in tasks if name in ("two_moons", "gaussian_mixture", "ik")]  # x[:, :2]
    if not panels:  # slcp alone: nothing to draw
        return
    fig, axes = plt.subplots(len(panels), len(methods), figsize=(3.2 * len(methods), 3.2 * len(panels)), squeeze=False)
    for row, (name, i) in enumerate(panels):
        task = tasks[name]
        for col, method in enumerate(methods):
            ax = axes[row, col]
            s = samples[name, method][i][:2000, :2]
            ref = task.reference(i, len(s), 0)[:, :2]
            score = next(r["c2st"][i] for r in records if (r["task"], r["method"], r["seed"]) == (name, method, 0))
            ax.scatter(*ref.T, s=2, c="0.75", label="exact" if name == "gmm8" else "reference")
            ax.scatter(*s.T, s=2, c="C0", alpha=0.5, label=method)
            if name == "gmm8":
                modes = MODES[task.problem.modes_of(i)].numpy()  # observation i is label i
                ax.scatter(*modes.T, marker="x", s=40, c="k", label="exact modes")
                ax.set(xlim=(-4, 4), ylim=(-4, 4), aspect="equal")
            elif name == "ik":  # unbounded: 4 prior standard deviations
                (a, b), names = 4 * task.problem.prior_std[:2].numpy(), task.problem.x_names
                ax.set(xlim=(-a, a), ylim=(-b, b), xlabel=names[0], ylabel=names[1])
            else:
                ax.set(xlim=task.x_bounds[0], ylim=task.x_bounds[1], aspect="equal")
            ax.set_title(f"{name}, {task.obs_names[i]}: {method}\nC2ST {score:.3f}", fontsize=9)
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


def _choices(known: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: a comma-separated subset of known names."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown {unknown or text!r}; choose from {', '.join(known)}")
        return names

    return parse


def main() -> None:
    """Run the benchmark, print the table and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sims", type=int, default=10_000, help="simulations per task (all methods share them)")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (simulations, initialization, sampling)")
    parser.add_argument("--n-obs", type=int, default=10, help="observations per task (gmm8 has 6, sbibm's tasks 10)")
    parser.add_argument("--n-samples", type=int, default=10_000, help="posterior and reference samples per C2ST")
    parser.add_argument("--budget-s", type=float, default=240.0, help="wall-clock training budget per fit (s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every method")
    parser.add_argument("--ik-ref-sims", type=int, default=20_000_000, help="ABC pool of ik's reference posteriors")
    parser.add_argument("--tasks", type=_choices(TASKS), default=TASKS, help=f"comma-separated, of {','.join(TASKS)}")
    parser.add_argument(
        "--methods", type=_choices(METHODS), default=METHODS, help=f"comma-separated, of {','.join(METHODS)}"
    )
    parser.add_argument("--tag", default="", help="suffix of the result files' names (posteriors_<tag>.*)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2000 sims, 2 obs, 1000 samples, 5 s budget")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if "ik" in args.tasks and args.seeds > IK_REF_SEED:
        parser.error(f"--seeds above {IK_REF_SEED} would train ik on its reference pool's simulations")
    if args.quick:
        args.n_sims, args.n_obs, args.n_samples, args.budget_s = min(args.n_sims, 2000), min(args.n_obs, 2), 1000, 5.0
    if "ik" in args.tasks and args.ik_ref_sims < 2 * args.n_samples:
        parser.error(f"--ik-ref-sims {args.ik_ref_sims} cannot give 2 x {args.n_samples} reference samples")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*triangular_solve is deprecated.*")  # inside nflows (sbi's NSF)
    c2st = load_c2st()

    tasks = {name: make_task(name, args) for name in args.tasks}
    records, samples = [], {}
    for seed in range(args.seeds):
        for task in tasks.values():
            simulated = simulations(task, args.n_sims, seed)
            for method in args.methods:
                record, s = run_method(method, task, simulated, seed, args, c2st)
                records.append(record)
                if seed == 0:
                    samples[task.name, method] = s
                print(
                    f"{task.name:16s} {method:12s} seed {seed}: C2ST {np.mean(record['c2st']):.3f}, "
                    f"MMD {record['mmd']:.4f}, train "
                    f"{record['train_s']:.0f} s ({record['epochs']} epochs), {record['samples_per_s']:,} samples/s",
                    flush=True,
                )
    for task in tasks.values():
        if task.second_draw is not None:
            records.append(noise_floor(task, c2st))
            print(
                f"{task.name:16s} {NOISE_FLOOR}: C2ST {np.mean(records[-1]['c2st']):.3f}, MMD {records[-1]['mmd']:.4f}"
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
    config["references"] = {name: task.notes for name, task in tasks.items() if task.notes}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "_".join(["posteriors", *(["quick"] if args.quick else []), *([args.tag] if args.tag else [])])
    host = machine()
    result = {"config": config, "machine": host, "summary": rows, "runs": records}
    write_text(args.out / f"{stem}.json", json.dumps(result, indent=1) + "\n")
    command = " ".join(["python", "benchmarks/posteriors.py", *sys.argv[1:]])
    settings = (
        f"{args.n_sims} simulations, {args.seeds} seed(s), {args.n_samples} samples per C2ST "
        f"({min(MMD_SAMPLES, args.n_samples)} per MMD), {args.budget_s:g} s training budget, "
        f"{args.threads} torch thread(s), {host['cpu_count']} CPU cores, torch {host['torch_version']}, "
        f"sbi {host['sbi_version']}"
    )
    if "ik" in tasks:
        n = tasks["ik"].notes
        settings += (
            f"\n\nik reference: the {n['kept_per_observation']:,} nearest of {n['pool_sims']:,} rejection-ABC "
            f"simulations per observation, split at random into the reference and its 2nd draw; their mean "
            f"re-simulation error |f(x) - y_obs| is {n['resim_error']:.4f} (the ABC tolerance's blur)"
        )
    write_text(args.out / f"{stem}.md", f"`{command}`\n\n{settings}\n\n{table}\n")
    plot(tasks, samples, records, args.out / f"{stem}.png")


if __name__ == "__main__":
    main()
