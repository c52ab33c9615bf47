"""Reader of `invert tissue --input scan.csv` (tissue.md section 4): header checks, per-row flags, streaming in chunks.

A scan is a comma-separated UTF-8 file with one header row and one measurement per row: an optional
`id` column, optional `row` and `col` pixel coordinates, and one column per camera band whose header is
the wavelength in nm (`470`, `470nm`, `470 nm`, `470.0`; matched to the model's bands within 1 nm). The
band columns must be the model's bands, no fewer and no more (bands.match_bands); other columns are ignored
with a warning.

Problems with the whole file raise `InputError` with a one-line message (the CLI prints it and exits 2).
Problems with one row only (an empty, non-numeric, infinite or non-positive band value, a bad pixel
coordinate, a wrong number of fields) set that row's `status` to the reason and its band values to NaN;
the other rows are read normally. Files of any size stream in chunks (`iter_scan`).
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
import pandas as pd

from ...kit.errors import InputError
from ...kit.options import DEFAULT_CHUNK
from .bands import BAND_TOLERANCE_NM, match_bands

__all__ = ["InputError", "Scan", "iter_scan", "read_scan", "count_rows", "saturation_warnings"]

BAND_HEADER = re.compile(r"^\s*(\d{3,4}(?:\.\d+)?)\s*(?:nm)?\s*$", re.IGNORECASE)
SATURATION_LEVELS = (255, 4095, 65535)  # full scale of 8-, 12- and 16-bit integer data
MISSING_TOKENS = frozenset({"", "nan", "-nan", "na", "n/a", "null", "none"})  # cells read as "no value"
INTEGER_TEXT = re.compile(r"^\s*\+?\d+\s*$")
SNIFF_BYTES = 1 << 16  # start of the file checked for binary content and encoding before parsing
MAX_LISTED_COLUMNS = 12
CHUNK_ROWS = DEFAULT_CHUNK


@dataclass
class Scan:
    """Rows of a scan: ids, raw band values in the model's band order, per-row status and flags."""

    ids: np.ndarray  # (n,) object array of str
    raw: np.ndarray  # (n, n_bands) float64; NaN rows where status != "ok"
    status: np.ndarray  # (n,) object array of str: "ok" or the reason the row is unusable
    pixel: np.ndarray | None  # (n, 2) int64 [row, col], -1 where a coordinate is unusable; None without pixel columns
    saturated: np.ndarray  # (n,) bool: brightest band at the full scale of integer data
    warnings: list[str] = field(default_factory=list)  # file-level, one line each

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the usable rows."""
        return self.status == "ok"


@dataclass(frozen=True)
class _Layout:
    """What the header says: where each model band, the id and the pixel coordinates are."""

    n_fields: int
    band_cols: tuple[int, ...]  # column of each model band, in model band order
    band_names: tuple[str, ...]  # model bands as written in messages, e.g. "470"
    id_col: int | None
    pixel_cols: tuple[int, int] | None  # (row, col)
    warnings: tuple[str, ...]


def read_scan(path: str | os.PathLike, bands_nm: Sequence[float]) -> Scan:
    """Read a whole scan CSV into one Scan (columns matched to bands_nm); raises InputError for unusable files."""
    chunks = list(_chunks(path, bands_nm, CHUNK_ROWS))
    scan = Scan(
        ids=np.concatenate([c.ids for c in chunks]),
        raw=np.concatenate([c.raw for c in chunks]),
        status=np.concatenate([c.status for c in chunks]),
        pixel=None if chunks[0].pixel is None else np.concatenate([c.pixel for c in chunks]),
        saturated=np.concatenate([c.saturated for c in chunks]),
        warnings=chunks[0].warnings,
    )
    scan.warnings += saturation_warnings(scan.saturated, scan.ids)
    return scan


def iter_scan(path: str | os.PathLike, bands_nm: Sequence[float], chunk_rows: int = CHUNK_ROWS) -> Iterator[Scan]:
    """Stream a scan CSV as Scans of at most chunk_rows rows; the header's warnings ride on the first, saturation
    is left to the caller (`saturation_warnings`); an InputError may follow earlier chunks (a late duplicate id)."""
    return _chunks(path, bands_nm, chunk_rows)


def count_rows(path: str | os.PathLike) -> int:
    """About how many data rows a CSV file has (its line count less the header), for progress estimates."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines + (last != b"\n") - 1, 0)


