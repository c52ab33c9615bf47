"""Does bidirectional training matter? The paper's training-strategy ablation on the 8-mode toy.

Ardizzone et al. 2019 (Sec. 4.1, Fig. 2) train their INN forward only (L_y + L_z), inverse only (L_x)
and bidirectionally, on the 8-mode Gaussian mixture with one-hot labels (labels 0 and 1 each shared
by two modes). Here the three strategies and the maximum-likelihood cINN get the same simulations
(--n-sims per seed) and the same seeds; the INNs use the paper's toy settings (invert.core.toys.INN_TOY_*),
the cINN invert's defaults. Per method and seed:

- C2ST against exact posterior samples, per label (sbibm's classifier two-sample test; 0.5 = indistinguishable);
- the share of samples within 3 sigma of each mode of each label, against the exact share (1/2 or 1);
  "on modes" is the smallest total share on a label's true modes over the labels;
- calibration error (median over confidence levels of |coverage - level|, mean over x1, x2) on
  --n-test held-out simulations.

Prints mean +- std over seeds and writes benchmarks/results/training_strategies.{json,md,png} (the PNG:
rows = methods, columns = labels, seed-0 samples in the plane with the true modes marked).

    python benchmarks/training_strategies.py [--seeds 3] [--n-sims 20000] [--n-samples 2000] [--n-test 1000]

Needs scikit-learn and sbibm (`pip install --no-deps sbibm`) for the C2ST, as benchmarks/posteriors.py.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from posteriors import load_c2st, machine, write_text
from records import args_record

import invert.core as ic
from invert.core.diagnostics import calibration_error
from invert.core.toys import INN_TOY_NET, INN_TOY_TRAIN, MODES, GaussianMixture8, mode_shares

METHODS = {
    "INN bidirectional": dict(method="inn", training="bidirectional", net=INN_TOY_NET, train=INN_TOY_TRAIN),
    "INN forward only": dict(method="inn", training="forward", net=INN_TOY_NET, train=INN_TOY_TRAIN),
    "INN inverse only": dict(method="inn", training="inverse", net=INN_TOY_NET, train=INN_TOY_TRAIN),
    "cINN (max. likelihood)": dict(method="cinn", max_epochs=40),
}
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
    record["on_modes"] = round(min(sum(sh.values()) for sh in record["shares"]), 4)
    record["max_share_error"] = round(max(abs(v - 1 / len(sh)) for sh in record["shares"] for v in sh.values()), 4)
    return record, per_label


def summarize(records: list[dict]) -> list[dict]:
    """Mean and std over seeds per method."""
    rows = []
    for name in METHODS:
        rs = [r for r in records if r["method"] == name]
        row = {"method": name, "seeds": len(rs)}
        for key in ("c2st_mean", "on_modes", "max_share_error", "calibration_error", "train_s"):
            values = np.array([r[key] for r in rs], dtype=float)
            row[key] = [round(float(values.mean()), 3), round(float(values.std()), 3)]
        rows.append(row)
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The summary as a markdown table (mean ± std over seeds)."""
    lines = [
        "| method | C2ST vs exact (mean over labels) | smallest share on true modes | largest mode-share error "
        "| calibration error | train time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = [
            f"{r[k][0]:.3f} ± {r[k][1]:.3f}" for k in ("c2st_mean", "on_modes", "max_share_error", "calibration_error")
        ]
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


def main() -> None:
    """Run the ablation, print the table and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-sims", type=int, default=20_000)
    parser.add_argument("--n-samples", type=int, default=2000, help="posterior samples per label for C2ST and shares")
    parser.add_argument("--n-test", type=int, default=1000, help="held-out simulations for the calibration error")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    c2st, problem = load_c2st(), GaussianMixture8()
    records, seed0_samples = [], {}
    for seed in range(args.seeds):
        x, y = ic.simulate_dataset(problem, args.n_sims, seed=seed)
        for name, settings in METHODS.items():
            t0 = time.perf_counter()
            post = ic.fit(x, y, seed=seed, progress=False, **settings)
            train_s = time.perf_counter() - t0
            record, per_label = evaluate(post, problem, c2st, args.n_samples, args.n_test, seed)
            record |= {
                "method": name,
                "seed": seed,
                "train_s": round(train_s, 1),
                "epochs": post.metadata["epochs_run"],
                "c2st_mean": round(float(np.mean(record["c2st"])), 4),
            }
            records.append(record)
            if seed == 0:
                seed0_samples[name] = per_label
            print(
                f"seed {seed} {name:24s} C2ST {record['c2st_mean']:.3f}  on modes {record['on_modes']:.3f}  "
                f"share error {record['max_share_error']:.3f}  calibration {record['calibration_error']:.3f}  "
                f"({train_s:.0f} s)",
                flush=True,
            )
    rows = summarize(records)
    table = markdown_table(rows)
    print("\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    header = (
        f"`python benchmarks/training_strategies.py --seeds {args.seeds}`\n\n{args.n_sims} simulations per seed, "
        f"{args.n_samples} samples per label, calibration on {args.n_test} held-out simulations, "
        "mean ± std over seeds\n\n"
    )
    write_text(args.out / "training_strategies.md", header + table + "\n")
    result = {"args": args_record(args), "machine": machine(), "summary": rows, "records": records}
    write_text(args.out / "training_strategies.json", json.dumps(result, indent=1))
    plot(seed0_samples, records, problem, args.out / "training_strategies.png")
    print(f"wrote {args.out}/training_strategies.{{json,md,png}}")


if __name__ == "__main__":
    main()
