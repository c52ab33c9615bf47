"""Opening a user FITS file safely and telling which input layout it holds (stars.md section 4, first match wins).

A file that is not FITS, is empty or truncated raises InputError. Checksum and standard-conformance problems
only warn: the file is verified with astropy's "fix" option and every message becomes one warning line.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from astropy.io import fits

from .errors import InputError
from .linetable import FLUX_COLUMN

__all__ = ["Layout", "column_names", "describe_hdus", "detect_layout", "open_fits", "spectral_ctype"]

SPECTRAL_CTYPES = ("AWAV", "WAVE")
LONG_TABLE_COLUMNS = {"LINENAME", "LINEWAVE", "LINEAREA", "LINEAREA_ERR"}
NOT_DATA = {"ERR", "ERROR", "ERRS", "SIGMA", "VAR", "VARIANCE", "IVAR", "STAT", "DQ", "MASK", "QUALITY", "WAVE", "WAVELENGTH"}


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
            hdul = fits.open(name, memmap=True, checksum=True, lazy_load_hdus=False)
        except OSError as err:
            if _compressed(name):
                raise InputError(f"{name} is a compressed file that is truncated or damaged ({_one_line(err)})") from None
            if "SIMPLE" in str(err) or "Empty or corrupt" in str(err):
                raise InputError(f"{name} is not a FITS file (no SIMPLE card at its start)") from None
            raise InputError(f"cannot read {name}: {err}") from None
        except Exception as err:  # noqa: BLE001 - astropy raises many kinds for damaged files
            raise InputError(f"{name} is truncated or damaged and cannot be read as FITS ({type(err).__name__}: {err})") from None
        try:
            hdul.verify("fix")
        except Exception as err:  # noqa: BLE001 - an unfixable header problem; the readers may still cope
            warn.append(f"{name}: FITS verification found problems it cannot fix: {_one_line(err)}")
    messages = [_one_line(w.message) for w in caught if not issubclass(w.category, ResourceWarning)]
    if any("truncated" in m or "Header size is not" in m or "Error validating header" in m for m in messages):
        hdul.close()
        raise InputError(f"{name} is truncated or damaged: {next(m for m in messages if 'runcat' in m or 'eader' in m)}")
    for i, hdu in enumerate(hdul if not _compressed(name) else []):  # a compressed file's size says nothing here
        info = hdul.fileinfo(i)
        if info is not None and info["datLoc"] + hdu._data_size > size:
            hdul.close()
            raise InputError(f"{name} is truncated: HDU {i} needs {info['datLoc'] + hdu._data_size} bytes, the file has {size}")
    warn.extend(f"{name}: {m}" for m in dict.fromkeys(messages))
    return hdul


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
    raise InputError(f"{name}: unrecognised FITS layout{hint}; HDUs: {describe_hdus(hdul)}")


def describe_hdus(hdul: fits.HDUList) -> str:
    """HDUs as 'index name type shape' for messages."""
    parts = []
    for i, hdu in enumerate(hdul):
        if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
            shape = f"{hdu.header.get('NAXIS2', 0)} rows x {hdu.header.get('TFIELDS', 0)} columns"
        else:
            shape = "x".join(str(hdu.header.get(f"NAXIS{k}", 0)) for k in range(1, hdu.header.get("NAXIS", 0) + 1)) or "empty"
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


def _compressed(name: str) -> bool:
    """The file starts with the magic bytes of gzip, bzip2, zip or xz (astropy opens these transparently)."""
    with open(name, "rb") as f:
        head = f.read(6)
    return head.startswith((b"\x1f\x8b", b"BZh", b"PK\x03\x04", b"\xfd7zXZ"))


def _one_line(message: object) -> str:
    """A warning or error message squeezed onto one line."""
    return " ".join(str(message).split())
