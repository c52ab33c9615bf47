"""Reader of ENVI images (`invert tissue --input scan.hdr`): a text header and a raw data file, memory-mapped.

The header (`scan.hdr`, or `scan.img.hdr`) starts with the line `ENVI` and holds `key = value` lines, a value in
braces `{...}` may span lines. Read: samples, lines, bands (required), data type (1, 2, 3, 4, 5, 12, 13, 14, 15:
8- to 64-bit integers and floats), interleave (bsq, bil or bip; default bsq), byte order (0 little-endian, 1
big-endian; default 0), header offset (bytes before the data; default 0), and `wavelength = {...}` with
`wavelength units` (nanometers by default; micrometers are converted), which make --bands optional. The data
file is the header's name without `.hdr`, or with `.img`, `.raw`, `.dat`, `.bsq`, `.bil` or `.bip` in its place;
either file may be given as the input. A small parser and numpy.memmap rather than a library: the few keys above
are the whole format for this purpose, and every defect must become one line naming it before any work (the
Spectral Python reader, for one, opens a truncated data file without complaint).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...kit.errors import InputError
from .bands import BAND_TOLERANCE_NM, nm
from .image_stack import Image, image_from

__all__ = ["open_envi", "read_header", "DATA_SUFFIXES"]

DATA_TYPES = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8", 15: "u8"}
DATA_SUFFIXES = ("", ".img", ".raw", ".dat", ".bsq", ".bil", ".bip")
# the axes of each interleave in file order (the memory map is viewed back as lines x samples x bands)
INTERLEAVE = {
    "bsq": ("bands", "lines", "samples"),
    "bil": ("lines", "bands", "samples"),
    "bip": ("lines", "samples", "bands"),
}
MICROMETRES = frozenset({"micrometers", "micrometres", "microns", "um", "µm"})
MAX_HEADER_BYTES = 1 << 20
ENTRY = re.compile(r"^\s*([^=]+?)\s*=\s*(.*)$")


def read_header(path: Path) -> dict[str, str]:
    """The `key = value` entries of an ENVI header (keys lower-case, braced values joined); InputError if it is
    not one."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_HEADER_BYTES + 1)
    except OSError as err:
        raise InputError(f"cannot read the ENVI header {path}: {err.strerror or err}") from None
    if len(raw) > MAX_HEADER_BYTES or b"\x00" in raw:
        raise InputError(f"{path} is not an ENVI header (binary or over {MAX_HEADER_BYTES >> 20} MiB of text)")
    lines = raw.decode("utf-8", errors="replace").splitlines()
    if not lines or lines[0].strip() != "ENVI":
        raise InputError(f"{path} is not an ENVI header (its first line is not 'ENVI')")
    entries: dict[str, str] = {}
    i = 1
    while i < len(lines):
        match = ENTRY.match(lines[i])
        i += 1
        if not match:
            continue  # blank lines and comments
        key, value = match.group(1).strip().lower(), match.group(2).strip()
        if value.startswith("{"):
            while "}" not in value and i < len(lines):
                value += " " + lines[i].strip()
                i += 1
            if "}" not in value:
                raise InputError(f"{path}: the value of {key!r} opens a brace that never closes")
            value = value[1 : value.index("}")].strip()
        entries[key] = value
    return entries


def _integer(path: Path, entries: dict[str, str], key: str, default: int | None = None, low: int = 0) -> int:
    """An integer entry of the header, at least `low`; InputError if it is missing (without a default) or not one."""
    if key not in entries:
        if default is None:
            raise InputError(f"{path}: the ENVI header lacks {key!r}")
        return default
    try:
        value = int(entries[key])
    except ValueError:
        raise InputError(f"{path}: {key!r} in the ENVI header is {entries[key]!r}, not an integer") from None
    if value < low:
        raise InputError(f"{path}: {key!r} in the ENVI header is {value}, below {low}")
    return value


