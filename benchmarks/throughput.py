"""Throughput and memory on the device present (issue: scale), each measured side by side with a reference.

1. Forward models: tissue (adding-doubling, 88 wavelengths) and stars (ClusterLite lines) spectra/s.
2. Training: pairs/s of the cINN (default network) against sbi's NPE (neural spline flow) of about the same
   number of weights, on the same tissue simulations, a fixed number of epochs each.
3. Posterior sampling: samples/s of both for a batch of observations.
4. Streamed scans: `invert tissue` on scans of --rows rows (wall time, peak memory of the process), streamed
   in chunks against the whole file in one chunk (the reference, up to --one-pass-max rows).
5. The same for `invert stars` on emission-line tables of --table-rows simulated HII regions (as it runs by
   default, the cINN's draws reweighted by the likelihood; --no-importance for the cINN alone).
   --malloc-default runs scans and tables with glibc's default allocator settings, the reference of
   invert.core.devices.reuse_freed_memory.

Writes --out.{json,md} (default benchmarks/results/throughput) and, with scans or tables, --out.png and --out_stars.png.

    python benchmarks/throughput.py [--rows 1000,10000,100000,1000000] [--scan-samples 1000] [--resim 8]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import matplotlib
import numpy as np
import pandas as pd
import torch
from records import args_record
from sbi_tools import NoTracker

import invert.core as ic
from invert.apps.stars.model.example import make_example
from invert.apps.stars.model.problem import StarsProblem
from invert.apps.tissue.problem import TissueProblem
from invert.core.devices import resolve_device
from invert.core.simulation import iter_simulations

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).parent / "results"
INVERT = str(Path(sys.executable).with_name("invert"))


def device_name(device: torch.device) -> str:
    """The device in words, e.g. 'NVIDIA H200' or 'CPU (2 threads, x86_64)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads, {platform.machine()})"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_rate(problem, n: int, device: torch.device) -> float:
    """Spectra per second of problem.simulate (prior draw, forward model and noise) in one batch on device."""
    next(iter_simulations(problem, min(n, 64), seed=1, chunk=64, device=device))  # warm up
    sync(device)
    t0 = time.perf_counter()
    for _ in iter_simulations(problem, n, seed=2, chunk=n, device=device):
        pass
    sync(device)
    return n / (time.perf_counter() - t0)


def n_weights(module: torch.nn.Module) -> int:
    """Number of trainable weights."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def npe_of_size(target: int, x: torch.Tensor, y: torch.Tensor):
    """sbi's NSF density estimator builder with about `target` weights (5 transforms, hidden width searched)."""
    from sbi.neural_nets import posterior_nn

    best = None
    for hidden in range(16, 513, 8):
        builder = posterior_nn("nsf", hidden_features=hidden, num_transforms=5)
        size = n_weights(builder(x[:256], y[:256]))
        if best is None or abs(size - target) < abs(best[1] - target):
            best = (hidden, size)
        if size > target:
            break
    return posterior_nn("nsf", hidden_features=best[0], num_transforms=5), best


