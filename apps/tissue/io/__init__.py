"""Readers of `invert tissue`'s inputs: scans as CSV tables (csv_scan) and images (.npy: image_stack, TIFF:
tiff_image, ENVI: envi_image), all opened as chunks of rows (`Scan`) by `open_scan`; every reader applies the
band rule of `bands`."""

from ...kit.errors import InputError
from .bands import BAND_TOLERANCE_NM, match_bands
from .csv_scan import (
    CHUNK_ROWS,
    SATURATION_LEVELS,
    Scan,
    count_rows,
    flag_band_values,
    iter_scan,
    read_scan,
    saturation_warnings,
)
from .image_stack import Image, parse_bands
from .source import IMAGE_READERS, ScanSource, open_image, open_scan

__all__ = [
    "InputError",
    "Scan",
    "ScanSource",
    "Image",
    "open_scan",
    "open_image",
    "IMAGE_READERS",
    "match_bands",
    "parse_bands",
    "iter_scan",
    "read_scan",
    "count_rows",
    "saturation_warnings",
    "flag_band_values",
    "BAND_TOLERANCE_NM",
    "CHUNK_ROWS",
    "SATURATION_LEVELS",
]
