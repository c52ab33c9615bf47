"""Does bidirectional training matter? The paper's training-strategy ablation on the 8-mode toy.

Ardizzone et al. 2019 (Sec. 4.1, Fig. 2) train their INN forward only (L_y + L_z), inverse only (L_x)
and bidirectionally (L_y + L_z + L_x + reconstruction), on the 8-mode Gaussian mixture with one-hot labels
(labels 0 and 1 each shared by two modes). invert's INN adds a term beyond the paper, the joint maximum
likelihood of its outputs L_ml (invert.core.training.INNModule, weight w_ml), which the core gives to the
bidirectional strategy alone. Here every strategy runs twice, with the paper's losses only (w_ml = 0) and with
L_ml added (w_ml = 1 with the paper's y noise 0.03, the bidirectional INN's default when the stored results were
made), so that the strategies are compared on equal losses; the maximum-likelihood cINN runs beside them. All
get the same simulations (--n-sims per seed) and the same seeds; the INNs use the paper's toy settings
(invert.core.toys.INN_TOY_*, the INN's sizes pinned), the cINN invert's defaults. Per method and seed:

- C2ST against exact posterior samples, per label (sbibm's classifier two-sample test; 0.5 = indistinguishable);
- the share of samples within 3 sigma of each mode of each label, against the exact share (1/2 or 1):
  "on modes" is the total share on a label's true modes, its mean and its smallest value over the labels
  (exact posterior: 1 - exp(-4.5) = 0.989, the mass of a 2-D Gaussian within 3 sigma);
- calibration error (median over confidence levels of |coverage - level|, mean over x1, x2) on
  --n-test held-out simulations.

Prints mean +- sample std over seeds and writes benchmarks/results/training_strategies.{json,md,png} after every seed
(a run stopped early leaves the results of its completed seeds, written as those of a run with that many seeds;
the PNG: rows = methods, columns = labels, seed-0 samples in the plane with the true modes marked).

    python benchmarks/training_strategies.py [--seeds 3] [--n-sims 20000] [--n-samples 2000] [--n-test 1000]

Needs scikit-learn and sbibm (`pip install --no-deps sbibm`) for the C2ST, as benchmarks/posteriors.py.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from posteriors import load_c2st, machine, write_text
from records import args_record

import invert.core as ic
import invert.core.estimator
from invert.core.diagnostics import calibration_error
from invert.core.losses import output_likelihood_loss
from invert.core.toys import INN_TOY_NET, INN_TOY_TRAIN, MODES, GaussianMixture8, mode_shares
from invert.core.training import INN_STRATEGIES, INNModule


class INNModuleMLEverywhere(INNModule):
    """invert's INN training with its maximum-likelihood term L_ml (w_ml > 0) available to every strategy, not
    only to "bidirectional" (core INN_STRATEGIES); each strategy keeps its own L_x schedule. Where the core already
    gives L_ml to a strategy, this adds nothing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.w_ml > 0 and "L_ml" not in self.terms:
            self.terms = (*self.terms, "L_ml")

    def loss_terms(self, x: torch.Tensor, y: torch.Tensor, ramp: float) -> dict[str, torch.Tensor]:
        """The strategy's terms plus L_ml; inverse only: L_ml from a forward pass of its own, L_x without a ramp."""
        forward_terms = "L_y" in self.terms
        terms = super().loss_terms(x, y, ramp if forward_terms else 1.0)
        if "L_ml" in self.terms and "L_ml" not in terms:
            y_fwd = y + self.y_noise * torch.randn_like(y)
            out, log_det = self.net(self.net.pad_x(x, self.pad_noise))
            z, pad, y_pred = self.net.split_out(out)
            terms["L_ml"] = output_likelihood_loss(z, pad, y_pred, y_fwd, log_det, self.y_noise)
            terms["loss"] = terms["loss"] + self.w_ml * terms["L_ml"]
        return terms


