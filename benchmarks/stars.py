"""Posterior accuracy and speed of the stars app on held-out simulations (issue 5; stars.md V7).

On --n held-out draws from the prior (a seed the models never saw) measured with 5 % errors on every line
(r_j = 0.05, no masking; the 0.02 dex model floor and Gaussian noise as in training), for the shipped
absolute and ratios-only models: coverage of the central 68 % and 95 % intervals and calibration error
(paper's definition) per parameter, median |MAP - true| and |median - true|, the share of logZ posteriors
flagged multimodal; then bimodality against a reference on a few observations; forward-model throughput
(line sets per second) and inference throughput (observations per second at --samples samples each).

Reference posteriors: the package's likelihood-weighted sampling from the prior
(invert.apps.stars.reference.reference_posterior, as `invert stars evaluate`): --abc-draws prior draws of
(logt, logZ, logU, A_V) weighted by the Gaussian likelihood of the measured log line values, logM integrated
analytically, resampled by weight. The observations: --abc-obs draws with all
lines and as many with only the blue lines ([OII], Hbeta, [OIII], HeI, [OI]: Halpha, [NII], [SII] redshifted
out), where the science note expects two logZ branches. References with fewer than MIN_ESS effective draws are
left out. A reference is bimodal in logZ when its (resampled) samples have two modes
(invert.core.summaries.modes) at least MIN_SEPARATION_DEX apart; the cINN "finds both" when its own samples have
two or more modes and each of the reference's two heaviest lies within MODE_MATCH_DEX of one. For all reliable
references: the shift of the cINN's logZ median and the ratio of the 68 % interval widths.
Writes benchmarks/results/stars.json and stars.png.

    python benchmarks/stars.py [--n 1000] [--samples 4096] [--abc-obs 60] [--abc-draws 4000000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from invert.apps.stars.linelist import NAMES
from invert.apps.stars.problem import BLUE_LINES, FixedErrorStars
from invert.apps.stars.reference import MIN_ESS, reference_posterior
from invert.apps.stars.run import load_model, pretrained_path
from invert.core.diagnostics import calibration_curve, calibration_error, coverage
from invert.core.summaries import map_estimate, modes, multimodal

RESULTS = Path(__file__).parent / "results"
R = 0.05
MODE_MATCH_DEX = 0.1  # a cINN mode this close to a reference mode finds it
MIN_SEPARATION_DEX = 0.15  # reference modes closer than this are one branch
GOALS = {"coverage_tolerance": 0.03, "calibration_error": 0.01, "A_V_median_abs_map_error": 0.15}


def held_out(problem, n: int, seed: int, lines: tuple[str, ...] = NAMES) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from the prior with every line of `lines` at r = 0.05 (FixedErrorStars), the model's mode."""
    test = FixedErrorStars(R, lines, ratios_only=problem.ratios_only, profile=problem.profile, dust_law=problem.dust_law)
    gen = torch.Generator().manual_seed(seed)
    x = test.sample_prior(n, gen)
    return x.numpy(), test.simulate(x, gen).numpy()


def accuracy(post, problem, x: np.ndarray, y: np.ndarray, n_samples: int) -> tuple[dict, np.ndarray, float]:
    """Per-parameter coverage, calibration and errors; the samples; inference seconds."""
    t0 = time.perf_counter()
    s = post.sample(y, n_samples, seed=1)
    seconds = time.perf_counter() - t0
    cov = coverage(s, x, np.array([0.68, 0.95]))
    cal = calibration_error(s, x)
    err_map = np.median(np.abs(map_estimate(s) - x), axis=0)
    err_median = np.median(np.abs(np.median(s, axis=1) - x), axis=0)
    modal = multimodal(s).mean(axis=0)
    table = {p: {"coverage_68": float(cov[0, j]), "coverage_95": float(cov[1, j]), "calibration_error": float(cal[j]),
                 "median_abs_error_map": float(err_map[j]), "median_abs_error_median": float(err_median[j]),
                 "multimodal_share": float(modal[j])} for j, p in enumerate(problem.x_names)}
    return table, s, seconds


def forward_throughput(problem, n: int = 1_000_000) -> float:
    """Noise-free forward model (12 line luminosities + y encoding) per second, one batch of n."""
    x = problem.sample_prior(n, torch.Generator().manual_seed(5))
    problem.forward(x[:1000])
    t0 = time.perf_counter()
    problem.forward(x)
    return n / (time.perf_counter() - t0)


def _interval(z: np.ndarray) -> tuple[float, float, float]:
    lo, mid, hi = np.quantile(z, [0.16, 0.5, 0.84])
    return float(mid), float(lo), float(hi)


