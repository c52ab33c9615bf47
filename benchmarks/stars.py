"""Posterior accuracy and speed of the stars app on held-out simulations (issue 5; stars.md V7).

On --n held-out draws from the prior (a seed the models never saw) measured with 5 % errors on every line (r_j = 0.05,
no masking; the 0.02 dex model floor and Gaussian noise as in training), for the shipped absolute and ratios-only
models, each as the network alone ("cinn") and as `invert stars --likelihood-power 1` runs it, the network's draws
reweighted by the likelihood ("cinn+is", invert.apps.stars.model.likelihood.reweighted_posterior, with its effective
sample sizes): coverage of the central 68 % and 95 % intervals and calibration error (paper's definition) per
parameter, median |MAP - true| and |median - true|, the share of logZ posteriors flagged multimodal; then bimodality
against a reference on a few observations; forward-model throughput (line sets per second) and inference throughput
(observations per second at --samples samples each). Also scored, on --train-noise-n draws with the training noise
model itself (errors 1-30 %, masks, gaps, non-detections): 68 % coverage and calibration error of both posteriors.

Reference posteriors: the package's approximate likelihood-weighted sampling from the prior
(invert.apps.stars.model.approximate_reference.reference_posterior, as `invert stars evaluate`): --ref-draws
prior draws of (logt, logZ, logU, A_V) weighted by the Gaussian likelihood of the measured log line values, logM
integrated analytically, resampled by weight. The observations: --ref-obs draws with all
lines and as many with only the blue lines ([OII], Hbeta, [OIII], HeI, [OI]: Halpha, [NII], [SII] redshifted
out), where two logZ branches are expected (docs/stars.md). References with fewer than REFERENCE_MIN_ESS effective
draws are left out. A reference is bimodal in logZ when its (resampled) samples have two modes
(invert.core.summaries.modes) at least MIN_SEPARATION_DEX apart; a posterior "finds both" when its own samples
have two or more modes and each of the reference's two heaviest lies within MODE_MATCH_DEX of one. For all
reliable references: the shift of the posterior's logZ median and the ratio of the 68 % interval widths.
Writes benchmarks/results/stars.json and stars.png.

    python benchmarks/stars.py [--n 1000] [--samples 4096] [--ref-obs 60] [--ref-draws 4000000] [--train-noise-n 600]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from invert.apps.kit.models import load_model
from invert.apps.stars.model.approximate_reference import REFERENCE_MIN_ESS, reference_posterior
from invert.apps.stars.model.likelihood import reweighted_posterior
from invert.apps.stars.model.linelist import NAMES
from invert.apps.stars.model.problem import BLUE_LINES, FixedErrorStars
from invert.apps.stars.run import make_problem, pretrained_path
from invert.core.diagnostics import calibration_curve, calibration_error, coverage
from invert.core.importance import MIN_ESS as MIN_IS_ESS
from invert.core.summaries import map_estimate, modes, multimodal

RESULTS = Path(__file__).parent / "results"
R = 0.05
MODE_MATCH_DEX = 0.1  # a cINN mode this close to a reference mode finds it
MIN_SEPARATION_DEX = 0.15  # reference modes closer than this are one branch
GOALS = {"coverage_tolerance": 0.03, "calibration_error": 0.01, "A_V_median_abs_map_error": 0.15}


def held_out(problem, n: int, seed: int, lines: tuple[str, ...] = NAMES) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from the prior with every line of `lines` at r = 0.05 (FixedErrorStars), the model's mode."""
    test = FixedErrorStars(
        R, lines, ratios_only=problem.ratios_only, profile=problem.profile, dust_law=problem.dust_law
    )
    gen = torch.Generator().manual_seed(seed)
    x = test.sample_prior(n, gen)
    return x.numpy(), test.simulate(x, gen).numpy()


def accuracy(post, problem, x: np.ndarray, y: np.ndarray, n_samples: int) -> tuple[dict, np.ndarray, float, np.ndarray]:
    """Per-parameter coverage, calibration and errors; the samples; inference seconds; effective sample sizes."""
    t0 = time.perf_counter()
    s, diagnostics = post.draw(y, n_samples, seed=1)
    seconds = time.perf_counter() - t0
    cov = coverage(s, x, np.array([0.68, 0.95]))
    cal = calibration_error(s, x)
    err_map = np.median(np.abs(map_estimate(s) - x), axis=0)
    err_median = np.median(np.abs(np.median(s, axis=1) - x), axis=0)
    modal = multimodal(s).mean(axis=0)
    table = {
        p: {
            "coverage_68": float(cov[0, j]),
            "coverage_95": float(cov[1, j]),
            "calibration_error": float(cal[j]),
            "median_abs_error_map": float(err_map[j]),
            "median_abs_error_median": float(err_median[j]),
            "multimodal_share": float(modal[j]),
        }
        for j, p in enumerate(problem.x_names)
    }
    return table, s, seconds, diagnostics.get("ess", np.full(len(y), np.nan))