def training_and_sampling(n_sims: int, epochs: int, n_obs: int, n_draws: int, device: torch.device) -> dict:
    """Pairs/s in training and samples/s in sampling: invert's cINN against sbi's NPE of about the same size."""
    from sbi.inference import NPE
    from sbi.utils import BoxUniform

    problem = TissueProblem()
    x, y = ic.simulate_dataset(problem, n_sims + n_obs, seed=11, chunk=4096, device=device)
    y_obs = y[n_sims:]
    x, y = x[:n_sims], y[:n_sims]
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    cinn = ic.fit(
        x,
        y,
        x_bounds=problem.x_bounds,
        max_epochs=epochs,
        progress=False,
        accelerator=accelerator,
        devices=1,
        train=ic.TrainConfig(patience=None),
    )
    cinn_train = cinn.metadata["n_train"] * epochs / cinn.metadata["train_time_s"]
    cinn.to(device)
    sync(device)
    t0 = time.perf_counter()
    cinn.sample(y_obs, n_draws, seed=0)
    sync(device)
    cinn_sample = n_obs * n_draws / (time.perf_counter() - t0)

    lo, hi = (torch.tensor(b, dtype=torch.float32) for b in zip(*problem.x_bounds))
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
    builder, (hidden, npe_size) = npe_of_size(n_weights(cinn.net), x_t, y_t)
    inference = NPE(
        BoxUniform(lo, hi, device=str(device)),
        density_estimator=builder,
        device=str(device),
        show_progress_bars=False,
        tracker=NoTracker(),
    )
    inference.append_simulations(x_t, y_t)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore")
        t0 = time.perf_counter()
        estimator = inference.train(max_num_epochs=epochs, stop_after_epochs=10**6, training_batch_size=256)
        npe_time = time.perf_counter() - t0
        posterior = inference.build_posterior(estimator)
        sync(device)
        t0 = time.perf_counter()
        posterior.sample_batched((n_draws,), x=torch.from_numpy(y_obs).to(device), show_progress_bars=False)
        sync(device)
        npe_sample = n_obs * n_draws / (time.perf_counter() - t0)
    npe_train = int(0.9 * n_sims) * epochs / npe_time  # sbi also holds out 10 % for validation
    return {
        "n_sims": n_sims,
        "epochs": epochs,
        "batch_size": 256,
        "observations": n_obs,
        "draws_per_observation": n_draws,
        "cinn": {"weights": n_weights(cinn.net), "train_pairs_per_s": cinn_train, "samples_per_s": cinn_sample},
        "npe": {
            "weights": npe_size,
            "hidden_features": hidden,
            "transforms": 5,
            "train_pairs_per_s": npe_train,
            "samples_per_s": npe_sample,
        },
    }


def write_scan(path: Path, n: int, pool: np.ndarray) -> None:
    """A scan CSV of n rows: spectra from a pool of simulated reflectances, each times a random camera gain."""
    rng = np.random.default_rng(5)
    bands = [f"{b:g}" for b in TissueProblem().camera.band_centers_nm]
    with open(path, "w") as fh:
        fh.write(",".join(["id", *bands]) + "\n")
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            block = pool[rng.integers(0, len(pool), m)] * rng.uniform(500, 3000, (m, 1))
            table = pd.DataFrame(block, columns=bands)
            table.insert(0, "id", np.arange(start, start + m))
            table.to_csv(fh, header=False, index=False, float_format="%.5g")


