"""summary.fits: the summary table as a FITS binary table with a unit (TUNITn) on every physical column."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table

from .problem import StarsProblem

__all__ = ["summary_fits", "column_units", "PARAMETER_TUNIT"]

# FITS has no logarithmic units; 'dex' is the astronomers' convention (TTYPEn comments say what is logged)
PARAMETER_TUNIT = {"logM": "dex(solMass)", "logt": "dex(yr)", "logZ": "dex", "logU": "dex", "A_V": "mag"}
VALUE_STATS = re.compile(r"_(mean|median|map|std|q[\d.]+|mode\d+)$")
FLUX = "erg s-1 cm-2"


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
    units |= {c: u for c, u in (("distance_mpc", "Mpc"), ("row", "pix"), ("col", "pix")) if c in columns}
    return units


def summary_fits(summary: pd.DataFrame, problem: StarsProblem, info: Mapping[str, object], path: Path) -> Path:
    """Write the FITS file to path: an empty primary HDU with `info` as keywords (<= 8-character keys) and HDU
    SUMMARY. Returns the path."""
    table = Table.from_pandas(summary.astype({c: str for c in summary.columns if summary[c].dtype == object}))
    hdu = fits.table_to_hdu(table)
    hdu.name = "SUMMARY"
    meaning = dict(zip(problem.x_names, problem.x_units))
    units = column_units(list(summary.columns), problem)
    for i, col in enumerate(summary.columns, start=1):
        if col in units:
            hdu.header[f"TUNIT{i}"] = units[col]
        name = VALUE_STATS.sub("", col)
        if name in meaning and name != col:
            hdu.header.comments[f"TTYPE{i}"] = f"{name} in {meaning[name]}"
    primary = fits.PrimaryHDU()
    for key, value in info.items():
        primary.header[key] = value if isinstance(value, (int, float, str, bool, np.integer, np.floating)) else str(value)
    fits.HDUList([primary, hdu]).writeto(path, output_verify="silentfix", overwrite=True)
    return path