def forward_throughput(problem, n: int = 1_000_000) -> float:
    """Noise-free forward model (12 line luminosities + y encoding) per second, one batch of n."""
    x = problem.sample_prior(n, torch.Generator().manual_seed(5))
    problem.forward(x[:1000])
    t0 = time.perf_counter()
    problem.forward(x)
    return n / (time.perf_counter() - t0)


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _interval(z: np.ndarray) -> tuple[float, float, float]:
    lo, mid, hi = np.quantile(z, [0.16, 0.5, 0.84])
    return float(mid), float(lo), float(hi)


def training_noise(posteriors: dict, problem, n: int, samples: int, seed: int) -> dict:
    """Coverage and calibration of each posterior on n draws with the training noise model itself, and the share of
    objects whose reweighting ended below MIN_IS_ESS effective draws."""
    gen = torch.Generator().manual_seed(seed)
    x = problem.sample_prior(n, gen)
    y = problem.simulate(x, gen).numpy()
    keep = np.isfinite(y).all(axis=1)  # no detected Hbeta: no posterior
    x, y = x.numpy()[keep], y[keep]
    out = {"n": int(keep.sum()), "samples": samples}
    for name, post in posteriors.items():
        table, _, _, ess = accuracy(post, problem, x, y, samples)
        out[name] = {
            "coverage_68": {p: round(v["coverage_68"], 3) for p, v in table.items()},
            "calibration_error": {p: round(v["calibration_error"], 4) for p, v in table.items()},
        }
        if np.isfinite(ess).any():
            out[name]["share_below_min_ess"] = float((ess < MIN_IS_ESS).mean())
        print(
            f"  training noise, {name} ({out['n']} draws): coverage 68 % {out[name]['coverage_68']}, "
            f"calibration error {out[name]['calibration_error']}"
        )
    return out