def _chunks(path: str | os.PathLike, bands_nm: Sequence[float], chunk_rows: int) -> Iterator[Scan]:
    """The chunks of a scan (see iter_scan)."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    name = os.fspath(path)
    _check_start_of_file(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            records = _records(path, f)
            header = next(records, None)
            if header is None:
                raise InputError(f"{name} is empty")
            layout = _layout(path, header, bands_nm)
            seen = _SeenIds()
            start = 0
            while batch := [rec for _, rec in zip(range(chunk_rows), records)]:
                chunk = _parse(batch, layout, start)
                if layout.id_col is not None and (dup := seen.duplicate(chunk.ids)) is not None:
                    raise InputError(f"{name}: duplicate id {dup!r}; every row needs its own id")
                if start == 0:
                    chunk.warnings = list(layout.warnings)
                start += len(batch)
                yield chunk
            if start == 0:
                raise InputError(f"{name} has a header but no data rows")
    except OSError as err:
        raise _os_error(path, err) from None


def _os_error(path: str | os.PathLike, err: OSError) -> InputError:
    """One-line InputError for a file that cannot be opened or read."""
    name = os.fspath(path)
    if isinstance(err, FileNotFoundError):
        return InputError(f"input file not found: {name}")
    if isinstance(err, IsADirectoryError):
        return InputError(f"{name} is a directory, not a CSV file")
    if isinstance(err, PermissionError):
        return InputError(f"cannot read {name}: permission denied")
    return InputError(f"cannot read {name}: {err.strerror or err}")


def _check_start_of_file(path: str | os.PathLike) -> None:
    """Refuse binary, UTF-16 and non-UTF-8 files by their first bytes (later bad bytes are caught while reading)."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as err:
        raise _os_error(path, err) from None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"{name} is UTF-16 text; save it as UTF-8 CSV")
    if b"\x00" in head:
        raise InputError(f"{name} is a binary file, not CSV text")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError as err:
        raise InputError(
            f"{name} is not UTF-8 text (invalid byte at offset {err.start}); save it as UTF-8 CSV"
        ) from None


def _records(path: str | os.PathLike, text: TextIO) -> Iterator[list[str]]:
    """Non-blank CSV records of an open text file; decoding and CSV syntax errors become InputError naming the line."""
    reader = csv.reader(text, strict=True)  # strict: an unclosed quote must not swallow the rows after it
    try:
        for rec in reader:
            if rec and (len(rec) > 1 or rec[0].strip()):
                yield rec
    except UnicodeDecodeError:
        raise InputError(
            f"{os.fspath(path)} is not UTF-8 text (invalid bytes after line {reader.line_num}); save it as UTF-8 CSV"
        ) from None
    except csv.Error as err:
        raise InputError(f"{os.fspath(path)}: unreadable CSV at line {reader.line_num}: {err}") from None


def _layout(path: str | os.PathLike, header: list[str], bands_nm: Sequence[float]) -> _Layout:
    """Match header names to the model bands, id and pixel columns; InputError for an unusable header."""
    name = os.fspath(path)
    bands = np.asarray(bands_nm, dtype=float)
    band_names = tuple(f"{b:g}" for b in bands)
    if len(header) == 1:
        for delimiter, what in ((";", "semicolons"), ("\t", "tabs")):
            if delimiter in header[0]:
                raise InputError(
                    f"{name} is separated by {what} ({delimiter!r}); invert expects comma-separated values"
                )
    band_headers: list[tuple[int, float]] = []  # (column, wavelength) of every header that is a wavelength
    special: dict[str, int] = {}
    warnings: list[str] = []
    for j, text in enumerate(header):
        key = text.strip().lower()
        match = BAND_HEADER.match(text)
        if key in ("id", "row", "col"):
            if key in special:
                raise InputError(f"{name} has two {key!r} columns")
            special[key] = j
        elif match:
            band_headers.append((j, float(match.group(1))))
        elif key:
            warnings.append(f"ignoring column {text!r}: not a band wavelength, 'id', 'row' or 'col'")
        else:
            warnings.append(f"ignoring column {j + 1}: it has no header")
    for b, band in zip(bands, band_names):
        same = [j for j, wavelength in band_headers if abs(wavelength - b) <= BAND_TOLERANCE_NM]
        if len(same) > 1:
            first, second = header[same[0]], header[same[1]]
            raise InputError(f"{name} has two columns for the {band} nm band: {first!r} and {second!r}")
    found = ", ".join(repr(h) for h in header[:MAX_LISTED_COLUMNS]) + (", ..." * (len(header) > MAX_LISTED_COLUMNS))
    hint = f"band headers are wavelengths like '470' or '470 nm'; found {found}"
    index = match_bands(name, [w for _, w in band_headers], bands, "its header", hint)
    if ("row" in special) != ("col" in special):
        has, lacks = ("row", "col") if "row" in special else ("col", "row")
        raise InputError(f"{name} has a {has!r} column but no {lacks!r} column; give both pixel coordinates or neither")
    return _Layout(
        n_fields=len(header),
        band_cols=tuple(band_headers[i][0] for i in index),
        band_names=band_names,
        id_col=special.get("id"),
        pixel_cols=(special["row"], special["col"]) if "row" in special else None,
        warnings=_at_most(warnings, MAX_LISTED_COLUMNS),
    )


def _at_most(warnings: list[str], n: int) -> tuple[str, ...]:
    """The first n warnings, and one line counting the others."""
    more = len(warnings) - n
    return tuple(warnings[:n]) + ((f"... and {more} more ignored columns",) if more > 0 else ())


