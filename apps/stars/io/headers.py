"""What the headers of a FITS file say without reading any data: column names, data shapes, spectral axes,
numeric keywords; which HDU of several holds the data; and the list of HDUs that error messages show."""

from __future__ import annotations

import math
from collections.abc import Callable

from astropy.io import fits

from invert.apps.kit.errors import InputError

__all__ = [
    "NOT_DATA",
    "SPECTRAL_CTYPES",
    "column_names",
    "describe_hdus",
    "first_hdu",
    "has_data",
    "header_number",
    "spectral_ctype",
]

SPECTRAL_CTYPES = ("AWAV", "WAVE")
# image HDUs with these names hold errors, masks or wavelengths, never the data
NOT_DATA = {
    "ERR",
    "ERROR",
    "ERRS",
    "SIGMA",
    "VAR",
    "VARIANCE",
    "IVAR",
    "STAT",
    "DQ",
    "MASK",
    "QUALITY",
    "WAVE",
    "WAVELENGTH",
}


def header_number(header: fits.Header, key: str, source: str, default: float | None = None) -> float | None:
    """A numeric keyword as float (default, maybe None, when absent); InputError when it is not a finite number."""
    value = header.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{source}: {key} = {value!r} is not a finite number")
    return float(value)


def has_data(hdu: fits.hdu.base._BaseHDU) -> bool:
    """The HDU has a non-empty data part."""
    h = hdu.header
    return h.get("NAXIS", 0) > 0 and all(h.get(f"NAXIS{k}", 0) > 0 for k in range(1, h["NAXIS"] + 1))


def first_hdu(hdul: fits.HDUList, test: Callable[[fits.hdu.base._BaseHDU], bool]) -> int | None:
    """Index of the HDU named DATA among those that pass test, else of the first that does; None if none does."""
    found = [i for i, hdu in enumerate(hdul) if test(hdu)]
    if not found:
        return None
    return next((i for i in found if hdul[i].name.upper() == "DATA"), found[0])


def spectral_ctype(header: fits.Header, axis: int) -> str:
    """The upper-case CTYPE of an axis without its algorithm code ('AWAV-LOG' -> 'AWAV')."""
    return str(header.get(f"CTYPE{axis}", "")).strip().upper().split("-")[0]


def column_names(hdu: fits.BinTableHDU) -> list[str]:
    """Column names of a binary table from its header (no data read)."""
    return [str(hdu.header.get(f"TTYPE{k}", "")).strip() for k in range(1, hdu.header.get("TFIELDS", 0) + 1)]


def describe_hdus(hdul: fits.HDUList) -> str:
    """HDUs as 'index name type shape' for messages."""
    parts = []
    for i, hdu in enumerate(hdul):
        if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
            shape = f"{hdu.header.get('NAXIS2', 0)} rows x {hdu.header.get('TFIELDS', 0)} columns"
        else:
            axes = range(1, hdu.header.get("NAXIS", 0) + 1)
            shape = "x".join(str(hdu.header.get(f"NAXIS{k}", 0)) for k in axes) or "empty"
        parts.append(f"{i} {hdu.name or '-'} {type(hdu).__name__} {shape}")
    return "; ".join(parts)
