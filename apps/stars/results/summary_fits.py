"""summary.fits: the summary table as a FITS binary table with a unit (TUNITn) on every physical column,
written a chunk of objects at a time (the table never sits in memory whole), and continued after the rows of an
interrupted run (`--resume`).

Column types follow the column names: id and status are text, row and col integers, the flags
(ood, bad_fit, low_ess, multimodal, {p}_multimodal) logical (False where an object has no posterior; its status
says why), everything else double precision (NaN where empty). FITS text is ASCII: other characters become '?'.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.io.fits.header import BLOCK_SIZE

from ...kit.summary_files import Describe, describer
from ..model.linelist import NAMES
from ..model.problem import StarsProblem

__all__ = [
    "SummaryFits",
    "column_units",
    "fits_unit",
    "header_value",
    "summary_columns",
    "PARAMETER_TUNIT",
    "STATUS_WIDTH",
]

# astropy units of the parameters (summary.ecsv); FITS has no logarithmic units, so summary.fits gives only those
# that the FITS standard can express (fits_unit): log quantities are dimensionless there, TTYPEn comments say the unit
PARAMETER_TUNIT = {"logM": "dex(solMass)", "logt": "dex(yr)", "logZ": "dex", "logU": "dex", "A_V": "mag"}
VALUE_STATS = re.compile(r"_(mean|median|map|std|q[\d.]+|mode\d+)$")
FLUX = "erg s-1 cm-2"
STATUS_WIDTH = 16  # characters of the status column ("bad_redshift" is the longest status)
INTEGER = ("row", "col")
LOGICAL = ("ood", "multimodal", "bad_fit", "low_ess")
COLUMNS = {  # (unit, description) of the stars app's own summary columns (summary.ecsv)
    "status": ("", "ok (every check passed), bad_fit, ood, low_ess, or the reason the object has no posterior"),
    "bad_fit": ("", "the model cannot reproduce the lines: posterior-predictive p-value fit_p below the threshold"),
    "low_ess": ("", "reweighting ended below the effective-draw threshold: weights tempered to it, an approximation"),
    "fit_chi2": ("", "sum over the observed lines of the squared residuals resid_<line>"),
    "fit_p": ("", "posterior-predictive p-value: share of replicated measurements with at least this fit_chi2"),
    "ess": ("", "effective number of draws behind the reweighted posterior (empty: the network's draws alone)"),
    "redshift": ("", "redshift used"),
    "distance_mpc": ("Mpc", "luminosity distance used for the line luminosities (logM)"),
    "ra": ("deg", "right ascension of the spaxel centre, in the cube's celestial frame (RADESYS, usually ICRS)"),
    "dec": ("deg", "declination of the spaxel centre, in the cube's celestial frame (RADESYS, usually ICRS)"),
} | {
    f"resid_{line}": ("", f"{line}: (measured - predicted flux) / sqrt(error^2 + model spread^2), in sigma")
    for line in NAMES
}


def column_units(columns: list[str], problem: StarsProblem) -> dict[str, str]:
    """TUNIT of each column that has one: parameter statistics, line fluxes, distance, pixel indices."""
    units = {}
    for col in columns:
        name = VALUE_STATS.sub("", col)
        if name != col and name in PARAMETER_TUNIT and name in problem.x_names:
            spread = col.endswith("_std") and PARAMETER_TUNIT[name].startswith("dex")
            units[col] = "dex" if spread else PARAMETER_TUNIT[name]  # a spread of log M is in dex, not dex(solMass)
        elif col.endswith(("_flux", "_err")):
            units[col] = FLUX
    fixed = (("distance_mpc", "Mpc"), ("row", "pix"), ("col", "pix"), ("ra", "deg"), ("dec", "deg"))
    units |= {col: unit for col, unit in fixed if col in columns}
    return units


def summary_columns(problem: StarsProblem) -> Describe:
    """(unit, description) of every summary column, for summary.ecsv: the units of summary.fits, the kit's words."""
    words = describer(problem.x_names, [PARAMETER_TUNIT[p] for p in problem.x_names], COLUMNS)

    def describe(column: str) -> tuple[str, str]:
        unit, text = words(column)
        if column.endswith(("_flux", "_err")):
            line = column.rsplit("_", 1)[0]
            text = f"measured flux of {line}" if column.endswith("_flux") else f"1-sigma error of the flux of {line}"
        return column_units([column], problem).get(column, unit), text

    return describe


def ascii_text(values) -> np.ndarray:
    """Values as ASCII bytes (FITS text), other characters replaced by '?'."""
    return np.array([str(v).encode("ascii", "replace") for v in values], dtype=object)


def fits_unit(unit: str | None) -> str | None:
    """A unit as the FITS standard writes it (TUNITn, BUNIT), or None when it has none or FITS cannot express it
    (dex, dex(solMass)): astropy then reads the column back without a warning, as dimensionless."""
    if not unit:
        return None
    try:
        return u.Unit(unit).to_string("fits")
    except ValueError:
        return None


