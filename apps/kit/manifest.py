"""run.json: what produced an output folder, so that a result can be cited and reproduced: invert's version, the
command line, the input and model files with their SHA-256, the model's simulator and training, the settings
(seed, samples, chunk, device), the software versions, the start and end time, and the row counts per status."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Mapping

__all__ = ["Manifest", "file_record", "sha256"]

SOFTWARE = ("invert", "torch", "pytorch-lightning", "numpy", "pandas", "astropy")
MODEL_FIELDS = (
    "problem",
    "simulator",
    "method",
    "n_sims",
    "sims_seed",
    "seed",
    "train_time_s",
    "accelerator",
    "epochs_run",
    "command",
    "snr",
    "ratios_only",
    "profile",
    "dust_law",
    "recipe",
)


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 24):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    """Name, absolute path, size and SHA-256 of a file."""
    path = Path(path)
    return {"name": path.name, "path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": sha256(path)}


def _versions() -> dict[str, str]:
    found = {}
    for name in SOFTWARE:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Manifest:
    """The manifest of one run, filled in as the run goes and written as run.json at its end."""

    input: dict[str, Any]
    model: dict[str, Any]
    settings: dict[str, Any]
    command: str = field(default_factory=lambda: shlex.join(["invert", *sys.argv[1:]]))
    started: str = field(default_factory=_now)
    finished: str = ""
    software: dict[str, str] = field(default_factory=_versions)
    machine: str = field(default_factory=lambda: f"{platform.platform()}, Python {platform.python_version()}")
    rows: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        *,
        input: str | os.PathLike,
        model: str | os.PathLike,
        metadata: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> "Manifest":
        """A manifest for a run on an input file with a model file (metadata: the model's training metadata)."""
        model_record = file_record(model) | {k: metadata[k] for k in MODEL_FIELDS if k in metadata}
        return cls(input=file_record(input), model=model_record, settings=dict(settings))

    def finish(self, *, status_counts: Mapping[str, int], n_with_posterior: int, outputs: list[str]) -> str:
        """The manifest as JSON text, with the end time, the rows per status and the output files."""
        self.finished = _now()
        counts = {str(k): int(v) for k, v in status_counts.items()}
        self.rows = {"total": sum(counts.values()), "with_posterior": int(n_with_posterior), "per_status": counts}
        self.outputs = sorted(outputs)
        return json.dumps({"invert_run": 1, **asdict(self)}, indent=2, default=str) + "\n"