def measure(cmd: list[str], every: float = 0.05) -> dict:
    """Wall time and peak resident memory (VmHWM, polled) of one `invert` process.

    Not the child's ru_maxrss: Linux carries the high-water mark of the forked (pre-exec) image over exec,
    so it would report at least this benchmark's own memory."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kib, status = 0, Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        with contextlib.suppress(OSError):
            peak_kib = max(
                [peak_kib] + [int(ln.split()[1]) for ln in status.read_text().splitlines() if ln.startswith("VmHWM:")]
            )
        time.sleep(every)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
    return {"seconds": wall, "peak_rss_gib": peak_kib / 2**20}


def tissue_command(scan: Path, out: Path, samples: int, resim: int, chunk: int | None) -> list[str]:
    """`invert tissue` on a scan CSV."""
    return [
        INVERT,
        "tissue",
        "-i",
        str(scan),
        "--out",
        str(out),
        "--samples",
        str(samples),
        "--resim",
        str(resim),
        "--detailed",
        "5",
        "--quiet",
        *(["--chunk", str(chunk)] if chunk else []),
    ]


def stars_command(table: Path, out: Path, samples: int, chunk: int | None, importance: bool = True) -> list[str]:
    """`invert stars` on an emission-line table (shipped absolute model; reweighted draws unless importance=False)."""
    return [
        INVERT,
        "stars",
        "--fits",
        str(table),
        "--out",
        str(out),
        "--samples",
        str(samples),
        "--detailed",
        "5",
        "--quiet",
        *(["--chunk", str(chunk)] if chunk else []),
        *([] if importance else ["--no-importance"]),
    ]


def scaling(
    rows: list[int],
    write: Callable[[Path, int], Path],
    command: Callable[[Path, Path, int | None], list[str]],
    one_pass_max: int,
) -> list[dict]:
    """Streamed (default chunks) and one-pass (--chunk = rows) runs on inputs of each size."""
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in rows:
            data = write(Path(tmp), n)
            record = {
                "rows": n,
                "file_mib": data.stat().st_size / 2**20,
                "streamed": measure(command(data, Path(tmp) / "s", None)),
            }
            if n <= one_pass_max:
                record["one_pass"] = measure(command(data, Path(tmp) / "o", n))
            records.append(record)
            print(
                f"  {n:>9,} rows: streamed {record['streamed']['seconds']:8.1f} s "
                f"{record['streamed']['peak_rss_gib']:.2f} GiB"
                + (
                    f"; one pass {record['one_pass']['seconds']:8.1f} s {record['one_pass']['peak_rss_gib']:.2f} GiB"
                    if "one_pass" in record
                    else ""
                ),
                flush=True,
            )
            data.unlink()
    return records


def scan_writer() -> Callable[[Path, int], Path]:
    """Writes tissue scans of n rows from a pool of simulated spectra."""
    _, pool = next(iter_simulations(TissueProblem(), 4096, seed=21, chunk=4096))
    reflectance = np.exp(-np.asarray(pool, dtype=np.float64))  # any positive spectrum with the same normalized shape

    def write(folder: Path, n: int) -> Path:
        write_scan(folder / f"scan_{n}.csv", n, reflectance)
        return folder / f"scan_{n}.csv"

    return write


def write_table(folder: Path, n: int) -> Path:
    """An emission-line table (layout D) of n simulated HII regions, as the shipped example."""
    hdul, _ = make_example(seed=5, n_regions=n)
    hdul.writeto(folder / f"lines_{n}.fits")
    return folder / f"lines_{n}.fits"


def figure(records: list[dict], path: Path, title: str) -> None:
    """Time and peak memory against rows, streamed and one-pass."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for key, style in (("streamed", "o-"), ("one_pass", "s--")):
        r = [x for x in records if key in x]
        n = [x["rows"] for x in r]
        a.loglog(n, [x[key]["seconds"] for x in r], style, label=key.replace("_", " "))
        b.semilogx(n, [x[key]["peak_rss_gib"] for x in r], style, label=key.replace("_", " "))
    n = np.array([x["rows"] for x in records])
    t = records[-1]["streamed"]["seconds"] * n / n[-1]
    a.loglog(n, t, ":", color="grey", label="linear in rows")
    a.set(xlabel="rows (objects) in the input", ylabel="wall time (s)", title="time")
    b.set(xlabel="rows (objects) in the input", ylabel="peak resident memory (GiB)", title="memory", ylim=(0, None))
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=110)


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--rows", default="1000,10000,100000,1000000", help="scan sizes, comma-separated")
    parser.add_argument("--scan-samples", type=int, default=1000, help="posterior samples per scan row")
    parser.add_argument("--resim", type=int, default=8, help="re-simulated samples per scan row (0: none)")
    parser.add_argument("--one-pass-max", type=int, default=100_000, help="largest scan also run in one chunk")
    parser.add_argument("--forward-n", type=int, default=0, help="spectra per forward-model timing (default by device)")
    parser.add_argument("--train-sims", type=int, default=20_000, help="simulations for the training comparison")
    parser.add_argument("--epochs", type=int, default=3, help="epochs for the training comparison")
    parser.add_argument("--table-rows", default="1000,10000,100000", help="line-table sizes (stars), comma-separated")
    parser.add_argument("--table-samples", type=int, default=1000, help="posterior samples per line-table object")
    parser.add_argument("--no-importance", action="store_true", help="stars tables with the cINN's draws alone")
    parser.add_argument(
        "--malloc-default",
        action="store_true",
        help="scans and tables with glibc's default allocator settings (INVERT_MALLOC=default)",
    )
    parser.add_argument("--parts", default="forward,learning,scans,tables", help="what to measure, comma-separated")
    parser.add_argument("--out", type=Path, default=RESULTS / "throughput", help="results path without suffix")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = [int(r) for r in args.rows.split(",")]
    forward_n = args.forward_n or (1 << 16 if device.type == "cuda" else 512)
    parts = args.parts.split(",")
    print(f"device: {device_name(device)}")
    record = {"device": device_name(device), "torch": torch.__version__, "args": args_record(args)}
    if "forward" in parts:
        forward = {
            "tissue": forward_rate(TissueProblem(), forward_n, device),
            "stars": forward_rate(StarsProblem(), forward_n * 64, device),
        }
        print(f"forward models: tissue {forward['tissue']:,.0f} spectra/s, stars {forward['stars']:,.0f} spectra/s")
        record["forward_spectra_per_s"] = forward
    if "learning" in parts:
        learn = training_and_sampling(args.train_sims, args.epochs, 64, 1000, device)
        for m in ("cinn", "npe"):
            r = learn[m]
            print(
                f"{m}: {r['weights']:,} weights, training {r['train_pairs_per_s']:,.0f} pairs/s, "
                f"sampling {r['samples_per_s']:,.0f} samples/s"
            )
        record["learning"] = learn
    if args.malloc_default:  # the reference of invert.core.devices.reuse_freed_memory, inherited by the runs
        os.environ["INVERT_MALLOC"] = "default"
    if "scans" in parts:
        print(f"tissue scans ({args.scan_samples} samples per row, {args.resim} re-simulated):")
        record["scans"] = scaling(
            rows,
            scan_writer(),
            lambda f, o, c: tissue_command(f, o, args.scan_samples, args.resim, c),
            args.one_pass_max,
        )
    if "tables" in parts:
        print(
            f"stars line tables ({args.table_samples} samples per object, "
            f"{'cINN alone' if args.no_importance else 'reweighted by the likelihood'}):"
        )
        record["tables"] = scaling(
            [int(r) for r in args.table_rows.split(",")],
            write_table,
            lambda f, o, c: stars_command(f, o, args.table_samples, c, not args.no_importance),
            args.one_pass_max,
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    args.out.with_suffix(".md").write_text(markdown(record))
    if "scans" in record:
        figure(
            record["scans"],
            args.out.with_suffix(".png"),
            f"invert tissue on {record['device']}: {args.scan_samples} samples/row, resim {args.resim}",
        )
    if "tables" in record:
        figure(
            record["tables"],
            args.out.with_name(args.out.name + "_stars.png"),
            f"invert stars on {record['device']}: line tables, {args.table_samples} samples/object",
        )
    print(f"wrote {args.out}.json, .md and figures")


def markdown(record: dict) -> str:
    """The README tables of the parts measured."""
    lines = [f"Device: {record['device']} (torch {record['torch']}).", ""]
    if "forward_spectra_per_s" in record:
        f = record["forward_spectra_per_s"]
        lines += [
            "| forward model | spectra/s |",
            "|---|---|",
            f"| tissue (adding-doubling, 3 layers, 88 wavelengths) | {f['tissue']:,.0f} |",
            f"| stars (ClusterLite, 12 lines) | {f['stars']:,.0f} |",
            "",
        ]
    if "learning" in record:
        learn = record["learning"]
        lines += [
            f"| {learn['n_sims']:,} tissue simulations | weights | training pairs/s | posterior samples/s |",
            "|---|---|---|---|",
        ]
        for name, key in (("invert cINN", "cinn"), (f"sbi NPE (NSF, hidden {learn['npe']['hidden_features']})", "npe")):
            r = learn[key]
            lines.append(f"| {name} | {r['weights']:,} | {r['train_pairs_per_s']:,.0f} | {r['samples_per_s']:,.0f} |")
        lines.append("")
    for key, what in (("scans", "tissue scan rows | CSV MiB"), ("tables", "stars line-table objects | FITS MiB")):
        if key not in record:
            continue
        lines += [
            f"| {what} | streamed: time s | streamed: peak GiB | one pass: time s | one pass: peak GiB |",
            "|---|---|---|---|---|---|",
        ]
        for s in record[key]:
            one = s.get("one_pass")
            lines.append(
                f"| {s['rows']:,} | {s['file_mib']:.1f} | {s['streamed']['seconds']:.1f} | "
                f"{s['streamed']['peak_rss_gib']:.2f} | "
                + (f"{one['seconds']:.1f} | {one['peak_rss_gib']:.2f} |" if one else "- | - |")
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
