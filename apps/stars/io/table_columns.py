"""The columns of a table as the line-table reader sees them, whether a FITS binary table HDU or an astropy Table
read from CSV, ECSV or VOTable: names, values (empty cells NaN or ''), the unit text written in the file and how
the column is declared (for messages). One reader (line_table) then serves every table format.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

__all__ = ["AstropyColumns", "FitsColumns", "TableColumns"]


class TableColumns:
    """A table's columns: `names`, `len()` rows, `values(col)`, `unit(col)` and `declared(col)`."""

    names: list[str]

    def __len__(self) -> int:
        raise NotImplementedError

    def values(self, col: str) -> np.ndarray:
        """The column as stored (NaN in empty numeric cells, '' in empty text cells)."""
        raise NotImplementedError

    def unit(self, col: str) -> str:
        """The unit text the file gives the column ('' when none)."""
        raise NotImplementedError

    def declared(self, col: str) -> str:
        """How the file declares the column's type, for messages (e.g. "TFORM 'D'", "type float64")."""
        raise NotImplementedError

    def find(self, name: str) -> str | None:
        """The column called name, compared without case (catalogues differ: H_ALPHA_FLUX, h_alpha_flux); None if
        absent. Two columns that differ only in case are ambiguous: ValueError naming both."""
        if name in self.names:
            return name
        same = [n for n in self.names if n.upper() == name.upper()]
        if len(same) > 1:
            raise ValueError(f"columns {' and '.join(same)} differ only in case")
        return same[0] if same else None


class FitsColumns(TableColumns):
    """The columns of a FITS binary table HDU (TTYPEn, TUNITn, TFORMn)."""

    def __init__(self, hdu: fits.BinTableHDU):
        self.hdu = hdu
        self.names = [c.name for c in hdu.columns]

    def __len__(self) -> int:
        return 0 if self.hdu.data is None else len(self.hdu.data)

    def values(self, col: str) -> np.ndarray:
        return self.hdu.data[col]

    def unit(self, col: str) -> str:
        return str(self.hdu.columns[col].unit or "").strip()

    def declared(self, col: str) -> str:
        return f"TFORM {str(self.hdu.columns[col].format)!r}"


class AstropyColumns(TableColumns):
    """The columns of an astropy Table (CSV, ECSV, VOTable); a unit astropy could not parse keeps its text."""

    def __init__(self, table: Table):
        self.table = table
        self.names = list(table.colnames)

    def __len__(self) -> int:
        return len(self.table)

    def values(self, col: str) -> np.ndarray:
        column = self.table[col]
        if not np.any(getattr(column, "mask", False)):
            return np.asarray(column)
        kind = column.dtype.kind
        if kind in "fiu":
            return np.ma.filled(column.data.astype(np.float64), np.nan)
        return np.ma.filled(column.data, False if kind == "b" else "")

    def unit(self, col: str) -> str:
        unit = self.table[col].unit
        if unit is None:
            return ""
        return unit.name if isinstance(unit, u.UnrecognizedUnit) else unit.to_string()

    def declared(self, col: str) -> str:
        return f"type {self.table[col].dtype}"
