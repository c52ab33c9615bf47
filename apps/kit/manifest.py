"""run.json: what produced an output, so that a result can be cited and reproduced: invert's version, the command
line, the files read and written with their SHA-256, the simulator and training of a model, the settings (seed,
samples, chunk, device), the software versions, the start and end time, and for a main job the row counts per status.

An output folder holds its run.json (main jobs, `evaluate`); a single output file (the simulations of `simulate`, the
model of `train`) gets a sidecar beside it, `<file>.run.json`, written after the file itself is complete."""

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
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from .options import Hardware

__all__ = ["Manifest", "file_record", "sha256", "sidecar", "MODEL_FIELDS", "SIMULATION_FIELDS"]

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
    "camera",
    "ratios_only",
    "profile",
    "dust_law",
    "recipe",
)
SIMULATION_FIELDS = (
    "problem",
    "simulator",
    "n",
    "seed",
    "chunk",
    "snr",
    "camera",
    "library",
    "ratios_only",
    "profile",
    "dust_law",
)


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 24):
            digest.update(block)
    return digest.hexdigest()


def file_record(
    path: str | os.PathLike, metadata: Mapping[str, Any] | None = None, keys: Iterable[str] = ()
) -> dict[str, Any]:
    """Name, absolute path, size and SHA-256 of a file, with the entries `keys` of its metadata that it has."""
    path, metadata = Path(path), metadata or {}
    record = {"name": path.name, "path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": sha256(path)}
    return record | {k: metadata[k] for k in keys if k in metadata}


def sidecar(path: str | os.PathLike) -> Path:
    """The manifest beside an output file: m.invert -> m.invert.run.json."""
    path = Path(path)
    return path.with_name(f"{path.name}.run.json")


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
    """The manifest of one run, started with the run and written at its end: `finish` (a main job's run.json),
    `text` (an output folder's run.json) or `write_beside` (the sidecar of an output file). Fields that a command
    does not fill (None) are left out of the JSON."""

    input: dict[str, Any] | None = None  # the file read (main job: measurements; train, evaluate: simulations)
    model: dict[str, Any] | None = None  # the model file used, with its training metadata
    settings: dict[str, Any] = field(default_factory=dict)
    command: str = field(default_factory=lambda: shlex.join(["invert", *sys.argv[1:]]))
    started: str = field(default_factory=_now)
    finished: str = ""
    software: dict[str, str] = field(default_factory=_versions)
    machine: str = field(default_factory=lambda: f"{platform.platform()}, Python {platform.python_version()}")
    rows: dict[str, Any] | None = None  # main job: rows in total, with a posterior, per status
    outputs: list[str] | None = None  # an output folder's files
    simulator: dict[str, Any] | None = None  # simulate, evaluate: the problem and simulator version
    output: dict[str, Any] | None = None  # a sidecar's output file
    training_history: str | None = None  # train: the folder of the per-epoch losses

    @classmethod
    def start(
        cls,
        *,
        input: str | os.PathLike,
        model: str | os.PathLike,
        metadata: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> "Manifest":
        """A main job's manifest: a run on an input file with a model file (metadata: the model's training metadata)."""
        return cls(input=file_record(input), model=file_record(model, metadata, MODEL_FIELDS), settings=dict(settings))

    @classmethod
    def training(
        cls,
        sims: str | os.PathLike,
        metadata: Mapping[str, Any],
        *,
        method: str,
        seed: int,
        epochs: int | None,
        time_budget: float | None,
        hardware: "Hardware",
        log_dir: str | os.PathLike | None,
    ) -> "Manifest":
        """A training run's manifest: the simulation file (metadata: its own), the settings and the folder of the
        training history (None: none kept)."""
        settings = {"method": method, "seed": seed, "epochs": epochs, "time_budget_s": time_budget, **asdict(hardware)}
        history = str(Path(log_dir).resolve()) if log_dir is not None else None
        return cls(input=file_record(sims, metadata, SIMULATION_FIELDS), settings=settings, training_history=history)

    def finish(self, *, status_counts: Mapping[str, int], n_with_posterior: int, outputs: list[str]) -> str:
        """A main job's run.json: the manifest with the end time, the rows per status and the output files."""
        counts = {str(k): int(v) for k, v in status_counts.items()}
        self.rows = {"total": sum(counts.values()), "with_posterior": int(n_with_posterior), "per_status": counts}
        return self.text(outputs=outputs)

    def text(self, *, outputs: Iterable[str] | None = None) -> str:
        """The manifest as JSON text with the end time (and the files of its output folder)."""
        self.finished = _now()
        if outputs is not None:
            self.outputs = sorted(outputs)
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps({"invert_run": 1, **fields}, indent=2, default=str) + "\n"

    def write_model(self, path: str | os.PathLike, metadata: Mapping[str, Any]) -> Path:
        """The sidecar of a trained model file: its record with its training metadata, and the device it trained on."""
        self.settings["device"] = metadata.get("accelerator")
        return self.write_beside(path, metadata=metadata, keys=MODEL_FIELDS)

    def write_beside(
        self, path: str | os.PathLike, *, metadata: Mapping[str, Any] | None = None, keys: Iterable[str] = ()
    ) -> Path:
        """Record the finished output file `path` (with the entries `keys` of its metadata) and write the manifest
        beside it, atomically, as its sidecar; returns the sidecar's path."""
        from invert.core.outputs import atomic_write

        self.output = file_record(path, metadata, keys)
        target, text = sidecar(path), self.text()
        atomic_write(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return target

    def essentials(self) -> dict[str, str]:
        """What a report's footer shows of the manifest: version, model and input with the start of their SHA-256,
        seed, samples, device and torch; no times, so that a resumed run's report equals an uninterrupted one's."""
        items = {"invert": self.software.get("invert", "?")}
        for key, record in (("model", self.model), ("input", self.input)):
            if record:
                items[key] = f"{record['name']} (SHA-256 {record['sha256'][:12]}\u2026)"
        for key, label in (("seed", "seed"), ("n_samples", "samples per row"), ("device", "device")):
            if key in self.settings:
                items[label] = str(self.settings[key])
        items["torch"] = self.software.get("torch", "?")
        items["full record:"] = "run.json"
        return items
