"""Opening a scan of either kind, a CSV table or an (H, W, bands) .npy image stack, as chunks of rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...kit.errors import InputError
from .csv_scan import Scan, count_rows, iter_scan
from .image_stack import open_image

__all__ = ["ScanSource", "open_scan"]


@dataclass
class ScanSource:
    """An opened scan: its chunks, about how many rows, file-level warnings, and the image shape of a .npy stack."""

    chunks: Iterator[Scan]
    n_rows: int
    approximate: bool  # n_rows is an estimate (CSV line count)
    image_shape: tuple[int, int] | None = None
    warnings: list[str] = field(default_factory=list)


def open_scan(path: Path, bands_nm: Sequence[float], bands: Sequence[float] | None, chunk_rows: int) -> ScanSource:
    """A CSV (bands named in its header) or an (H, W, bands) .npy image (bands from --bands); InputError if unusable."""
    if path.suffix.lower() == ".npy":
        image = open_image(path, bands_nm, bands)
        return ScanSource(image.chunks(chunk_rows), image.n_pixels, False, image.shape, image.warnings)
    if bands is not None:
        raise InputError(f"--bands is for .npy images; the CSV {path} names its bands in its header")
    chunks = iter_scan(path, bands_nm, chunk_rows)
    first = next(chunks)  # the header's problems surface here, before any output
    return ScanSource(itertools.chain([first], chunks), count_rows(path), True, None, first.warnings)
