"""Emission-line catalogues that are not FITS: CSV, ECSV and VOTable, read with astropy's Table readers and handed
to the line-table reader (layout D) as columns (table_columns.AstropyColumns).

Which reader: the file's extension (CATALOG_FORMATS); a FITS extension, or a file that starts like FITS or is
compressed, is FITS; any other file is offered to astropy's format identification (a VOTable is recognised by its
content), and what astropy does not recognise is left to the FITS reader, whose error says what it is not.
"""

from __future__ import annotations

import os
import warnings

from astropy.io.registry import identify_format
from astropy.table import Table

from invert.apps.kit.errors import InputError

from .open_fits import checked_size, is_compressed
from .table_columns import AstropyColumns

__all__ = ["CATALOG_FORMATS", "catalog_format", "read_catalog"]

CATALOG_FORMATS = {  # extension -> astropy format
    ".csv": "ascii.csv",
    ".ecsv": "ascii.ecsv",
    ".vot": "votable",
    ".votable": "votable",
    ".xml": "votable",
}
FORMAT_NAMES = {"ascii.csv": "CSV", "ascii.ecsv": "ECSV", "votable": "VOTable"}
FITS_EXTENSIONS = (".fits", ".fit", ".fts", ".fz", ".fits.gz", ".fit.gz", ".fts.gz")
MAX_WARNINGS = 3  # reader warnings passed on (VOTables can raise many of one kind)


def catalog_format(name: str) -> str | None:
    """The astropy format of a catalogue file (see the module docstring), or None for the FITS reader."""
    lower = name.lower()
    if lower.endswith(FITS_EXTENSIONS):
        return None
    if (fmt := CATALOG_FORMATS.get(os.path.splitext(lower)[1])) is not None:
        return fmt
    if not os.path.isfile(name) or os.path.getsize(name) == 0 or is_compressed(name) or _starts_like_fits(name):
        return None
    try:
        found = identify_format("read", Table, name, None, [], {})
    except Exception:  # noqa: BLE001 - an identifier failing on an odd file: no guess
        return None
    return next((f for f in found if f in FORMAT_NAMES), None)


def read_catalog(name: str, fmt: str, warn: list[str]) -> AstropyColumns:
    """The columns of a catalogue in astropy format fmt; InputError (one line) when astropy cannot read it."""
    checked_size(name, f"a {FORMAT_NAMES[fmt]} file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            table = Table.read(name, format=fmt)
        except Exception as err:  # noqa: BLE001 - astropy's readers raise many kinds for malformed files
            reason = " ".join(str(err).split())[:200]
            raise InputError(f"{name}: cannot read it as {FORMAT_NAMES[fmt]}: {type(err).__name__}: {reason}") from None
    messages = list(
        dict.fromkeys(" ".join(str(w.message).split()) for w in caught if not issubclass(w.category, ResourceWarning))
    )
    warn.extend(f"{name}: {m}" for m in messages[:MAX_WARNINGS])
    if len(messages) > MAX_WARNINGS:
        warn.append(f"{name}: {len(messages) - MAX_WARNINGS} more reader warnings")
    return AstropyColumns(table)


def _starts_like_fits(name: str) -> bool:
    """The file begins with a FITS primary header's first card."""
    with open(name, "rb") as f:
        return f.read(9) == b"SIMPLE  ="
