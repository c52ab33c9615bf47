"""Outputs of IFU cubes on the sky: maps.fits (per parameter, the posterior median and the width of the central
68 % interval as images aligned with the cube) and the RA/Dec of each spaxel for the summary.

The images carry the cube's celestial WCS (io.ifu_cube.celestial_wcs), so DS9 and astropy.wcs place them on the
sky like the cube itself; spaxels without a posterior are NaN. Pixel (row, col) of the summary is image pixel
(row, col), 0-based; in FITS terms x = col + 1, y = row + 1.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.wcs import WCS

from ..model.problem import StarsProblem
from .summary_fits import PARAMETER_TUNIT, fits_unit, header_value

__all__ = ["MAP_STATISTICS", "parameter_maps", "with_sky_coordinates"]

MAP_STATISTICS = {  # image name suffix -> (values from the summary, what it is)
    "median": (lambda t, p: t[f"{p}_median"], "posterior median"),
    "width68": (lambda t, p: t[f"{p}_q84"] - t[f"{p}_q16"], "width of the central 68 % interval (q84 - q16)"),
}


def with_sky_coordinates(table: pd.DataFrame, celestial: WCS | None) -> pd.DataFrame:
    """The summary rows with `ra` and `dec` (deg, the WCS's frame) of each spaxel after `col`, when the cube's
    celestial WCS is equatorial; the rows unchanged otherwise."""
    if celestial is None or "row" not in table or not str(celestial.wcs.ctype[celestial.wcs.lng]).startswith("RA"):
        return table
    world = celestial.pixel_to_world_values(table["col"].to_numpy(float), table["row"].to_numpy(float))
    table = table.copy()
    at = table.columns.get_loc("col") + 1
    table.insert(at, "ra", np.asarray(world[celestial.wcs.lng], dtype=np.float64))
    table.insert(at + 1, "dec", np.asarray(world[celestial.wcs.lat], dtype=np.float64))
    return table


def parameter_maps(
    summary: pd.DataFrame,
    problem: StarsProblem,
    shape: tuple[int, int],
    celestial: WCS | None,
    info: Mapping[str, object],
) -> bytes:
    """maps.fits: an empty primary HDU with `info` as keywords, then one float32 image per parameter and statistic
    (MAP_STATISTICS), named like `logZ_median`, over the whole (rows, cols) image plane of the cube."""
    row, col = summary["row"].to_numpy(np.int64), summary["col"].to_numpy(np.int64)
    primary = fits.PrimaryHDU()
    for key, value in info.items():
        primary.header[key] = header_value(value)
    hdus = [primary]
    for p, unit_words in zip(problem.x_names, problem.x_units):
        for stat, (values, words) in MAP_STATISTICS.items():
            image = np.full(shape, np.nan, dtype=np.float32)
            image[row, col] = values(summary, p).to_numpy(np.float64)
            hdu = fits.ImageHDU(image, name=f"{p}_{stat}")
            if celestial is not None:
                hdu.header.update(celestial.to_header())
            spread = stat == "width68" and PARAMETER_TUNIT[p].startswith("dex")  # a spread of a log is in dex
            if bunit := fits_unit("dex" if spread else PARAMETER_TUNIT[p]):
                hdu.header["BUNIT"] = bunit
            hdu.header["PARAM"] = (p, "parameter")
            hdu.header["STAT"] = (stat, words)
            hdu.header["PUNIT"] = ("dex" if spread else unit_words, "unit of the values")
            hdus.append(hdu)
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer, checksum=True)
    return buffer.getvalue()