def _wavelengths(path: Path, entries: dict[str, str]) -> list[float] | None:
    """The header's band wavelengths in nm (None without them); InputError if they are not numbers."""
    if "wavelength" not in entries:
        return None
    try:
        values = [float(v) for v in entries["wavelength"].replace(",", " ").split()]
    except ValueError:
        raise InputError(f"{path}: 'wavelength' in the ENVI header is not a list of numbers") from None
    scale = 1000.0 if entries.get("wavelength units", "").strip().lower() in MICROMETRES else 1.0
    return [v * scale for v in values]


def _paths(path: Path) -> tuple[Path, Path]:
    """(header, data file) of an ENVI image given either; InputError when one is missing."""
    if path.suffix.lower() == ".hdr":
        header = path
        base = path.with_suffix("")
        candidates = [base.with_name(base.name + s) for s in DATA_SUFFIXES]
        data = next((c for c in candidates if c.is_file()), None)
        if not header.is_file():
            raise InputError(f"input file not found: {header}")
        if data is None:
            tried = ", ".join(base.name + s for s in DATA_SUFFIXES if s)
            raise InputError(f"{header}: no ENVI data file beside it (looked for {base.name}, {tried})")
        return header, data
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    header = next((h for h in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")) if h.is_file()), None)
    if header is None:
        raise InputError(f"{path}: no ENVI header beside it ({path.with_suffix('.hdr').name}); raw data need one")
    return header, path


def open_envi(path: str | os.PathLike, bands_nm: Sequence[float], bands: Sequence[float] | None) -> Image:
    """Open an ENVI image (header or data file given) and match its bands (--bands, else the header's wavelengths)
    to the model's bands_nm; InputError if unusable."""
    header, data_path = _paths(Path(path))
    entries = read_header(header)
    size = {key: _integer(header, entries, key, low=1) for key in ("samples", "lines", "bands")}
    code = _integer(header, entries, "data type")
    if code not in DATA_TYPES:
        raise InputError(
            f"{header}: ENVI data type {code} is not supported (1, 2, 3, 4, 5, 12, 13, 14, 15: integers and floats)"
        )
    order = _integer(header, entries, "byte order", default=0)
    if order not in (0, 1):
        raise InputError(f"{header}: 'byte order' in the ENVI header is {order}; 0 (little-endian) or 1 (big-endian)")
    interleave = entries.get("interleave", "bsq").strip().lower()
    if interleave not in INTERLEAVE:
        raise InputError(f"{header}: interleave {interleave!r} is not bsq, bil or bip")
    offset = _integer(header, entries, "header offset", default=0)
    dtype = np.dtype(DATA_TYPES[code]).newbyteorder("<" if order == 0 else ">")
    axes = INTERLEAVE[interleave]
    shape = tuple(size[a] for a in axes)
    need = offset + math.prod(shape) * dtype.itemsize  # Python integers: no overflow for absurd headers
    have = data_path.stat().st_size
    if have < need:
        raise InputError(
            f"{data_path} holds {have:,} bytes but its ENVI header ({header.name}) describes {need:,} "
            f"({size['lines']} lines x {size['samples']} samples x {size['bands']} bands of {dtype.itemsize} bytes"
            f"{f' after {offset} header bytes' if offset else ''}): truncated, or the header does not belong to it"
        )
    try:
        raw = np.memmap(data_path, dtype=dtype, mode="r", offset=offset, shape=shape)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {data_path}: {' '.join(str(err).split())}") from None
    image = raw.transpose([axes.index(a) for a in ("lines", "samples", "bands")])
    where, found = "--bands", _wavelengths(header, entries)
    differs = (
        bands is not None
        and found is not None
        and (len(bands) != len(found) or not np.allclose(bands, found, rtol=0, atol=BAND_TOLERANCE_NM))
    )
    if bands is None and found is not None:
        bands, where = found, f"the wavelengths of {header.name}"
    image = image_from(str(data_path), image, bands_nm, bands, where)
    if differs:
        image.warnings.append(f"--bands overrides the wavelengths in {header.name} ({nm(found)} nm)")
    return image
