"""The adaptive importance-sampling rounds (core.adaptive_proposal, used by `invert stars`) on the package's OWN
simulations: do they keep the calibration that plain rounds (every round from the cINN) have there?

On --n prior draws of the shipped absolute model with the training noise (seed --seed, never used for training), the
reported posterior of `invert stars` (the reweighted draws; where the ESS ends below MIN_ESS, the draws resampled by
weights tempered to MIN_ESS) with plain and with adaptive rounds, for the likelihood to the power
--likelihood-power (1: the model's exact posterior; `invert stars` defaults to model.mismatch.LIKELIHOOD_POWER):
the share of objects reaching MIN_ESS, the median ESS and the 68 / 95 % coverage of each parameter's central
interval.

    python benchmarks/stars_independent_own.py [--n 200] [--seed 7101] [--likelihood-power 0.5 --tag power05]

Writes benchmarks/results/stars_independent_own[_TAG].json (the untagged file: power 1, measured before the low-ESS
draws were tempered, when they were the cINN's own).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from stars_checks import simulations

from invert.apps.kit.models import load_model
from invert.apps.stars.model.likelihood import ADAPTIVE_ROUNDS, reweighted_posterior
from invert.apps.stars.run import make_problem, pretrained_path
from invert.core.importance import MIN_ESS

RESULTS = Path(__file__).parent / "results"


def coverage(samples: np.ndarray, x: np.ndarray, level: float) -> list[float]:
    """Per parameter, the share of objects whose central `level` interval holds the truth."""
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return ((lo <= x) & (x <= hi)).mean(axis=0).round(3).tolist()


def main() -> None:
    """Run both reweightings on the same simulations and write the result (module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=7101)
    ap.add_argument("--likelihood-power", type=float, default=1.0)
    ap.add_argument("--tag", default="", help="suffix of the result file")
    args = ap.parse_args()
    power = args.likelihood_power
    network, problem = load_model(pretrained_path(False), "stars", make_problem)
    x, y = simulations(problem, "training noise", args.n, args.seed)
    result = {
        "command": f"python benchmarks/stars_independent_own.py --n {args.n} --seed {args.seed}"
        + (f" --likelihood-power {power:g}" * (power != 1))
        + (f" --tag {args.tag}" * bool(args.tag)),
        "likelihood_power": power,
        "objects": len(y),
        "samples": args.samples,
        "x_names": problem.x_names,
        "machine": platform.platform(),
    }
    for name, adaptive in (("plain", None), ("adaptive", ADAPTIVE_ROUNDS)):
        start = time.time()
        post = reweighted_posterior(network, problem, power)  # as `invert stars --likelihood-power` runs it ...
        post.adaptive = adaptive  # ... or with every round from the network
        samples, diag = post.draw(y, args.samples, seed=1)
        ess = diag["ess"].astype(float)
        result[name] = {
            "seconds": round(time.time() - start, 1),
            "share_ess_ge_min": round(float((ess >= MIN_ESS).mean()), 3),
            "median_ess": round(float(np.median(ess)), 1),
            "coverage68": coverage(samples, x, 0.68),
            "coverage95": coverage(samples, x, 0.95),
        }
        print(name, result[name], flush=True)
    name = "stars_independent_own" + (f"_{args.tag}" if args.tag else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
