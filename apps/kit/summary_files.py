"""summary.csv and summary.ecsv, written side by side chunk by chunk: the same rows, and in the ECSV header
(astropy's Enhanced CSV, read by `astropy.table.Table.read`) every column's type, unit and description.

Both carry the same comma-separated body, with text cells made spreadsheet-safe (core.outputs.spreadsheet_safe).
Column types are declared from the first chunk: booleans, integers and floats by their values, the rest text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from invert.core.outputs import spreadsheet_safe

__all__ = ["SummaryFiles", "Describe", "describer", "parameter_columns"]

Describe = Callable[[str], tuple[str, str]]  # column -> (unit, description); unit "" for dimensionless
STATISTICS = {
    "mean": "posterior mean",
    "median": "posterior median",
    "map": "posterior mode (MAP) of the marginal",
    "std": "posterior standard deviation",
    "q2.5": "2.5 % posterior quantile",
    "q16": "16 % posterior quantile",
    "q84": "84 % posterior quantile",
    "q97.5": "97.5 % posterior quantile",
    "mode1": "position of the largest mode of the marginal posterior",
    "mode2": "position of the second mode of the marginal posterior",
}
SHARES = {
    "multimodal": "whether the marginal posterior has more than one mode",
    "n_modes": "number of modes of the marginal posterior",
    "weight1": "share of the posterior in the largest mode",
    "weight2": "share of the posterior in the second mode",
}
COMMON = {
    "id": ("", "row id (from the input, or its row number)"),
    "row": ("pix", "pixel row (0-based)"),
    "col": ("pix", "pixel column (0-based)"),
    "status": ("", "ok, ood, or the reason the row has no posterior"),
    "ood": ("", "out of distribution: unlike the training simulations"),
    "ood_score": ("", "out-of-distribution score (Mahalanobis distance of y to the training observations)"),
    "multimodal": ("", "whether any parameter's marginal posterior has more than one mode"),
}


def parameter_columns(names: Sequence[str], units: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(unit, description) of every summary column of the parameters names with units ("1": dimensionless)."""
    described = {}
    for name, unit in zip(names, units):
        unit = "" if unit in ("1", "") else unit
        described |= {f"{name}_{key}": (unit, f"{words} of {name}") for key, words in STATISTICS.items()}
        described |= {f"{name}_{key}": ("", f"{name}: {words}") for key, words in SHARES.items()}
    return described


def describer(names: Sequence[str], units: Sequence[str], extra: Mapping[str, tuple[str, str]]) -> Describe:
    """(unit, description) of a summary column: the common columns, the parameters' statistics and an app's extra
    columns; ("", "") for any other."""
    known = COMMON | parameter_columns(names, units) | dict(extra)
    return lambda column: known.get(column, ("", ""))


def _datatype(values: pd.Series) -> str:
    """The ECSV datatype of a column, from its first chunk."""
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_integer_dtype(values):
        return "int64"
    if pd.api.types.is_float_dtype(values):
        return "float64"
    present = values.dropna()
    if len(present) and all(isinstance(v, (bool, np.bool_)) for v in present):
        return "bool"
    return "string"


def _yaml_text(text: str) -> str:
    """A YAML single-quoted scalar."""
    return "'" + text.replace("'", "''") + "'"


class SummaryFiles:
    """Appends summary rows to folder/summary.csv and folder/summary.ecsv; call with each chunk's table, in order.
    rows_done > 0: continue the files of an interrupted run, which hold that many rows (and the headers)."""

    def __init__(self, folder: Path, describe: Describe, rows_done: int = 0):
        self.describe = describe
        mode = "a" if rows_done else "w"
        self._csv = open(folder / "summary.csv", mode, encoding="utf-8", newline="")
        self._ecsv = open(folder / "summary.ecsv", mode, encoding="utf-8", newline="")
        self._started = rows_done > 0

    def _header(self, table: pd.DataFrame) -> str:
        lines = ["# %ECSV 1.0", "# ---", "# delimiter: ','", "# datatype:"]
        for name in table.columns:
            unit, description = self.describe(name)
            entry = f"name: {_yaml_text(name)}, datatype: {_datatype(table[name])}"
            entry += f", unit: {_yaml_text(unit)}" if unit else ""
            entry += f", description: {_yaml_text(description)}" if description else ""
            lines.append("# - {" + entry + "}")
        return "\n".join([*lines, "# schema: astropy-2.0", ""])

    def __call__(self, table: pd.DataFrame) -> None:
        """Write one chunk's rows (the first chunk also writes the headers), handed to the system at once."""
        body = spreadsheet_safe(table).to_csv(index=False, header=not self._started, float_format="%.6g")
        if not self._started:
            self._ecsv.write(self._header(table))
            self._started = True
        for fh in (self._csv, self._ecsv):
            fh.write(body)
            fh.flush()

    def close(self) -> None:
        """Flush and close both files."""
        self._csv.close()
        self._ecsv.close()

    def __enter__(self) -> "SummaryFiles":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
