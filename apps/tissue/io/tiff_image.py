"""Reader of multispectral TIFF images (`invert tissue --input scan.tif --bands 470,480,...`), through tifffile.

The first image series of the file is the image, in one of two layouts, told apart by the file's own structure
(tifffile's axes), never by the sizes: one page per band (pages = bands, each height x width, as one series or as
pages written one by one; also a single page with the bands stored as separate planes), or one page with the bands
as samples of each pixel (height x width x bands). `--bands` lists the wavelengths in the order of the pages (or
samples). Uncompressed series are memory-mapped; compressed ones and loose pages are decoded into memory whole.
tifffile is imported only here, when a TIFF is read.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from ...kit.errors import InputError
from .image_stack import Image, image_from

__all__ = ["open_tiff"]

IMAGE_AXES = frozenset("YX")  # tifffile's axes of the image plane; the one other axis holds the bands


@contextmanager
def _complaints() -> Iterator[list[str]]:
    """The messages tifffile logs meanwhile (it logs, and reads on, where a file is damaged), kept off the terminal."""
    found: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(re.sub(r"^<[^>]*>\s*", "", " ".join(record.getMessage().split())))  # without "<TiffPages @8>"

    logger, handler = logging.getLogger("tifffile"), Keep(logging.WARNING)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _pages(name: str, tif) -> np.ndarray:
    """Every page of a TIFF file as the bands of one image (H, W, pages); InputError unless the pages are alike."""
    pages = [page.asarray() for page in tif.pages]
    if len({(p.shape, p.dtype) for p in pages}) > 1 or pages[0].ndim != 2:
        found = ", ".join(f"{p.shape} {p.dtype}" for p in pages[:4])
        raise InputError(f"{name}: its {len(pages)} pages differ ({found}, ...); one page per band needs equal pages")
    return np.stack(pages, axis=-1)


def open_tiff(path: str | os.PathLike, bands_nm: Sequence[float], bands: Sequence[float] | None) -> Image:
    """Open a multi-page (pages = bands) or multi-sample TIFF image; InputError if unusable or tifffile is missing."""
    name = os.fspath(path)
    try:
        import tifffile
    except ImportError:
        raise InputError(f"{name}: reading TIFF images needs the tifffile package (pip install tifffile)") from None
    if not os.path.isfile(path):
        raise InputError(f"input file not found: {name}")
    try:
        with _complaints() as complaints, tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, shape = series.axes, series.shape
            if complaints:  # e.g. pages past the end of a truncated file, skipped
                raise InputError(f"{name} is a damaged TIFF file ({complaints[0]})")
            if len(shape) == 2 and len(tif.pages) > 1:  # pages written one by one, each its own series
                return image_from(name, _pages(name, tif), bands_nm, bands)
            if len(shape) != 3 or not IMAGE_AXES <= set(axes):
                raise InputError(
                    f"{name} holds an image of shape {shape} (axes {axes}); a multispectral TIFF needs one page "
                    "per band, or one page of height x width x bands"
                )
            try:
                data = tifffile.memmap(path, series=0, mode="r")
            except ValueError:  # compressed or scattered pages: decode into memory
                data = series.asarray()
    except InputError:
        raise
    except Exception as err:  # tifffile reports damaged files with many exception types (TiffFileError, struct.error)
        why = " ".join(str(err).split()) or type(err).__name__
        raise InputError(f"{name} is not a readable TIFF image ({why})") from None
    band_axis = next(i for i, a in enumerate(axes) if a not in IMAGE_AXES)
    return image_from(name, np.moveaxis(data, band_axis, -1), bands_nm, bands)
