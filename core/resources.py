"""Memory and disk needs of an analysis, checked before the work starts.

The posterior draws of one batch of observations sit in memory together: (rows, n_samples, dx) float32
values, a few copies of them while they are summarized, and the network's activations for up to
`Posterior.sample`'s chunk of draws at a time. `rows_per_batch` picks the largest batch (at most the
default) that fits the available memory, or refuses a setting that cannot fit even one row.
Results do not depend on the batch (a row's draws depend only on the seed and its row number).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = [
    "ResourceError",
    "available_memory",
    "check_chunk",
    "check_disk",
    "rows_per_batch",
    "samples_bytes",
    "SUMMARY_BYTES_PER_ROW",
]

SAMPLE_COPIES = 8  # float32 copies of a batch's draws alive at once (draws, proposals, sorted copies in summaries)
ACTIVATION_FLOATS_PER_HIDDEN = 3  # network activations per draw, in floats per hidden unit (tissue model: ~1.5 kB)
DRAWS_PER_PASS = 1 << 18  # draws sent through the network at once (Posterior.sample's chunk_rows)
MEMORY_SHARE = 0.7  # share of the available memory an analysis may plan to use
SUMMARY_BYTES_PER_ROW = 4096  # bytes of summary.csv (and its in-memory table) per input row, generously


class ResourceError(ValueError):
    """A setting that needs more memory or disk than this machine has; the message is one line."""


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable of /proc/meminfo, else the physical total)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def samples_bytes(n_rows: int, n_samples: int, dx: int) -> int:
    """Bytes of all posterior draws of n_rows rows as float32 (samples.npz)."""
    return int(n_rows) * int(n_samples) * int(dx) * 4


def rows_per_batch(n_samples: int, dx: int, hidden: int, default: int, memory: int | None = None) -> int:
    """Observations per analysis batch: default, or fewer where n_samples draws per row would not fit in memory;
    ResourceError naming --samples when one row alone does not fit."""
    budget = MEMORY_SHARE * (available_memory() if memory is None else memory)
    activations = max(n_samples, DRAWS_PER_PASS) * ACTIVATION_FLOATS_PER_HIDDEN * hidden * 4
    per_row = SAMPLE_COPIES * samples_bytes(1, n_samples, dx)
    if activations + per_row > budget:
        raise ResourceError(
            f"--samples {n_samples:,} needs about {(activations + per_row) / 2**30:,.1f} GiB of memory for one row; "
            f"{budget / MEMORY_SHARE / 2**30:,.1f} GiB are available; use fewer samples"
        )
    return int(max(1, min(default, (budget - activations) // per_row)))


def check_chunk(chunk_rows: int, n_rows: int, memory: int | None = None) -> None:
    """ResourceError naming --chunk when the summary rows of one chunk would not fit in memory."""
    need = min(chunk_rows, max(n_rows, 1)) * SUMMARY_BYTES_PER_ROW
    budget = MEMORY_SHARE * (available_memory() if memory is None else memory)
    if need > budget:
        raise ResourceError(
            f"--chunk {chunk_rows:,} rows needs about {need / 2**30:,.1f} GiB of memory; "
            f"{budget / MEMORY_SHARE / 2**30:,.1f} GiB are available; use a smaller --chunk"
        )


def check_disk(folder: str | os.PathLike, n_bytes: int, what: str) -> None:
    """ResourceError (one line) when `folder` (an existing folder) has less free disk space than n_bytes for `what`."""
    free = shutil.disk_usage(Path(folder)).free
    if n_bytes > free:
        raise ResourceError(
            f"{what} needs about {n_bytes / 2**30:,.1f} GiB of disk in {folder}, which has {free / 2**30:,.1f} GiB free"
        )