# Pinned, so that the rows mean the same whatever the core's defaults: the network of the toy (latent size 2,
# width 8), the paper's noise on y and on the padding (0.03, standardized units) and L_ml's weight 1 (the INN's
# default when these results were made).
INN_NET = replace(INN_TOY_NET, dz=2, width=8)
PAPER_LOSSES = replace(INN_TOY_TRAIN, inn_weights={"w_ml": 0.0, "y_noise": 0.03, "pad_noise": 0.03})
WITH_ML = replace(INN_TOY_TRAIN, inn_weights={"w_ml": 1.0, "y_noise": 0.03, "pad_noise": 0.03})
METHODS = {
    f"INN {strategy}{suffix}": dict(method="inn", training=strategy, net=INN_NET, train=train)
    for strategy in INN_STRATEGIES
    for suffix, train in (("", PAPER_LOSSES), (" + L_ml", WITH_ML))
} | {"cINN (max. likelihood)": dict(method="cinn", max_epochs=40)}
RESULTS = Path(__file__).parent / "results"


def evaluate(
    post: ic.Posterior, problem: GaussianMixture8, c2st, n_samples: int, n_test: int, seed: int
) -> tuple[dict, list]:
    """C2ST, mode shares per label and calibration error of one fitted posterior; also its samples per label."""
    record: dict = {"c2st": [], "shares": [], "exact_shares": []}
    per_label = []
    gen = torch.Generator().manual_seed(10_000 + seed)
    for label in range(problem.n_labels):
        s = post.sample(problem.observation(label), n_samples, seed=seed)
        exact = problem.sample_posterior(label, n_samples, gen).numpy()
        modes = problem.modes_of(label).tolist()
        shares = mode_shares(s, problem.sigma)
        record["c2st"].append(round(float(c2st(torch.from_numpy(exact), torch.from_numpy(s.astype(np.float64)))[0]), 4))
        record["shares"].append({int(k): round(float(shares[k]), 4) for k in modes})
        record["exact_shares"].append({int(k): 1 / len(modes) for k in modes})
        per_label.append(s)
    x_test, y_test = ic.simulate_dataset(problem, n_test, seed=20_000 + seed)
    record["calibration_error"] = round(float(calibration_error(post.sample(y_test, 500, seed=seed), x_test).mean()), 4)
    on_modes = [sum(sh.values()) for sh in record["shares"]]
    record["on_modes_mean"], record["on_modes"] = round(float(np.mean(on_modes)), 4), round(min(on_modes), 4)
    record["max_share_error"] = round(max(abs(v - 1 / len(sh)) for sh in record["shares"] for v in sh.values()), 4)
    return record, per_label


