"""The honesty checks of `invert stars` on simulations from its own model (issue 22): when the importance reweighting
falls short (core.importance.MIN_ESS) and how often the posterior-predictive check calls an object the model made a
bad fit (model.predictive.BAD_FIT_P).

For each shipped model, on --n draws from the prior with the training noise model ("training noise": errors 1-30 %,
masks, coverage gaps, non-detections) and on --n draws with 5 % errors on every line ("5 % errors", FixedErrorStars),
from seed --seed (the shipped models were trained on simulations of seed 0): the network's draws and the reweighted
draws (model.likelihood.reweighted_posterior: the model's exact posterior, as `invert stars --likelihood-power 1` runs
it) of every object, whatever its effective sample size (ESS), scored against the truth by the coverage of their
central 68 % and 95 % intervals (mean over the parameters), per bin of the ESS. Where the reweighted draws cover the
truth worse than the network's, reweighting is worse than keeping the network's draws: that sets MIN_ESS. Then the
p-value of the posterior-predictive check of the posterior `invert stars` reported when BAD_FIT_P was chosen (the
reweighted draws, the network's below MIN_ESS; the present code resamples those by tempered weights instead): its
quantiles and the share of objects below each candidate threshold, with its binomial standard error; no object here is
outside the model, so that share is the rate of false bad-fit flags (pooled over the four sets at BAD_FIT_P:
`bad_fit_rate`).

    python benchmarks/stars_checks.py [--n 400] [--samples 4096] [--seed 7001] [--plain-rounds] [--out FILE]

--plain-rounds draws every round of proposals from the network (the reweighting before adaptive rounds, where many
more objects end with few effective draws). Writes benchmarks/results/stars_checks.json or --out (with every
object's ESS, coverage and p-values, to re-bin).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from records import args_record

from invert.apps.kit.models import load_model
from invert.apps.stars.model.likelihood import reweighted_posterior
from invert.apps.stars.model.predictive import BAD_FIT_P, predictive_check
from invert.apps.stars.model.problem import FixedErrorStars
from invert.apps.stars.run import make_problem, pretrained_path
from invert.core.importance import MIN_ESS

RESULTS = Path(__file__).parent / "results"
ESS_BINS = (0, 20, 50, 100, 200, 400, np.inf)
P_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def simulations(problem, kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of n prior draws with the training noise or 5 % errors; objects without a detected Hbeta dropped."""
    sim = problem if kind == "training noise" else FixedErrorStars(0.05, ratios_only=problem.ratios_only)
    gen = torch.Generator().manual_seed(seed)
    x = sim.sample_prior(n, gen)
    y = sim.simulate(x, gen).numpy()
    keep = np.isfinite(y).all(axis=1)
    return x.numpy()[keep], y[keep]


def inside(samples: np.ndarray, x: np.ndarray, level: float) -> np.ndarray:
    """(B,) share of the parameters whose central `level` interval holds the truth."""
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return ((lo <= x) & (x <= hi)).mean(axis=1)


def by_ess(ess: np.ndarray, values: dict[str, np.ndarray]) -> list[dict]:
    """Mean of each value per ESS bin, with the number of objects."""
    rows = []
    for lo, hi in zip(ESS_BINS[:-1], ESS_BINS[1:]):
        sel = (ess >= lo) & (ess < hi)
        rows.append(
            {"ess": f"{lo:g}-{hi:g}", "n": int(sel.sum())}
            | {k: round(float(v[sel].mean()), 3) if sel.any() else None for k, v in values.items()}
        )
    return rows


def false_flags(p: np.ndarray) -> dict[str, dict[str, float]]:
    """Share of p-values below each candidate threshold with its binomial standard error."""
    out = {}
    for t in P_THRESHOLDS:
        rate = float((p < t).mean())
        out[f"{t:g}"] = {"rate": round(rate, 4), "se": round(float(np.sqrt(rate * (1 - rate) / len(p))), 4)}
    return out


