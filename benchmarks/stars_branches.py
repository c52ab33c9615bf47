"""Both logZ branches over sampling seeds: the proposals of the later importance-sampling rounds compared.

benchmarks/stars.py's multi-modality check draws each posterior once (seed 3), on the few observations whose
reference is bimodal (7 and 6 in its run), so its count of cases with both branches found moves by two or three
from one seed to the next. This benchmark takes the same observations, references and criteria
(benchmarks/stars.py: held_out, reference_posterior, MIN_SEPARATION_DEX, MODE_MATCH_DEX) and draws the reweighted
posterior of every bimodal case with --seeds sampling seeds (3, 4, ...; seed 3 is stars.py's draw) for three
proposals of the later rounds: every round from the network ("network"), a single adaptive Student-t
("one t", ADAPTIVE_ROUNDS with components=1) and the shipped mixture ("mixture", ADAPTIVE_ROUNDS). Writes
benchmarks/results/stars_branches.json.

    python benchmarks/stars_branches.py [--seeds 8] [--ref-obs 60] [--ref-draws 4000000] [--samples 4096]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
from stars import MIN_SEPARATION_DEX, MODE_MATCH_DEX, RESULTS, held_out

from invert.apps.kit.models import load_model
from invert.apps.stars.model.approximate_reference import REFERENCE_MIN_ESS, reference_posterior
from invert.apps.stars.model.likelihood import ADAPTIVE_ROUNDS, reweighted_posterior
from invert.apps.stars.model.linelist import NAMES
from invert.apps.stars.model.problem import BLUE_LINES
from invert.apps.stars.run import make_problem, pretrained_path
from invert.core.summaries import modes

PROPOSALS = {"network": None, "one t": dataclasses.replace(ADAPTIVE_ROUNDS, components=1), "mixture": ADAPTIVE_ROUNDS}


def bimodal_cases(problem, n_obs: int, draws: int, seed: int) -> list[tuple[np.ndarray, int, list]]:
    """(y, row, reference logZ modes) of the reliable bimodal references, as benchmarks/stars.py finds them."""
    j = problem.x_names.index("logZ")
    cases = []
    for label, lines in (("all lines", NAMES), ("blue lines only", BLUE_LINES)):
        _, y = held_out(problem, n_obs, seed + (label != "all lines"), lines)
        ref, ess = reference_posterior(problem, y, draws, seed + 7)
        for k in range(n_obs):
            ref_modes = modes(ref[k, :, j][:, None])[0]
            major = sorted(ref_modes[:2])
            if ess[k] >= REFERENCE_MIN_ESS and len(ref_modes) >= 2 and major[1][0] - major[0][0] >= MIN_SEPARATION_DEX:
                cases.append((y[k], k, ref_modes))
    return cases


def both_found(samples: np.ndarray, ref_modes: list) -> bool:
    """benchmarks/stars.py's criterion: two or more modes, one within MODE_MATCH_DEX of each of the reference's two."""
    found = modes(samples[:, None])[0]
    near = [min(abs(m - n) for n, _ in found) for m, _ in ref_modes[:2]]
    return bool(len(found) >= 2 and max(near) <= MODE_MATCH_DEX)


def main() -> None:
    """Run the comparison and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="sampling seeds 3, 4, ... per case")
    parser.add_argument("--ref-obs", type=int, default=60, help="observations of each kind (as benchmarks/stars.py)")
    parser.add_argument("--ref-draws", type=int, default=4_000_000, help="prior draws per reference posterior")
    parser.add_argument("--samples", type=int, default=4096, help="posterior samples per observation")
    parser.add_argument("--seed", type=int, default=2024, help="benchmarks/stars.py's seed")
    args = parser.parse_args()
    seeds = list(range(3, 3 + args.seeds))
    result = {"command": "python benchmarks/stars_branches.py " + f"--seeds {args.seeds}", "seeds": seeds}
    result |= {"samples": args.samples, "models": {}}
    for ratios_only in (False, True):
        mode = "ratios-only" if ratios_only else "absolute"
        network, problem = load_model(pretrained_path(ratios_only), "stars", make_problem)
        cases = bimodal_cases(problem, args.ref_obs, args.ref_draws, args.seed + 100)
        y, rows = np.stack([c[0] for c in cases]), np.array([c[1] for c in cases])
        j = problem.x_names.index("logZ")
        entry = result["models"][mode] = {"bimodal_cases": len(cases)}
        for name, settings in PROPOSALS.items():
            post = reweighted_posterior(network, problem)
            post.adaptive = settings
            t0 = time.perf_counter()
            found, ess = [], []
            for seed in seeds:
                s, diagnostics = post.draw(y, args.samples, seed=seed, rows=rows)
                found.append([both_found(s[i, :, j], c[2]) for i, c in enumerate(cases)])
                ess.append(diagnostics["ess"])
            entry[name] = {
                "both_found_per_seed": [int(sum(f)) for f in found],
                "both_found_share": float(np.mean(found)),
                "ess_median": float(np.median(ess)),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(
                f"{mode}, {name}: both branches in {sum(map(sum, found))} of {len(cases) * len(seeds)} "
                f"(per seed {entry[name]['both_found_per_seed']}), median ESS {entry[name]['ess_median']:.0f}"
            )
    (RESULTS / "stars_branches.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