def bimodality(posteriors: dict, problem, n_obs: int, draws: int, samples: int, seed: int) -> dict:
    """logZ marginals of each posterior against the reference on n_obs all-line and n_obs blue-only observations."""
    j = problem.x_names.index("logZ")
    cases = []
    for label, lines in (("all lines", NAMES), ("blue lines only", BLUE_LINES)):
        x, y = held_out(problem, n_obs, seed + (label != "all lines"), lines)
        ref, ess = reference_posterior(problem, y, draws, seed + 7)
        ref = ref[:, :, j]
        drawn = {name: post.sample(y, samples, seed=3)[:, :, j] for name, post in posteriors.items()}
        for k in range(n_obs):
            ref_modes = modes(ref[k][:, None])[0]
            major = sorted(ref_modes[:2])
            case = {
                "lines": label,
                "true_logZ": float(x[k, j]),
                "reference_ess": float(ess[k]),
                "reference_modes": ref_modes,
                "reference_interval": _interval(ref[k]),
                "reliable": bool(ess[k] >= REFERENCE_MIN_ESS),
                "reference_bimodal": bool(len(ref_modes) >= 2 and major[1][0] - major[0][0] >= MIN_SEPARATION_DEX),
            }
            for name, s in drawn.items():
                found = modes(s[k][:, None])[0]
                case[name] = {"modes": found, "interval": _interval(s[k])}
                if case["reference_bimodal"]:
                    near = [min(abs(m - n) for n, _ in found) for m, _ in ref_modes[:2]]
                    case[name]["both_found"] = bool(len(found) >= 2 and max(near) <= MODE_MATCH_DEX)
            cases.append(case)
    reliable = [c for c in cases if c["reliable"]]
    bimodal = [c for c in reliable if c["reference_bimodal"]]
    result = {"cases": cases, "n_reliable": len(reliable), "n_reference_bimodal": len(bimodal)}
    for name in posteriors:
        shift = [abs(c[name]["interval"][0] - c["reference_interval"][0]) for c in reliable]
        width = [
            (c[name]["interval"][2] - c[name]["interval"][1])
            / max(c["reference_interval"][2] - c["reference_interval"][1], 1e-9)
            for c in reliable
        ]
        result[name] = {
            "share_both_found": float(np.mean([c[name]["both_found"] for c in bimodal])) if bimodal else None,
            "multimodal_where_reference_unimodal": int(
                sum(len(c[name]["modes"]) > 1 for c in reliable if not c["reference_bimodal"])
            ),
            "median_abs_median_shift_dex": float(np.median(shift)) if shift else None,
            "median_width_ratio_68": float(np.median(width)) if width else None,
        }
    return result


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="held-out simulations")
    parser.add_argument("--samples", type=int, default=4096, help="posterior samples per observation")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the held-out simulations")
    parser.add_argument("--ref-obs", type=int, default=60, help="observations of each kind compared with the reference")
    parser.add_argument("--ref-draws", type=int, default=4_000_000, help="prior draws per reference posterior")
    parser.add_argument(
        "--train-noise-n",
        type=int,
        default=600,
        help="draws with the training noise (1-30 %% errors, masks, non-detections) also scored (0: none)",
    )
    args = parser.parse_args()

    result = {
        "held_out": args.n,
        "samples": args.samples,
        "r": R,
        "goals": GOALS,
        "models": {},
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
    }
    curves = {}
    for ratios_only in (False, True):
        network, problem = load_model(pretrained_path(ratios_only), "stars", make_problem)
        posteriors = {"cinn": network, "cinn+is": reweighted_posterior(network, problem)}
        x, y = held_out(problem, args.n, args.seed)
        mode = "ratios-only" if ratios_only else "absolute"
        entry = result["models"][mode] = {
            "model": pretrained_path(ratios_only).name,
            "n_sims_trained": network.metadata.get("n_sims"),
        }
        print(f"\n{mode} model ({entry['n_sims_trained']} simulations), {args.n} held-out, r = {R}:")
        for name, post in posteriors.items():
            table, s, seconds, ess = accuracy(post, problem, x, y, args.samples)
            curves[mode, name] = calibration_curve(s, x)
            entry[name] = {
                "parameters": table,
                "inference_obs_per_s": args.n / seconds,
                "calibration_curve": {
                    "q": curves[mode, name][0].round(4).tolist(),
                    "coverage_minus_q": curves[mode, name][1].round(4).tolist(),
                },
            }
            if np.isfinite(ess).any():
                entry[name]["ess"] = {
                    "quantiles_1_10_50_90": np.percentile(ess, [1, 10, 50, 90]).round(1).tolist(),
                    "share_below_min": float((ess < MIN_IS_ESS).mean()),
                    "min": MIN_IS_ESS,
                }
            print(
                f"  {name}: {entry[name]['inference_obs_per_s']:.1f} observations/s at {args.samples} samples"
                + (
                    f"; ESS 1/10/50/90 %: {entry[name]['ess']['quantiles_1_10_50_90']}, "
                    f"{entry[name]['ess']['share_below_min']:.3f} below {MIN_IS_ESS:g}"
                    if "ess" in entry[name]
                    else ""
                )
            )
            print("    parameter  cov68   cov95   cal.err  |MAP-true|  |med-true|  multimodal")
            for p, v in table.items():
                print(
                    f"    {p:<9} {v['coverage_68']:6.3f}  {v['coverage_95']:6.3f}  {v['calibration_error']:7.4f}  "
                    f"{v['median_abs_error_map']:9.4f}  {v['median_abs_error_median']:9.4f}  "
                    f"{v['multimodal_share']:8.3f}"
                )
        if args.train_noise_n:
            entry["training_noise"] = training_noise(
                posteriors, problem, args.train_noise_n, args.samples // 2, args.seed + 200
            )
        b = entry["bimodality"] = bimodality(
            posteriors, problem, args.ref_obs, args.ref_draws, args.samples, args.seed + 100
        )
        print(
            f"  logZ against the reference ({b['n_reliable']} of {2 * args.ref_obs} observations with ESS >= "
            f"{REFERENCE_MIN_ESS:g}, {b['n_reference_bimodal']} bimodal):"
        )
        for name in posteriors:
            v = b[name]
            print(
                f"    {name}: both modes found in {v['share_both_found']}; multimodal where the reference is "
                f"not: {v['multimodal_where_reference_unimodal']}; median |median shift| "
                f"{_number(v['median_abs_median_shift_dex'], '.3f')} dex, median 68 % width ratio to the reference "
                f"{_number(v['median_width_ratio_68'], '.2f')}"
            )
        fmt = lambda ms: ", ".join(f"{m:.2f} ({w:.2f})" for m, w in ms)  # noqa: E731
        for c in b["cases"]:
            if c["reference_bimodal"] and c["reliable"]:
                print(
                    f"    {c['lines']:<15} true {c['true_logZ']:+.2f}  reference (ESS {c['reference_ess']:.0f}): "
                    f"{fmt(c['reference_modes'])}  |  "
                    + "  |  ".join(
                        f"{name}: {fmt(c[name]['modes'])} both: {c[name]['both_found']}" for name in posteriors
                    )
                )
    problem = load_model(pretrained_path(False), "stars", make_problem)[1]
    result["forward_line_sets_per_s"] = forward_throughput(problem)
    print(f"\nforward model: {result['forward_line_sets_per_s']:.3g} line sets/s (noise-free y, batch of 10^6, CPU)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stars.json").write_text(json.dumps(result, indent=2))
    plot(curves, problem.x_names, RESULTS / "stars.png")


def plot(curves: dict, names, path: Path) -> None:
    """Calibration curves (coverage - q against q) per parameter: both models, network dashed, reweighted solid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    color = {p: f"C{i}" for i, p in enumerate(names)}
    for ax, mode in zip(axes, ("absolute", "ratios-only")):
        params = names[1:] if mode == "ratios-only" else names
        for name, style in (("cinn", "--"), ("cinn+is", "-")):
            q, c = curves[mode, name]
            for j, p in enumerate(params):
                ax.plot(q, c[:, j], style, color=color[p], label=f"{p}" if name == "cinn+is" else None)
        ax.axhline(0, color="k", lw=0.8)
        ax.axhspan(-0.01, 0.01, color="0.9", zorder=0)
        ax.set_xlabel("confidence level q")
        ax.set_title(f"{mode} model, r = 0.05: cINN dashed, reweighted solid", fontsize=9)
    axes[0].set_ylabel("coverage - q (positive: intervals too wide)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