def bimodality(post, problem, n_obs: int, draws: int, samples: int, seed: int) -> dict:
    """cINN logZ marginals against the ABC reference on n_obs all-line and n_obs blue-only observations."""
    cases = []
    j = problem.x_names.index("logZ")
    for label, lines in (("all lines", NAMES), ("blue lines only", BLUE_LINES)):
        x, y = held_out(problem, n_obs, seed + (label != "all lines"), lines)
        ref, ess = reference_posterior(problem, y, draws, seed + 7)
        ref = ref[:, :, j]
        s = post.sample(y, samples, seed=3)[:, :, j]
        for k in range(n_obs):
            ref_modes, net_modes = modes(ref[k][:, None])[0], modes(s[k][:, None])[0]
            case = {"lines": label, "true_logZ": float(x[k, j]), "abc_ess": float(ess[k]), "abc_modes": ref_modes,
                    "cinn_modes": net_modes, "abc_interval": _interval(ref[k]), "cinn_interval": _interval(s[k])}
            case["reliable"] = case["abc_ess"] >= MIN_ESS
            major = sorted(ref_modes[:2])
            case["abc_bimodal"] = bool(len(ref_modes) >= 2 and major[1][0] - major[0][0] >= MIN_SEPARATION_DEX)
            if case["abc_bimodal"]:
                near = [min(abs(m - n) for n, _ in net_modes) for m, _ in ref_modes[:2]]
                case["both_found"] = bool(len(net_modes) >= 2 and max(near) <= MODE_MATCH_DEX)
            cases.append(case)
    reliable = [c for c in cases if c["reliable"]]
    bimodal = [c for c in reliable if c["abc_bimodal"]]
    shift = [abs(c["cinn_interval"][0] - c["abc_interval"][0]) for c in reliable]
    width = [(c["cinn_interval"][2] - c["cinn_interval"][1]) / max(c["abc_interval"][2] - c["abc_interval"][1], 1e-9)
             for c in reliable]
    return {"cases": cases, "n_reliable": len(reliable), "n_reference_bimodal": len(bimodal),
            "share_both_found": float(np.mean([c["both_found"] for c in bimodal])) if bimodal else None,
            "cinn_multimodal_where_reference_unimodal": int(sum(len(c["cinn_modes"]) > 1 for c in reliable
                                                                if not c["abc_bimodal"])),
            "median_abs_median_shift_dex": float(np.median(shift)) if shift else None,
            "median_width_ratio_68": float(np.median(width)) if width else None}


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="held-out simulations")
    parser.add_argument("--samples", type=int, default=4096, help="posterior samples per observation")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the held-out simulations")
    parser.add_argument("--abc-obs", type=int, default=60, help="observations of each kind compared with ABC")
    parser.add_argument("--abc-draws", type=int, default=4_000_000, help="prior draws per ABC reference")
    args = parser.parse_args()

    result = {"held_out": args.n, "samples": args.samples, "r": R, "goals": GOALS, "models": {},
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}}
    curves = {}
    for ratios_only in (False, True):
        post, problem = load_model(pretrained_path(ratios_only))
        x, y = held_out(problem, args.n, args.seed)
        table, s, seconds = accuracy(post, problem, x, y, args.samples)
        curves[ratios_only] = calibration_curve(s, x)
        mode = "ratios-only" if ratios_only else "absolute"
        result["models"][mode] = {
            "model": pretrained_path(ratios_only).name, "n_sims_trained": post.metadata.get("n_sims"),
            "parameters": table, "inference_obs_per_s": args.n / seconds,
            "calibration_curve": {"q": curves[ratios_only][0].round(4).tolist(),
                                  "coverage_minus_q": curves[ratios_only][1].round(4).tolist()},
            "bimodality": bimodality(post, problem, args.abc_obs, args.abc_draws, args.samples, args.seed + 100),
        }
        print(f"\n{mode} model ({result['models'][mode]['n_sims_trained']} simulations), {args.n} held-out, r = {R}:")
        print("  parameter  cov68   cov95   cal.err  |MAP-true|  |med-true|  multimodal")
        for p, v in table.items():
            print(f"  {p:<9} {v['coverage_68']:6.3f}  {v['coverage_95']:6.3f}  {v['calibration_error']:7.4f}  "
                  f"{v['median_abs_error_map']:9.4f}  {v['median_abs_error_median']:9.4f}  {v['multimodal_share']:8.3f}")
        b = result["models"][mode]["bimodality"]
        print(f"  inference: {result['models'][mode]['inference_obs_per_s']:.1f} observations/s at {args.samples} samples")
        print(f"  logZ against ABC ({b['n_reliable']} of {2 * args.abc_obs} observations with ESS >= {MIN_ESS}): "
              f"{b['n_reference_bimodal']} bimodal in the reference, both modes found in {b['share_both_found']}; "
              f"cINN multimodal where the reference is not: {b['cinn_multimodal_where_reference_unimodal']}; "
              f"median |median shift| {b['median_abs_median_shift_dex']:.3f} dex, "
              f"median 68 % width ratio cINN/ABC {b['median_width_ratio_68']:.2f}")
        for c in b["cases"]:
            if c["abc_bimodal"] and c["reliable"]:
                fmt = lambda ms: ", ".join(f"{m:.2f} ({w:.2f})" for m, w in ms)  # noqa: E731
                print(f"    {c['lines']:<15} true {c['true_logZ']:+.2f}  ABC (ESS {c['abc_ess']:.0f}): "
                      f"{fmt(c['abc_modes'])}  |  cINN: {fmt(c['cinn_modes'])}  both found: {c['both_found']}")
    problem = load_model(pretrained_path(False))[1]
    result["forward_line_sets_per_s"] = forward_throughput(problem)
    print(f"\nforward model: {result['forward_line_sets_per_s']:.3g} line sets/s (noise-free y, batch of 10^6, CPU)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stars.json").write_text(json.dumps(result, indent=2))
    plot(curves, load_model(pretrained_path(False))[1].x_names, RESULTS / "stars.png")


def plot(curves: dict, names, path: Path) -> None:
    """Calibration curves (coverage - q against q) per parameter, both models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    color = {p: f"C{i}" for i, p in enumerate(names)}
    for ax, (ratios_only, (q, c)) in zip(axes, curves.items()):
        params = names[1:] if ratios_only else names
        for j, p in enumerate(params):
            ax.plot(q, c[:, j], label=p, color=color[p])
        ax.axhline(0, color="k", lw=0.8)
        ax.axhspan(-0.01, 0.01, color="0.9", zorder=0)
        ax.set_xlabel("confidence level q")
        ax.set_title(("ratios-only" if ratios_only else "absolute") + " model, r = 0.05")
    axes[0].set_ylabel("coverage - q (positive: intervals too wide)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
