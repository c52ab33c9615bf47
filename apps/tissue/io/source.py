"""Opening a scan of any kind as chunks of rows: a CSV table, or an image through the reader of its suffix
(`IMAGE_READERS`: .npy, TIFF, ENVI), each an opener (path, model bands, --bands) -> Image."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...kit.errors import InputError
from .csv_scan import Scan, count_rows, iter_scan
from .envi_image import DATA_SUFFIXES, open_envi
from .image_stack import Image, open_npy
from .tiff_image import open_tiff

__all__ = ["ScanSource", "open_scan", "open_image", "IMAGE_READERS"]

Opener = Callable[[str | os.PathLike, Sequence[float], Sequence[float] | None], Image]
IMAGE_READERS: dict[str, Opener] = {
    ".npy": open_npy,
    ".tif": open_tiff,
    ".tiff": open_tiff,
    ".hdr": open_envi,
    **{suffix: open_envi for suffix in DATA_SUFFIXES if suffix},
}


@dataclass
class ScanSource:
    """An opened scan: its chunks, about how many rows, file-level warnings, and the image shape of an image."""

    chunks: Iterator[Scan]
    n_rows: int
    approximate: bool  # n_rows is an estimate (CSV line count)
    image_shape: tuple[int, int] | None = None
    warnings: list[str] = field(default_factory=list)


def open_image(path: Path, bands_nm: Sequence[float], bands: Sequence[float] | None) -> Image | None:
    """The image at path through the reader of its suffix (None: not an image suffix); InputError if unusable."""
    opener = IMAGE_READERS.get(path.suffix.lower())
    return None if opener is None else opener(path, bands_nm, bands)


def open_scan(path: Path, bands_nm: Sequence[float], bands: Sequence[float] | None, chunk_rows: int) -> ScanSource:
    """A CSV (bands named in its header) or an image (bands from --bands or an ENVI header); InputError if unusable."""
    image = open_image(path, bands_nm, bands)
    if image is not None:
        return ScanSource(image.chunks(chunk_rows), image.n_pixels, False, image.shape, image.warnings)
    if bands is not None:
        images = ", ".join(sorted(IMAGE_READERS))
        raise InputError(f"--bands is for images ({images}); the CSV {path} names its bands in its header")
    chunks = iter_scan(path, bands_nm, chunk_rows)
    first = next(chunks)  # the header's problems surface here, before any output
    return ScanSource(itertools.chain([first], chunks), count_rows(path), True, None, first.warnings)
