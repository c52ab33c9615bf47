"""Readers of `invert tissue`'s inputs: scans as CSV tables (csv_scan) and image stacks (image_stack), both
opened as chunks of rows (`Scan`) by `open_scan`."""

from ...kit.errors import InputError
from .csv_scan import (
    BAND_TOLERANCE_NM,
    CHUNK_ROWS,
    SATURATION_LEVELS,
    Scan,
    count_rows,
    flag_band_values,
    iter_scan,
    read_scan,
    saturation_warnings,
)
from .image_stack import Image, open_image, parse_bands
from .source import ScanSource, open_scan

__all__ = [
    "InputError",
    "Scan",
    "ScanSource",
    "Image",
    "open_scan",
    "open_image",
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
