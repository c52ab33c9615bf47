"""Multispectral images for `invert tissue --input scan.npy --bands 470,480,...` (and the TIFF and ENVI readers):
the `Image` that streams pixels as rows, the checks every image format shares (`image_from`), and the .npy reader.

An image is an array of shape (H, W, bands) of raw intensities after dark/flat-field correction, any positive
scale (tissue.md section 8), usually a memory map, so images of any size stream a block of image rows at a time.
Its bands (from `--bands`, or an ENVI header) must be the model's bands, no fewer and no more (bands.match_bands).
Pixels become rows in row-major order (id = flat pixel index, row and col = pixel coordinates) and get the CSV
reader's per-row flags: a NaN band is missing, an infinite or non-positive band makes the pixel unusable;
integer data at the full scale of 8, 12 or 16 bits are flagged as saturated.

A .npy image is a NumPy array of shape (H, W, bands) written with numpy.save, read through a memory map.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .bands import match_bands, nm
from .csv_scan import SATURATION_LEVELS, InputError, Scan, flag_band_values

__all__ = ["Image", "image_from", "open_npy", "parse_bands"]


def parse_bands(text: str) -> list[float]:
    """'470,480,511' -> [470.0, 480.0, 511.0]; InputError for anything else."""
    try:
        bands = [float(b.strip().lower().removesuffix("nm")) for b in text.split(",") if b.strip()]
    except ValueError:
        raise InputError(
            f"--bands must be wavelengths in nm separated by commas (e.g. 470,480,511), not {text!r}"
        ) from None
    if not bands:
        raise InputError("--bands is empty; give the wavelength (nm) of each band of the image, separated by commas")
    return bands


@dataclass
class Image:
    """An (H, W, bands) image opened for streaming; `band_index` picks the model's bands from the last axis."""

    path: str
    data: np.ndarray  # (H, W, n_file_bands), usually a memory map (ENVI BSQ and BIL: a transposed view of one)
    band_index: tuple[int, ...]
    band_names: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return self.data.shape[0], self.data.shape[1]

    @property
    def n_pixels(self) -> int:
        return self.shape[0] * self.shape[1]

    def chunks(self, chunk_rows: int) -> Iterator[Scan]:
        """Scans of whole image rows, about chunk_rows pixels each."""
        h, w = self.shape
        lines = max(1, chunk_rows // max(w, 1))
        for r0 in range(0, h, lines):
            block = np.asarray(self.data[r0 : r0 + lines][:, :, list(self.band_index)])
            yield self._scan(block.reshape(-1, len(self.band_index)), r0)

    def _scan(self, values: np.ndarray, r0: int) -> Scan:
        n, w = len(values), self.shape[1]
        flat = np.arange(r0 * w, r0 * w + n)
        status = np.full(n, "ok", dtype=object)

        def flag(mask: np.ndarray, reason: str) -> None:
            status[mask & (status == "ok")] = reason

        raw = values.astype(np.float64)
        for b, band in enumerate(self.band_names):
            flag(np.isnan(raw[:, b]), f"missing value in {band}")
            flag_band_values(raw[:, b], band, flag)
        ok = status == "ok"
        raw[~ok] = np.nan
        saturated = (
            ok & np.isin(np.where(ok[:, None], raw, 0).max(axis=1), SATURATION_LEVELS)
            if np.issubdtype(values.dtype, np.integer)
            else np.zeros(n, dtype=bool)
        )
        return Scan(
            ids=flat.astype(str).astype(object),
            raw=raw,
            status=status,
            pixel=np.stack([flat // w, flat % w], axis=1),
            saturated=saturated,
        )


def image_from(
    name: str, data: np.ndarray, bands_nm: Sequence[float], bands: Sequence[float] | None, where: str = "--bands"
) -> Image:
    """An Image of data (H, W, bands) whose bands are `bands` (listed in `where`); InputError if unusable."""
    if data.dtype.kind not in "iuf":  # integers or floats; not booleans, complex numbers, times or text
        raise InputError(f"{name} holds {data.dtype} values; an image must hold integer or float intensities")
    if math.prod(data.shape[:2]) == 0:
        raise InputError(f"{name} has no pixels (shape {data.shape})")
    if bands is None:
        raise InputError(
            f"{name}: give the wavelength (nm) of each of its {data.shape[2]} bands with --bands, in the "
            f"order of the file (the model's bands: {nm(bands_nm)})"
        )
    if len(bands) != data.shape[2]:
        raise InputError(f"{name} has {data.shape[2]} bands but {where} lists {len(bands)} wavelengths")
    index = match_bands(name, bands, bands_nm, where)
    return Image(name, data, index, tuple(f"{b:g}" for b in bands_nm))


def open_npy(path: str | os.PathLike, bands_nm: Sequence[float], bands: Sequence[float] | None) -> Image:
    """Open an (H, W, bands) .npy image and match its bands (--bands) to the model's bands_nm; InputError if
    unusable."""
    name = os.fspath(path)
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"input file not found: {name}") from None
    except (OSError, ValueError, OverflowError, SyntaxError, MemoryError) as err:  # damaged headers raise any of them
        why = "no NumPy header" if "pickled" in str(err) else " ".join(str(err).split())  # numpy's own advice: unsafe
        raise InputError(f"{name} is not a readable NumPy .npy array ({why})") from None
    if not isinstance(data, np.ndarray):
        raise InputError(f"{name} is not a NumPy .npy array (an .npz archive?); save the image with numpy.save")
    if data.ndim != 3:
        raise InputError(f"{name} has shape {data.shape}; an image must be (height, width, bands)")
    return image_from(name, data, bands_nm, bands)
