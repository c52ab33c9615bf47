"""Opening a user FITS file safely and telling which input layout it holds (stars.md section 4, first match wins).

A file that is not FITS, is empty or truncated (also inside its first header), has an invalid BITPIX, or whose
headers astropy cannot read raises InputError. Checksum and standard-conformance problems only warn: the file is
verified with astropy's "fix" option and every message becomes one warning line.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

from astropy.io import fits

from .errors import InputError
from .linetable import FLUX_COLUMN

__all__ = ["Layout", "column_names", "damaged_error", "describe_hdus", "detect_layout", "header_number", "open_fits",
           "spectral_ctype"]

SPECTRAL_CTYPES = ("AWAV", "WAVE")
LONG_TABLE_COLUMNS = {"LINENAME", "LINEWAVE", "LINEAREA", "LINEAREA_ERR"}
NOT_DATA = {"ERR", "ERROR", "ERRS", "SIGMA", "VAR", "VARIANCE", "IVAR", "STAT", "DQ", "MASK", "QUALITY", "WAVE",
            "WAVELENGTH"}
WAVE_COLUMNS = {"WAVE", "WAVELENGTH", "LAMBDA", "LAM", "LOGLAM", "LOGLAMBDA"}
BITPIX_VALUES = (8, 16, 32, 64, -32, -64)
BLOCK = 2880  # bytes of a FITS block
MAX_HEADER_BYTES = 1000 * BLOCK  # how far to look for the END card of a damaged first header
MAX_REASON = 200  # characters of astropy's message quoted (a misread header can make it long)


@dataclass(frozen=True)
class Layout:
    """The detected layout (key of observations.LAYOUTS) and the HDU that holds the data."""

    key: str
    hdu: int


def open_fits(path: str | os.PathLike, warn: list[str]) -> fits.HDUList:
    """Open a FITS file with memory mapping, checksums checked and headers verified ("fix"); InputError if unusable."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise InputError(f"input file not found: {name}")
    if os.path.isdir(name):
        raise InputError(f"{name} is a directory, not a FITS file")
    size = os.path.getsize(name)
    if size == 0:
        raise InputError(f"{name} is empty")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # memmap=None maps the file as True does, but lets astropy scale integer images (BZERO/BSCALE/BLANK)
            hdul = fits.open(name, memmap=None, checksum=True, lazy_load_hdus=False)
        except OSError as err:
            raise _open_error(name, size, err) from None
        except Exception as err:  # noqa: BLE001 - astropy raises many kinds for damaged files
            raise damaged_error(name, err) from None
        try:
            _check_data_keywords(hdul, name)  # before verify("fix"), which replaces an invalid BITPIX
            try:
                hdul.verify("fix")
            except Exception as err:  # noqa: BLE001 - an unfixable header problem; the readers may still cope
                warn.append(f"{name}: FITS verification found problems it cannot fix: {_one_line(err)}")
            messages = [_one_line(w.message) for w in caught if not issubclass(w.category, ResourceWarning)]
            _check_sizes(hdul, name, size, messages)
        except InputError:
            hdul.close()
            raise
        except Exception as err:  # noqa: BLE001 - headers misread from a damaged file fail in many ways
            hdul.close()
            raise damaged_error(name, err) from None
    warn.extend(f"{name}: {m}" for m in dict.fromkeys(messages))
    return hdul


def damaged_error(name: str, err: BaseException) -> InputError:
    """The InputError for a file that astropy fails to read part of."""
    reason = _one_line(err)
    reason = reason if len(reason) <= MAX_REASON else reason[:MAX_REASON] + "..."
    return InputError(f"{name} is truncated or damaged: {type(err).__name__}: {reason}")


def header_number(header: fits.Header, key: str, source: str, default: float | None = None) -> float | None:
    """A numeric keyword as float (default, maybe None, when absent); InputError when it is not a finite number."""
    value = header.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{source}: {key} = {value!r} is not a finite number")
    return float(value)


def detect_layout(hdul: fits.HDUList, name: str) -> Layout:
    """The first layout A-D that matches one of the HDUs; InputError naming the HDUs otherwise."""
    hint = " (it is compressed: it may be truncated)" if os.path.isfile(name) and _compressed(name) else ""
    if not any(_has_data(hdu) for hdu in hdul):
        raise InputError(f"{name} holds no data (no HDU has data){hint}: {describe_hdus(hdul)}")
    for key, test in (("A", _is_sdss), ("B", _is_spectrum_1d), ("C", _is_cube), ("D", _is_line_table)):
        found = [i for i, hdu in enumerate(hdul) if test(hdu)]
        if found:
            named = [i for i in found if hdul[i].name.upper() == "DATA"]
            return Layout(key, (named or found)[0])
    tables = [i for i, hdu in enumerate(hdul) if isinstance(hdu, fits.BinTableHDU)
              and WAVE_COLUMNS & {c.upper() for c in column_names(hdu)}]
    table_hint = (f"; HDU {tables[0]} is a table with a wavelength column, but spectra in tables are read only in "
                  "SDSS form (columns flux, loglam, ivar)") if tables else ""
    raise InputError(f"{name}: unrecognised FITS layout{hint}; HDUs: {describe_hdus(hdul)}{table_hint}")


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


def spectral_ctype(header: fits.Header, axis: int) -> str:
    """The upper-case CTYPE of an axis without its algorithm code ('AWAV-LOG' -> 'AWAV')."""
    return str(header.get(f"CTYPE{axis}", "")).strip().upper().split("-")[0]