def _parse(records: list[list[str]], layout: _Layout, start: int) -> Scan:
    """Turn a batch of records into a Scan; start is the 0-based number of the batch's first data row."""
    n, width = len(records), layout.n_fields
    status = np.full(n, "ok", dtype=object)

    def flag(mask: np.ndarray, reason: str) -> None:
        status[mask & (status == "ok")] = reason  # a row keeps its first problem

    for i in np.flatnonzero(np.fromiter(map(len, records), dtype=np.int64, count=n) != width):
        status[i] = f"{len(records[i])} fields where the header has {width}"
        records[i] = (records[i] + [""] * width)[:width]
    table = np.empty((n, width), dtype=object)
    table[:] = records

    if layout.id_col is None:
        ids = np.array([str(i) for i in range(start, start + n)], dtype=object)
    else:
        ids = np.array([cell.strip() for cell in table[:, layout.id_col]], dtype=object)
        flag(ids == "", "missing id")

    pixel = None
    if layout.pixel_cols is not None:
        pixel = np.full((n, 2), -1, dtype=np.int64)
        for k, (j, coord) in enumerate(zip(layout.pixel_cols, ("row", "col"))):
            values, missing = _to_float(table[:, j])
            integral = np.isfinite(values) & (values == np.floor(values)) & (np.abs(values) < 2**53)
            flag(missing, f"missing value in {coord}")
            flag(~integral, f"non-integer value in {coord}")
            flag(values < 0, f"negative value in {coord}")
            usable = integral & (values >= 0)
            pixel[usable, k] = values[usable].astype(np.int64)

    raw = np.empty((n, len(layout.band_cols)))
    for b, (j, band) in enumerate(zip(layout.band_cols, layout.band_names)):
        values, missing = _to_float(table[:, j])
        flag(missing, f"missing value in {band}")
        flag(np.isnan(values), f"non-numeric value in {band}")
        flag_band_values(values, band, flag)
        raw[:, b] = values
    ok = status == "ok"
    raw[~ok] = np.nan
    saturated = _saturated(raw, ok, table[:, list(layout.band_cols)])
    return Scan(ids=ids, raw=raw, status=status, pixel=pixel, saturated=saturated)


def flag_band_values(values: np.ndarray, band: str, flag: Callable[[np.ndarray, str], None]) -> None:
    """Flag the rows whose value in one band is infinite or not positive (reflectance is > 0)."""
    flag(np.isinf(values), f"infinite value in {band}")
    flag(values <= 0, f"non-positive value in {band}")


def _to_float(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Text cells -> (float64 values, NaN where not a number; mask of the cells that are empty or a NaN token)."""
    values = np.asarray(pd.to_numeric(cells, errors="coerce"), dtype=np.float64)
    missing = np.zeros(len(cells), dtype=bool)
    nan = np.flatnonzero(np.isnan(values))
    missing[nan] = [cells[i].strip().lower() in MISSING_TOKENS for i in nan]
    return values, missing


def _saturated(raw: np.ndarray, ok: np.ndarray, band_cells: np.ndarray) -> np.ndarray:
    """Usable rows written as integers whose brightest band sits at 255, 4095 or 65535 (the full scale of the data)."""
    peak = np.where(ok[:, None], raw, 0.0).max(axis=1)  # flagged rows are all NaN
    saturated = ok & np.isin(peak, SATURATION_LEVELS)
    for i in np.flatnonzero(saturated):
        saturated[i] = all(INTEGER_TEXT.match(cell) for cell in band_cells[i])
    return saturated


def saturation_warnings(saturated: np.ndarray, ids: np.ndarray) -> list[str]:
    """One warning line for the rows flagged as saturated, naming the first."""
    count = int(saturated.sum())
    if not count:
        return []
    first = ids[int(np.argmax(saturated))]
    return [
        f"{count} row(s) look saturated (brightest band at 255, 4095 or 65535 in integer data), "
        f"first id {first!r}; they are analysed but flagged as saturated"
    ]


class _SeenIds:
    """Ids of the chunks read so far, kept as sorted 64-bit hashes (8 bytes a row) so that streaming stays lean.

    Within a chunk ids are compared exactly; across chunks by hash (a false alarm needs a 64-bit
    collision: probability about n^2 / 2^65, 3e-8 for 10^6 rows). Empty ids are flagged per row, not here.
    """

    def __init__(self) -> None:
        self._hashes = np.empty(0, dtype=np.uint64)

    def duplicate(self, ids: np.ndarray) -> str | None:
        """Register a chunk's ids; return one that occurred before (in this chunk or an earlier one), else None."""
        named = ids[ids != ""]
        repeated = pd.Index(named).duplicated()
        if repeated.any():
            return named[repeated][0]
        hashes = pd.util.hash_array(named)
        pos = np.minimum(np.searchsorted(self._hashes, hashes), max(len(self._hashes) - 1, 0))
        if len(self._hashes) and (hit := self._hashes[pos] == hashes).any():
            return named[hit][0]
        # both parts are sorted, so the stable sort (timsort) only merges two runs
        self._hashes = np.sort(np.concatenate([self._hashes, np.sort(hashes)]), kind="stable")
        return None
