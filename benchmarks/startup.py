"""Startup time of the command line (issue: a quick and courteous command line), side by side with an earlier tree.

Times `invert --help`, `invert tissue --help`, `invert stars --help`, `invert demo --help` and `invert --version`:
wall clock of a fresh interpreter each time, the median of --repeats runs, the two trees run alternately. Each
tree is imported from its own folder (invert.core -> core/, invert.apps -> apps/, invert.data -> data/, as the
package maps them) by a small launcher, so both run with the same Python and packages. Also records which of the
engine's heavy packages each command line loaded.

    git worktree add --detach /tmp/invert_before 45be68e
    python benchmarks/startup.py --before /tmp/invert_before
    git worktree remove --force /tmp/invert_before

Writes --out (default benchmarks/results/startup.json) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from records import ROOT, args_record, portable

COMMANDS = (["--help"], ["tissue", "--help"], ["stars", "--help"], ["demo", "--help"], ["--version"])
ENGINE = ("torch", "lightning", "pytorch_lightning", "astropy", "scipy", "matplotlib", "pandas", "numpy")

# python -c LAUNCH ROOT ARGS...: `invert ARGS...` with the package imported from the tree at ROOT; with
# $STARTUP_LOADED set, the engine packages it loaded are written there as JSON on the way out.
LAUNCH = """
import atexit, json, os, sys
from importlib.util import spec_from_file_location

root = sys.argv[1]
FOLDERS = {"invert.core": "core", "invert.apps": "apps", "invert.data": "data"}


class Tree:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name not in FOLDERS:
            return None
        folder = os.path.join(root, FOLDERS[name])
        return spec_from_file_location(name, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])


sys.meta_path.insert(0, Tree)


def report(path=os.environ.get("STARTUP_LOADED"), engine=%r):
    if path:
        with open(path, "w") as fh:
            json.dump([m for m in engine if m in sys.modules], fh)


atexit.register(report)
sys.argv = ["invert", *sys.argv[2:]]
from invert.apps.cli import app

assert sys.modules["invert.apps.cli"].__file__.startswith(root), "imported the wrong tree"
app()
""" % (ENGINE,)


def launch(root: Path, args: list[str], env: dict[str, str]) -> float:
    """Seconds of wall clock of one fresh `invert ARGS` from the tree at root (its output discarded)."""
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", LAUNCH, str(root), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    seconds = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"invert {' '.join(args)} failed in {root}:\n{run.stderr.decode()}")
    return seconds


def loaded(root: Path, args: list[str], env: dict[str, str]) -> list[str]:
    """The engine packages that `invert ARGS` loads in the tree at root."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "loaded.json"
        launch(root, args, env | {"STARTUP_LOADED": str(report)})
        return json.loads(report.read_text())


def commit(root: Path) -> str | None:
    """The commit checked out at root (with "+changes" for uncommitted changes), or None outside git."""
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return None
    changes = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True)
    return head.stdout.strip() + ("+changes" if changes.stdout.strip() else "")


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the earlier tree (e.g. a git worktree)")
    parser.add_argument("--after", type=Path, default=ROOT, help="the tree measured against it (default: this one)")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per command and tree")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "startup.json")
    parser.add_argument("--note", default=None, help="a remark kept with the results (e.g. what the trees hold)")
    args = parser.parse_args()
    env = os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for root in trees.values():  # first runs compile the trees' bytecode and warm the file cache: not timed
        launch(root, ["--help"], env)

    rows = []
    for command in COMMANDS:
        times = {side: [] for side in trees}
        for _ in range(args.repeats):
            for side, root in trees.items():
                times[side].append(launch(root, command, env))
        row = {"command": " ".join(["invert", *command])}
        for side, root in trees.items():
            row[side] = {
                "median_s": statistics.median(times[side]),
                "runs_s": times[side],
                "engine_loaded": loaded(root, command, env),
            }
        row["speedup"] = row["before"]["median_s"] / row["after"]["median_s"]
        rows.append(row)

    record = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "args": args_record(args),
        "trees": {side: {"path": portable(root), "commit": commit(root)} for side, root in trees.items()},
        "commands": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")

    print("| command | before (s) | after (s) | speed-up | engine loaded before | after |")
    print("|---|---:|---:|---:|---|---|")
    for row in rows:
        b, a = row["before"], row["after"]
        print(
            f"| `{row['command']}` | {b['median_s']:.2f} | {a['median_s']:.2f} | {row['speedup']:.0f}x "
            f"| {', '.join(b['engine_loaded']) or 'none'} | {', '.join(a['engine_loaded']) or 'none'} |"
        )
    print(f"\nmedian of {args.repeats} fresh processes each; wrote {portable(args.out)}")


if __name__ == "__main__":
    main()