def header_value(value: object) -> object:
    """A value as a FITS header keyword takes it: numbers, text and truth values as they are, anything else as text."""
    plain = isinstance(value, (int, float, str, bool, np.integer, np.floating))
    return value if plain else str(value)


class SummaryFits:
    """Writes summary.fits: an empty primary HDU with `info` as keywords (<= 8-character keys) and the binary table
    HDU SUMMARY of n_rows objects, appended chunk by chunk (`__call__`), then `close()`. id_width: the longest
    ASCII id of the file (the text column's width is fixed before the first row). rows_done > 0: continue the file
    of an interrupted run, which holds the headers and that many rows (nothing after them)."""

    def __init__(
        self,
        path: Path,
        problem: StarsProblem,
        info: Mapping[str, object],
        n_rows: int,
        id_width: int,
        rows_done: int = 0,
    ):
        self.path, self.problem, self.n_rows = Path(path), problem, n_rows
        self.widths = {"id": max(1, id_width), "status": STATUS_WIDTH}
        self.rows, self._stream, self._dtype = rows_done, None, None
        if rows_done:
            return
        primary = fits.PrimaryHDU()
        for key, value in info.items():
            primary.header[key] = header_value(value)
        primary.writeto(self.path, overwrite=True)

    def _format(self, col: str) -> tuple[str, str]:
        """(TFORM, record dtype) of a column."""
        if col in self.widths:
            return f"{self.widths[col]}A", f"S{self.widths[col]}"
        if col in INTEGER:
            return "K", ">i8"
        if col in LOGICAL or col.endswith("_multimodal"):
            return "L", "S1"
        return "D", ">f8"

    def _start(self, columns: list[str]) -> None:
        """The table header, fixed by the first chunk's columns and n_rows (written unless rows are there already),
        then the data, appended as astropy's StreamingHDU writes it (records, then zeros to a whole FITS block)."""
        units = column_units(columns, self.problem)
        formats = [self._format(c) for c in columns]
        hdu = fits.BinTableHDU.from_columns(
            [fits.Column(name=c, format=f, unit=fits_unit(units.get(c))) for c, (f, _) in zip(columns, formats)],
            nrows=0,
            name="SUMMARY",
        )
        header = hdu.header
        header["NAXIS2"] = self.n_rows
        meaning = dict(zip(self.problem.x_names, self.problem.x_units))
        for i, col in enumerate(columns, start=1):
            name = VALUE_STATS.sub("", col)
            if name in meaning and name != col:
                header.comments[f"TTYPE{i}"] = f"{name} in {meaning[name]}"
        self._columns = columns
        self._dtype = np.dtype([(c, d) for c, (_, d) in zip(columns, formats)])
        if not self.rows:
            fits.StreamingHDU(str(self.path), header).close()  # astropy 7 takes a Path for its bare file name
        self._stream = open(self.path, "ab")

    def __call__(self, chunk: pd.DataFrame) -> None:
        """Append the rows of one chunk of the summary (same columns in every chunk)."""
        if self._stream is None:
            self._start(list(chunk.columns))
        elif list(chunk.columns) != self._columns:
            raise ValueError("summary.fits: every chunk must have the same columns")
        records = np.zeros(len(chunk), dtype=self._dtype)
        for col in self._columns:
            kind = self._dtype[col]
            values = chunk[col]
            if kind.kind == "S" and kind.itemsize == 1:  # FITS logical
                records[col] = np.where(values.astype(object).eq(True).to_numpy(), b"T", b"F")  # empty: F
            elif kind.kind == "S":
                text = ascii_text(values.to_numpy())
                if len(text) and max(map(len, text)) > kind.itemsize:
                    raise ValueError(f"summary.fits: a {col} longer than {kind.itemsize} characters")
                records[col] = text.astype(kind)
            else:
                records[col] = values.to_numpy(kind.newbyteorder("="), na_value=np.nan if kind.kind == "f" else 0)
        if self.rows + len(chunk) > self.n_rows:
            raise ValueError(f"summary.fits: more than the {self.n_rows} rows announced")
        self._stream.write(records.tobytes())
        self.rows += len(chunk)
        if self.rows == self.n_rows:  # the table is complete: pad its data to a whole FITS block
            self._stream.write(bytes(-self.n_rows * self._dtype.itemsize % BLOCK_SIZE))
        self._stream.flush()

    def close(self) -> Path:
        """Finish the file (every one of n_rows written). Returns the path."""
        if self.rows != self.n_rows:
            raise ValueError(f"summary.fits: {self.rows} rows written, {self.n_rows} announced")
        if self._stream is not None:
            self._stream.close()
        return self.path