def column_names(hdu: fits.BinTableHDU) -> list[str]:
    """Column names of a binary table from its header (no data read)."""
    return [str(hdu.header.get(f"TTYPE{k}", "")).strip() for k in range(1, hdu.header.get("TFIELDS", 0) + 1)]


def _has_data(hdu: fits.hdu.base._BaseHDU) -> bool:
    """The HDU has a non-empty data part."""
    h = hdu.header
    return h.get("NAXIS", 0) > 0 and all(h.get(f"NAXIS{k}", 0) > 0 for k in range(1, h["NAXIS"] + 1))


def _is_sdss(hdu: fits.hdu.base._BaseHDU) -> bool:
    """A binary table with flux, loglam and ivar columns."""
    return isinstance(hdu, fits.BinTableHDU) and {"FLUX", "LOGLAM", "IVAR"} <= {c.upper() for c in column_names(hdu)}


def _is_spectrum_1d(hdu: fits.hdu.base._BaseHDU) -> bool:
    """An image with one axis longer than 1 (the first), CRVAL1 and CDELT1 or CD1_1."""
    h = hdu.header
    if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU) or not _has_data(hdu) or hdu.name.upper() in NOT_DATA:
        return False
    others = [h.get(f"NAXIS{k}", 0) for k in range(2, h["NAXIS"] + 1)]
    return h.get("NAXIS1", 0) > 1 and all(n == 1 for n in others) and "CRVAL1" in h and ("CDELT1" in h or "CD1_1" in h)


def _is_cube(hdu: fits.hdu.base._BaseHDU) -> bool:
    """A 3-axis image whose third axis is a wavelength (CTYPE3 AWAV or WAVE)."""
    h = hdu.header
    return (isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU) and h.get("NAXIS") == 3 and _has_data(hdu)
            and hdu.name.upper() not in NOT_DATA and spectral_ctype(h, 3) in SPECTRAL_CTYPES)


def _is_line_table(hdu: fits.hdu.base._BaseHDU) -> bool:
    """A binary table with line-flux columns like HA6562_FLUX, or LINENAME/LINEWAVE/LINEAREA/LINEAREA_ERR."""
    if not isinstance(hdu, fits.BinTableHDU):
        return False
    names = column_names(hdu)
    return LONG_TABLE_COLUMNS <= {n.upper() for n in names} or any(FLUX_COLUMN.match(n) for n in names)


def _open_error(name: str, size: int, err: OSError) -> InputError:
    """The InputError for a file astropy cannot open: compressed and damaged, cut short, or not FITS at all."""
    if _compressed(name):
        return InputError(f"{name} is a compressed file that is truncated or damaged ({_one_line(err)})")
    with open(name, "rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    if not head.startswith(b"SIMPLE  ="):
        return InputError(f"{name} is not a FITS file (no SIMPLE card at its start)")
    end = next((i for i in range(0, len(head) - 79, 80) if head[i:i + 8] == b"END     "), None)
    if end is None or size < -(-(end + 80) // BLOCK) * BLOCK:
        return InputError(f"{name} is truncated: it ends inside its first header ({size} bytes"
                          f"{', no END card' if end is None else ''})")
    return InputError(f"{name} is truncated or damaged: {_one_line(err)}")


def _check_data_keywords(hdul: fits.HDUList, name: str) -> None:
    """InputError for an HDU whose BITPIX is not a FITS data type, or whose BSCALE or BZERO is not a number."""
    for i, hdu in enumerate(hdul):
        if (bitpix := hdu.header.get("BITPIX")) not in BITPIX_VALUES:
            raise InputError(f"{name}: HDU {i} has BITPIX = {bitpix!r}, not a FITS data type "
                             f"({', '.join(map(str, BITPIX_VALUES))})")
        for key in ("BSCALE", "BZERO"):
            header_number(hdu.header, key, f"{name} HDU {i}")
        if hdu.header.get("BSCALE") == 0:
            raise InputError(f"{name} HDU {i}: BSCALE = 0 makes every value equal to BZERO")


def _check_sizes(hdul: fits.HDUList, name: str, size: int, messages: list[str]) -> None:
    """InputError when astropy's warnings say the file is cut short, or an HDU's data reach beyond its end."""
    if any("truncated" in m or "Header size is not" in m or "Error validating header" in m for m in messages):
        raise InputError(f"{name} is truncated or damaged: "
                         f"{next(m for m in messages if 'runcat' in m or 'eader' in m)}")
    if _compressed(name):  # a compressed file's size says nothing about its HDUs
        return
    for i, hdu in enumerate(hdul):
        info = hdul.fileinfo(i)
        if info is not None and info["datLoc"] + hdu._data_size > size:
            raise InputError(f"{name} is truncated: HDU {i} needs {info['datLoc'] + hdu._data_size} bytes, "
                             f"the file has {size}")


def _compressed(name: str) -> bool:
    """The file starts with the magic bytes of gzip, bzip2, zip or xz (astropy opens these transparently)."""
    with open(name, "rb") as f:
        head = f.read(6)
    return head.startswith((b"\x1f\x8b", b"BZh", b"PK\x03\x04", b"\xfd7zXZ"))


def _one_line(message: object) -> str:
    """A warning or error message squeezed onto one line."""
    return " ".join(str(message).split())