def one_set(network, problem, kind: str, n: int, samples: int, seed: int, plain: bool) -> dict:
    """Coverage by ESS and the p-values of the check on one set of simulations (plain: every round of proposals
    from the network, none adapted)."""
    x, y = simulations(problem, kind, n, seed)
    reweighting = reweighted_posterior(network, problem)  # as `invert stars --likelihood-power 1` runs it ...
    reweighting.min_ess = 0.0  # ... but keeping every object's reweighted draws, whatever its ESS
    if plain:
        reweighting.adaptive = None
    t0 = time.perf_counter()
    reweighted, diagnostics = reweighting.draw(y, samples, seed=1)
    own = network.sample(y, samples, seed=1)  # the first round of proposals: the network's own draws
    seconds = time.perf_counter() - t0
    ess = diagnostics["ess"].astype(float)
    reported = np.where((ess < MIN_ESS)[:, None, None], own, reweighted)
    p = {name: predictive_check(problem, s, y, seed=0).p_value for name, s in (("reported", reported), ("cinn", own))}
    cover = {
        f"{name}_{int(level * 100)}": inside(s, x, level)
        for name, s in (("reweighted", reweighted), ("cinn", own))
        for level in (0.68, 0.95)
    }
    result = {
        "n": len(y),
        "seconds": round(seconds, 1),
        "ess_quantiles_1_10_50_90": np.percentile(ess, [1, 10, 50, 90]).round(0).tolist(),
        "share_below_min_ess": round(float((ess < MIN_ESS).mean()), 4),
        "coverage_by_ess": by_ess(ess, cover),
        "p_value_quantiles_1_5_50": {k: np.percentile(v, [1, 5, 50]).round(4).tolist() for k, v in p.items()},
        "false_bad_fit": {k: false_flags(v) for k, v in p.items()},
        "flagged_bad_fit": int((p["reported"] < BAD_FIT_P).sum()),
        "objects": {"ess": ess.round(1).tolist()}
        | {k: v.round(3).tolist() for k, v in cover.items()}
        | {f"p_{k}": v.round(4).tolist() for k, v in p.items()},
    }
    print(f"{kind}: {result['n']} objects, ESS 1/10/50/90 %: {result['ess_quantiles_1_10_50_90']}")
    for row in result["coverage_by_ess"]:
        print("  ", row)
    print(f"   bad fits at p < {BAD_FIT_P:g}: {result['flagged_bad_fit']} of {result['n']}")
    return result


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="simulations of each kind and model")
    parser.add_argument("--samples", type=int, default=4096, help="posterior samples per object")
    parser.add_argument("--seed", type=int, default=7001, help="seed of the simulations (never used for training)")
    parser.add_argument("--plain-rounds", action="store_true", help="every round of proposals from the network")
    parser.add_argument("--out", type=Path, default=RESULTS / "stars_checks.json", help="the results file")
    args = parser.parse_args()
    result = {
        "settings": args_record(args),
        "min_ess": MIN_ESS,
        "bad_fit_p": BAD_FIT_P,
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
        "models": {},
    }
    for ratios_only in (False, True):
        network, problem = load_model(pretrained_path(ratios_only), "stars", make_problem)
        mode = "ratios-only" if ratios_only else "absolute"
        print(f"{mode} model")
        result["models"][mode] = {
            kind: one_set(network, problem, kind, args.n, args.samples, args.seed + k, args.plain_rounds)
            for k, kind in enumerate(("training noise", "5 % errors"))
        }
    sets = [v for model in result["models"].values() for v in model.values()]
    flagged, n = sum(v["flagged_bad_fit"] for v in sets), sum(v["n"] for v in sets)
    result["bad_fit_rate"] = {"flagged": flagged, "n": n, "rate": round(flagged / n, 4)}
    result["share_below_min_ess"] = round(sum(v["share_below_min_ess"] * v["n"] for v in sets) / n, 4)
    print(f"bad fits at p < {BAD_FIT_P:g}: {flagged} of {n} simulations ({100 * flagged / n:.2f} %)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
