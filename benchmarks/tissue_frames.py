"""A camera frame through `invert tissue` (issue: tissue images): one 512 x 640 frame at the image defaults, timed end
to end with a breakdown, against today's path in the same run, and the per-pixel accuracy of the image defaults.

The frame: --distinct parameter draws from the prior (a held-out seed, never used for training) simulated with the
paper's physics (TissueProblem, the shipped model's camera), tiled over the frame, and every pixel with its own
camera noise (SNR 10) as 12-bit counts; so every pixel is a distinct spectrum with a known truth.

Runs, each through the main job (apps/tissue/run.py run_scan, as `invert tissue --input frame.npy --bands ...`):
  image defaults   the whole frame, --samples and --resim left out (run.Plan: IMAGE_SAMPLES draws per pixel, sO2-only
                   KDE columns except for the detailed pixels, re-simulation of the detailed pixels only, network
                   passes sized for the CPU's caches)
  today            the first --subset pixels with 4,096 samples, --resim 0, every KDE column, one network pass per
                   batch (the path before the image defaults); extrapolated to the frame by its pixel rate
  table defaults   the same pixels at 4,096 samples as a CSV scan gets them now (network passes sized for the caches,
                   every KDE column): the same numbers as `today`, checked
Accuracy on the subset (the image-default draws are the first IMAGE_SAMPLES of the 4,096: invert.core.noise): median
|sO2 error| against the truth, |difference| of the medians and of the 68 % widths, 68 % coverage.
Writes benchmarks/results/tissue_frames.json and .md.

    nice python benchmarks/tissue_frames.py [--height 512 --width 640 --distinct 4096 --subset 2000 --threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from records import args_record, portable

import invert.apps.tissue.analysis as tissue_analysis
import invert.apps.tissue.run as tissue_run
import invert.core.analysis as core_analysis
from invert.apps.kit.job import JobSettings, MainJob
from invert.apps.kit.summary_files import SummaryFiles
from invert.apps.tissue.camera import add_noise
from invert.apps.tissue.cli import pretrained_path
from invert.apps.tissue.io.image_stack import Image
from invert.apps.tissue.problem import TissueProblem

RESULTS = Path(__file__).parent / "results"
FULL_SCALE = 3000.0  # counts of the brightest band value of the frame (12-bit camera, as the shipped example)
SUB_WIDTH = 50  # the subset image is (subset / 50) x 50 pixels: the frame's first pixels, the same row numbers
# what each timer measures: (module or class, attribute) wrapped during a run
PARTS = {
    "network draws (noise + cINN)": (core_analysis, "_draw"),
    "summaries": (core_analysis, "_summaries"),
    "re-simulation": (tissue_analysis, "resimulation_error"),
    "row tables + OOD scores": (tissue_analysis, "_assemble"),
    "pixel reading + flags": (Image, "_scan"),
    "summary.csv + .ecsv": (SummaryFiles, "__call__"),
    "checkpoints": (MainJob, "_checkpoint"),
    "sO2 maps (.npy, .png)": (tissue_run, "parameter_maps"),
    "report.html": (tissue_run, "_report"),
}


@contextmanager
def timed(parts: dict[str, tuple[object, str]]) -> Iterator[dict[str, float]]:
    """Seconds spent in each wrapped function while the block runs."""
    seconds: dict[str, float] = defaultdict(float)
    originals = []
    for label, (owner, name) in parts.items():
        original = getattr(owner, name)

        def wrapper(*args, _f=original, _label=label, **kwargs):
            t0 = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                seconds[_label] += time.perf_counter() - t0

        setattr(owner, name, wrapper)
        originals.append((owner, name, original))
    try:
        yield seconds
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


@contextmanager
def table_summaries(one_pass: bool) -> Iterator[None]:
    """Every KDE column for every pixel, as for a table; one_pass: and one network pass per batch (today's path)."""
    kde, passes = tissue_run.IMAGE_KDE, tissue_analysis.pass_draws
    tissue_run.IMAGE_KDE = None
    if one_pass:
        tissue_analysis.pass_draws = lambda device: None
    try:
        yield
    finally:
        tissue_run.IMAGE_KDE, tissue_analysis.pass_draws = kde, passes


def make_frame(problem: TissueProblem, shape: tuple[int, int], distinct: int, seed: int) -> tuple[np.ndarray, ...]:
    """(frame (H, W, bands) uint16 counts, truth (H * W, 13), simulation seconds): `distinct` prior draws simulated
    once, tiled, each pixel with its own noise."""
    gen = torch.Generator().manual_seed(seed)
    x = problem.sample_prior(distinct, gen)
    t0 = time.perf_counter()
    reflectance = torch.cat([problem.reflectance(part) for part in x.split(512)])
    simulate_s = time.perf_counter() - t0
    pick = torch.arange(shape[0] * shape[1]) % distinct
    noisy = add_noise(reflectance[pick], problem.snr, gen).clamp_min(1e-5).numpy()
    counts = np.clip(np.round(FULL_SCALE * noisy / noisy.max()), 1, 4095).astype(np.uint16)
    return counts.reshape(*shape, -1), x[pick].numpy(), simulate_s


def run(
    image: Path, out: Path, model: Path, bands: list[float], samples: int | None, resim: int | None
) -> tuple[float, dict[str, float], pd.DataFrame, dict]:
    """One main-job run: (wall seconds, seconds per part, summary.csv, run.json)."""
    settings = JobSettings(n_samples=samples, progress=False, overwrite=True, device="cpu")
    with timed(PARTS) as parts:
        t0 = time.perf_counter()
        code = tissue_run.run_scan(image, model, out, settings, bands=bands, resim_samples=resim)
        wall = time.perf_counter() - t0
    assert code == 0, f"run on {image} failed"
    parts = dict(parts)
    parts["other (model, checks, files)"] = wall - sum(parts.values())
    summary = pd.read_csv(out / "summary.csv", low_memory=False)  # KDE flags: empty but at the detailed pixels
    return wall, parts, summary, json.loads((out / "run.json").read_text())


def accuracy(table: pd.DataFrame, reference: pd.DataFrame, truth: np.ndarray) -> dict[str, float]:
    """sO2 accuracy of a run's summary rows against the truth and against a reference run on the same pixels."""
    median, width = table["sO2_median"].to_numpy(), (table["sO2_q84"] - table["sO2_q16"]).to_numpy()
    ref_median, ref_width = reference["sO2_median"].to_numpy(), (reference["sO2_q84"] - reference["sO2_q16"]).to_numpy()
    inside = (truth >= table["sO2_q16"].to_numpy()) & (truth <= table["sO2_q84"].to_numpy())
    return {
        "median_abs_error_vs_truth": float(np.median(np.abs(median - truth))),
        "mean_abs_error_vs_truth": float(np.mean(np.abs(median - truth))),
        "coverage_68": float(np.mean(inside)),
        "mean_width_68": float(np.mean(width)),
        "abs_median_difference_median": float(np.median(np.abs(median - ref_median))),
        "abs_median_difference_p90": float(np.quantile(np.abs(median - ref_median), 0.9)),
        "abs_median_difference_over_width_median": float(np.median(np.abs(median - ref_median) / ref_width)),
        "abs_width_difference_median": float(np.median(np.abs(width - ref_width))),
        "abs_width_difference_p90": float(np.quantile(np.abs(width - ref_width), 0.9)),
        "relative_width_difference_median": float(np.median(np.abs(width - ref_width) / ref_width)),
    }


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model bundle (default: the shipped pretrained model)")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--distinct", type=int, default=4096, help="distinct parameter draws simulated and tiled")
    parser.add_argument("--subset", type=int, default=2000, help="pixels run through today's path (a multiple of 50)")
    parser.add_argument("--seed", type=int, default=424242, help="held-out seed of the frame (training used 0)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    parser.add_argument("--name", default="tissue_frames", help="results file stem under benchmarks/results")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = args.model or pretrained_path()
    problem = TissueProblem()
    bands = [float(b) for b in problem.camera.band_centers_nm]
    load_before = os.getloadavg()

    frame, truth, simulate_s = make_frame(problem, (args.height, args.width), args.distinct, args.seed)
    n_pixels = args.height * args.width
    print(f"frame {args.height} x {args.width}: {args.distinct} distinct draws simulated in {simulate_s:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "frame.npy", frame)
        np.save(tmp / "subset.npy", frame.reshape(-1, frame.shape[2])[: args.subset].reshape(-1, SUB_WIDTH, 8))
        wall, parts, table, manifest = run(tmp / "frame.npy", tmp / "frame", model, bands, None, None)
        print(f"image defaults: {n_pixels:,} pixels in {wall:.0f} s ({n_pixels / wall:.0f} pixels/s)")
        with table_summaries(one_pass=True):
            old_wall, old_parts, old_table, _ = run(tmp / "subset.npy", tmp / "today", model, bands, 4096, 0)
        print(f"today's path: {args.subset:,} pixels in {old_wall:.0f} s ({args.subset / old_wall:.1f} pixels/s)")
        with table_summaries(one_pass=False):
            table_wall, table_parts, table_table, _ = run(tmp / "subset.npy", tmp / "table", model, bands, 4096, 0)
        print(f"table defaults: {args.subset:,} pixels in {table_wall:.0f} s ({args.subset / table_wall:.1f} pixels/s)")
    load_after = os.getloadavg()

    same_as_today = bool(table_table.equals(old_table))
    subset_truth = truth[: args.subset, 0]
    head = table.iloc[: args.subset].reset_index(drop=True)
    plan = {k: manifest["settings"][k] for k in ("n_samples", "resim_samples", "resim_rows", "kde_parameters")}
    result = {
        "frame": {"height": args.height, "width": args.width, "pixels": n_pixels, "distinct_draws": args.distinct},
        "seed": args.seed,
        "model": portable(Path(model)),
        "image_defaults": plan,
        "image_defaults_run": {
            "wall_s": wall,
            "pixels_per_s": n_pixels / wall,
            "seconds": parts,
            "rows_per_batch": manifest["settings"]["rows_per_batch"],
        },
        "today_subset_run": {
            "pixels": args.subset,
            "wall_s": old_wall,
            "pixels_per_s": args.subset / old_wall,
            "seconds": old_parts,
            "frame_s_extrapolated": n_pixels * old_wall / args.subset,
        },
        "table_defaults_subset_run": {
            "pixels": args.subset,
            "wall_s": table_wall,
            "pixels_per_s": args.subset / table_wall,
            "seconds": table_parts,
            "summary_identical_to_today": same_as_today,
        },
        "speedup_vs_today": (n_pixels / wall) / (args.subset / old_wall),
        "accuracy_sO2": {
            "image_defaults": accuracy(head, old_table, subset_truth),
            "4096_samples": accuracy(old_table, old_table, subset_truth),
        },
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_before_after": [load_before[0], load_after[0]],
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "frame_simulation_s": simulate_s,
        "args": args_record(args),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    """The results as a Markdown page."""
    f, new, old, table = r["frame"], r["image_defaults_run"], r["today_subset_run"], r["table_defaults_subset_run"]
    acc_new, acc_old = r["accuracy_sO2"]["image_defaults"], r["accuracy_sO2"]["4096_samples"]
    plan, machine = r["image_defaults"], r["machine"]
    lines = [
        "# A camera frame through `invert tissue` (benchmarks/tissue_frames.py)",
        "",
        f"One {f['height']} x {f['width']} frame ({f['pixels']:,} pixels): {f['distinct_draws']:,} prior draws "
        f"(held-out seed {r['seed']}) simulated with the paper's physics, tiled, every pixel with its own SNR-10 noise "
        f"as 12-bit counts. Model {r['model']}. CPU: {machine['cores']} cores, {machine['torch_threads']} torch "
        f"threads, load average {machine['load_average_before_after'][0]:.1f} before and "
        f"{machine['load_average_before_after'][1]:.1f} after (the machine is shared); no GPU"
        + (f" ({machine['cuda']})" if machine["cuda"] else "")
        + ".",
        "",
        "| run | pixels | wall (s) | pixels/s | frame (s) |",
        "|---|---:|---:|---:|---:|",
        f"| image defaults ({plan['n_samples']} samples, re-simulation of {plan['resim_rows']}) | {f['pixels']:,} | "
        f"{new['wall_s']:.0f} | {new['pixels_per_s']:.0f} | {new['wall_s']:.0f} |",
        f"| today's path (4,096 samples, --resim 0, all summaries, one network pass per batch) | {old['pixels']:,} | "
        f"{old['wall_s']:.0f} | {old['pixels_per_s']:.1f} | {old['frame_s_extrapolated']:.0f} (extrapolated) |",
        f"| table defaults now (4,096 samples, --resim 0, network passes sized for the cache) | {table['pixels']:,} | "
        f"{table['wall_s']:.0f} | {table['pixels_per_s']:.1f} | {f['pixels'] / table['pixels_per_s']:.0f} "
        "(extrapolated) |",
        "",
        f"Speed-up of the image defaults over today's path: {r['speedup_vs_today']:.0f}x. The table-default run gives "
        f"{'the same' if table['summary_identical_to_today'] else 'DIFFERENT'} summary.csv as today's path.",
        "",
        "Where the time goes (seconds):",
        "",
        "| part | image defaults, frame | today's path, subset | table defaults, subset |",
        "|---|---:|---:|---:|",
    ]
    for part in new["seconds"]:
        lines.append(
            f"| {part} | {new['seconds'][part]:.1f} | {old['seconds'].get(part, 0):.1f} | "
            f"{table['seconds'].get(part, 0):.1f} |"
        )
    lines += [
        "",
        f"sO2 accuracy on the first {old['pixels']:,} pixels (the image-default draws are the first "
        f"{plan['n_samples']} of the 4,096):",
        "",
        f"| | {plan['n_samples']} samples (image default) | 4,096 samples |",
        "|---|---:|---:|",
        f"| median over pixels of the absolute error of the median | {acc_new['median_abs_error_vs_truth']:.4f} | "
        f"{acc_old['median_abs_error_vs_truth']:.4f} |",
        f"| mean absolute error of the median | {acc_new['mean_abs_error_vs_truth']:.4f} | "
        f"{acc_old['mean_abs_error_vs_truth']:.4f} |",
        f"| 68 % coverage of the truth | {acc_new['coverage_68']:.3f} | {acc_old['coverage_68']:.3f} |",
        f"| mean 68 % width | {acc_new['mean_width_68']:.4f} | {acc_old['mean_width_68']:.4f} |",
        f"| absolute median difference to 4,096: median, 90th percentile | "
        f"{acc_new['abs_median_difference_median']:.4f}, "
        f"{acc_new['abs_median_difference_p90']:.4f} | 0 |",
        f"| the same over the 68 % width (median) | {acc_new['abs_median_difference_over_width_median']:.3f} | 0 |",
        f"| absolute 68 % width difference to 4,096: median, 90th percentile | "
        f"{acc_new['abs_width_difference_median']:.4f}, "
        f"{acc_new['abs_width_difference_p90']:.4f} | 0 |",
        f"| the same relative to the width (median) | {acc_new['relative_width_difference_median']:.3f} | 0 |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
