"""Opening a user FITS file safely (stars.md section 4); which layout it holds is io.registry's business.

A file that is not FITS, is empty or truncated (also inside its first header), has an invalid BITPIX, or whose
headers astropy cannot read raises InputError. Checksum and standard-conformance problems only warn: the file is
verified with astropy's "fix" option and every message becomes one warning line.
"""

from __future__ import annotations

import os
import warnings

from astropy.io import fits

from invert.apps.kit.errors import InputError

from .headers import header_number

__all__ = ["checked_size", "damaged_error", "is_compressed", "open_fits"]

BITPIX_VALUES = (8, 16, 32, 64, -32, -64)
BLOCK = 2880  # bytes of a FITS block
MAX_HEADER_BYTES = 1000 * BLOCK  # how far to look for the END card of a damaged first header
MAX_REASON = 200  # characters of astropy's message quoted (a misread header can make it long)


def open_fits(path: str | os.PathLike, warn: list[str]) -> fits.HDUList:
    """Open a FITS file with memory mapping, checksums checked and headers verified ("fix"); InputError if unusable."""
    name = os.fspath(path)
    size = checked_size(name, "a FITS file")
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


def checked_size(name: str, what: str) -> int:
    """The size of an input file that exists, is a file and is not empty; InputError otherwise."""
    if not os.path.exists(name):
        raise InputError(f"input file not found: {name}")
    if os.path.isdir(name):
        raise InputError(f"{name} is a directory, not {what}")
    size = os.path.getsize(name)
    if size == 0:
        raise InputError(f"{name} is empty")
    return size


def damaged_error(name: str, err: BaseException) -> InputError:
    """The InputError for a file that astropy fails to read part of."""
    reason = _one_line(err)
    reason = reason if len(reason) <= MAX_REASON else reason[:MAX_REASON] + "..."
    return InputError(f"{name} is truncated or damaged: {type(err).__name__}: {reason}")


def _open_error(name: str, size: int, err: OSError) -> InputError:
    """The InputError for a file astropy cannot open: compressed and damaged, cut short, or not FITS at all."""
    if is_compressed(name):
        return InputError(f"{name} is a compressed file that is truncated or damaged ({_one_line(err)})")
    with open(name, "rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    if not head.startswith(b"SIMPLE  ="):
        return InputError(
            f"{name} is not a FITS file (no SIMPLE card at its start); catalogues are read by their extension "
            "(.csv, .ecsv, .vot, .xml)"
        )
    end = next((i for i in range(0, len(head) - 79, 80) if head[i : i + 8] == b"END     "), None)
    if end is None or size < -(-(end + 80) // BLOCK) * BLOCK:
        return InputError(
            f"{name} is truncated: it ends inside its first header ({size} bytes"
            f"{', no END card' if end is None else ''})"
        )
    return InputError(f"{name} is truncated or damaged: {_one_line(err)}")


def _check_data_keywords(hdul: fits.HDUList, name: str) -> None:
    """InputError for an HDU whose BITPIX is not a FITS data type, or whose BSCALE or BZERO is not a number."""
    for i, hdu in enumerate(hdul):
        if (bitpix := hdu.header.get("BITPIX")) not in BITPIX_VALUES:
            raise InputError(
                f"{name}: HDU {i} has BITPIX = {bitpix!r}, not a FITS data type ({', '.join(map(str, BITPIX_VALUES))})"
            )
        for key in ("BSCALE", "BZERO"):
            header_number(hdu.header, key, f"{name} HDU {i}")
        if hdu.header.get("BSCALE") == 0:
            raise InputError(f"{name} HDU {i}: BSCALE = 0 makes every value equal to BZERO")


def _check_sizes(hdul: fits.HDUList, name: str, size: int, messages: list[str]) -> None:
    """InputError when astropy's warnings say the file is cut short, or an HDU's data reach beyond its end."""
    if any("truncated" in m or "Header size is not" in m or "Error validating header" in m for m in messages):
        raise InputError(
            f"{name} is truncated or damaged: {next(m for m in messages if 'runcat' in m or 'eader' in m)}"
        )
    if is_compressed(name):  # a compressed file's size says nothing about its HDUs
        return
    for i, hdu in enumerate(hdul):
        info = hdul.fileinfo(i)
        if info is not None and info["datLoc"] + hdu._data_size > size:
            raise InputError(
                f"{name} is truncated: HDU {i} needs {info['datLoc'] + hdu._data_size} bytes, the file has {size}"
            )


def is_compressed(name: str) -> bool:
    """The file starts with the magic bytes of gzip, bzip2, zip or xz (astropy opens these transparently)."""
    with open(name, "rb") as f:
        head = f.read(6)
    return head.startswith((b"\x1f\x8b", b"BZh", b"PK\x03\x04", b"\xfd7zXZ"))


def _one_line(message: object) -> str:
    """A warning or error message squeezed onto one line."""
    return " ".join(str(message).split())