def summarize(records: list[dict]) -> list[dict]:
    """Mean, sample standard deviation and range over seeds per method."""
    rows = []
    for name in METHODS:
        rs = [r for r in records if r["method"] == name]
        row = {"method": name, "seeds": len(rs)}
        for key in ("c2st_mean", "on_modes_mean", "on_modes", "max_share_error", "calibration_error", "train_s"):
            values = np.array([r[key] for r in rs], dtype=float)
            std = values.std(ddof=1) if len(values) > 1 else 0.0
            row[key] = [round(float(values.mean()), 3), round(float(std), 3)]
            row[f"{key}_range"] = [round(float(values.min()), 3), round(float(values.max()), 3)]
        rows.append(row)
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The summary as a markdown table (mean ± std over seeds)."""
    lines = [
        "| method | C2ST vs exact (mean over labels) | share on true modes (mean over labels) "
        "| smallest share on true modes | largest mode-share error | calibration error | train time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    keys = ("c2st_mean", "on_modes_mean", "on_modes", "max_share_error", "calibration_error")
    for r in rows:
        cells = [f"{r[k][0]:.3f} ± {r[k][1]:.3f}" for k in keys]
        lines.append(f"| {r['method']} | " + " | ".join(cells) + f" | {r['train_s'][0]:.0f} |")
    return "\n".join(lines)


def plot(samples: dict[str, list[np.ndarray]], records: list[dict], problem: GaussianMixture8, path: Path) -> None:
    """Grid: rows = methods, columns = labels; seed-0 posterior samples with the label's true modes marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(samples), problem.n_labels, figsize=(2.3 * problem.n_labels, 2.5 * len(samples)), squeeze=False
    )
    for row, (name, per_label) in enumerate(samples.items()):
        record = next(r for r in records if r["method"] == name and r["seed"] == 0)
        for label, s in enumerate(per_label):
            ax = axes[row, label]
            ax.scatter(*MODES.numpy().T, marker="o", s=160, facecolors="none", edgecolors="0.8")
            ax.scatter(*s[:1500].T, s=1, c="C0", alpha=0.4)
            ax.scatter(*MODES[problem.modes_of(label)].numpy().T, marker="x", s=50, c="C3")
            ax.set(xlim=(-4, 4), ylim=(-4, 4), xticks=[], yticks=[], aspect="equal")
            ax.set_title(f"label {label}: C2ST {record['c2st'][label]:.2f}", fontsize=8)
            if label == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle("Posterior samples per label (blue), true modes of the label (red x), all modes (grey)", fontsize=10)
    fig.tight_layout()
    tmp = path.with_suffix(".png.tmp")
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def write_results(args: argparse.Namespace, records: list[dict], seeds: int) -> str:
    """Summary table (printed) and benchmarks/results/training_strategies.{md,json} of the first `seeds` seeds."""
    rows = summarize(records)
    table = markdown_table(rows)
    header = (
        f"`python benchmarks/training_strategies.py --seeds {seeds} --n-sims {args.n_sims} --n-samples "
        f"{args.n_samples} --n-test {args.n_test}`"
        + ("" if seeds == args.seeds else f" (the first {seeds} seeds of a run started with --seeds {args.seeds})")
        + f"\n\n{args.n_sims} simulations per seed, {args.n_samples} samples per label, calibration on "
        f"{args.n_test} held-out simulations, mean ± sample std over seeds {', '.join(map(str, range(seeds)))}; "
        "INN rows: the paper's losses of each strategy, and with invert's maximum-likelihood term L_ml added "
        "(+ L_ml); exact posterior's share on true modes: 0.989\n\n"
    )
    write_text(args.out / "training_strategies.md", header + table + "\n")
    result = {"args": args_record(args), "seeds_completed": seeds, "machine": machine(), "summary": rows}
    write_text(args.out / "training_strategies.json", json.dumps(result | {"records": records}, indent=1))
    return table


def main() -> None:
    """Run the ablation seed by seed, writing the results after each, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-sims", type=int, default=20_000)
    parser.add_argument("--n-samples", type=int, default=2000, help="posterior samples per label for C2ST and shares")
    parser.add_argument("--n-test", type=int, default=1000, help="held-out simulations for the calibration error")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    c2st, problem = load_c2st(), GaussianMixture8()
    records = []
    for seed in range(args.seeds):
        x, y = ic.simulate_dataset(problem, args.n_sims, seed=seed)
        seed_samples = {}
        for name, settings in METHODS.items():
            t0 = time.perf_counter()
            with mock.patch.object(invert.core.estimator, "INNModule", INNModuleMLEverywhere):  # fit builds it
                post = ic.fit(x, y, seed=seed, progress=False, **settings)
            train_s = time.perf_counter() - t0
            record, seed_samples[name] = evaluate(post, problem, c2st, args.n_samples, args.n_test, seed)
            record |= {
                "method": name,
                "seed": seed,
                "train_s": round(train_s, 1),
                "epochs": post.metadata["epochs_run"],
                "c2st_mean": round(float(np.mean(record["c2st"])), 4),
            }
            records.append(record)
            print(
                f"seed {seed} {name:28s} C2ST {record['c2st_mean']:.3f}  on modes {record['on_modes_mean']:.3f} "
                f"(smallest {record['on_modes']:.3f})  share error {record['max_share_error']:.3f}  "
                f"calibration {record['calibration_error']:.3f}  ({train_s:.0f} s)",
                flush=True,
            )
        if seed == 0:
            plot(seed_samples, records, problem, args.out / "training_strategies.png")
        table = write_results(args, records, seed + 1)
    print("\n" + table)
    print(f"wrote {args.out}/training_strategies.{{json,md,png}}")


if __name__ == "__main__":
    main()
