"""Parameter maps of an image scan: sO2 and its uncertainty as (H, W) .npy arrays and PNG pictures.

The .npy arrays hold sO2 as a fraction 0-1, like summary.csv; the PNG pictures show it in percent, like the report.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from invert.core.report import figure_to_png, map_plot

__all__ = ["MAPS", "parameter_maps"]

TARGET = "sO2"
PERCENT = 100.0  # the PNG pictures show sO2 in %


def _median(table: pd.DataFrame) -> pd.Series:
    return table[f"{TARGET}_median"]


def _width68(table: pd.DataFrame) -> pd.Series:
    return table[f"{TARGET}_q84"] - table[f"{TARGET}_q16"]


# file stem -> (values from the summary, title, colour bar label, colour map, colour range in the picture's unit)
MAPS = {
    f"{TARGET}_median": (_median, "posterior median (%)", f"{TARGET} (%)", "viridis", (0.0, PERCENT)),
    f"{TARGET}_width68": (
        _width68,
        "width of the central 68 % interval (q84 - q16)",
        f"{TARGET} width (percentage points)",
        "magma_r",
        (0.0, None),
    ),
}


def parameter_maps(table: pd.DataFrame, shape: tuple[int, int]) -> dict[str, bytes]:
    """{name: file content}: for each map a float32 (H, W) .npy of the fraction (NaN where a pixel has no posterior)
    and a PNG in percent."""
    row, col = table["row"].to_numpy(np.int64), table["col"].to_numpy(np.int64)
    files = {}
    for stem, (of, title, label, cmap, (vmin, vmax)) in MAPS.items():
        values = of(table).to_numpy(np.float64)
        image = np.full(shape, np.nan, dtype=np.float32)
        image[row, col] = values
        buf = io.BytesIO()
        np.save(buf, image)
        files[f"{stem}.npy"] = buf.getvalue()
        fig = map_plot(
            np.stack([row, col], axis=1),
            values * PERCENT,
            f"{TARGET}: {title}",
            cmap=cmap,
            label=label,
            vmin=vmin,
            vmax=vmax,
        )
        files[f"{stem}.png"] = figure_to_png(fig)
    return files
