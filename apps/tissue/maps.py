"""Parameter maps of an image scan: sO2 and its uncertainty as (H, W) .npy arrays and PNG pictures."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from invert.core.report import figure_to_png, map_plot

__all__ = ["MAPS", "parameter_maps"]

TARGET = "sO2"
# file stem -> (title, colour bar label, colour map, colour range); the values come from the summary (_values)
MAPS = {
    f"{TARGET}_median": ("posterior median", TARGET, "viridis", (0.0, 1.0)),
    f"{TARGET}_width68": ("width of the central 68 % interval (q84 - q16)", f"{TARGET} interval width", "magma_r", (0.0, None)),
}


def _values(table: pd.DataFrame, stem: str) -> np.ndarray:
    if stem.endswith("_width68"):
        return (table[f"{TARGET}_q84"] - table[f"{TARGET}_q16"]).to_numpy(np.float64)
    return table[stem].to_numpy(np.float64)


def parameter_maps(table: pd.DataFrame, shape: tuple[int, int]) -> dict[str, bytes]:
    """{name: file content}: for each map a float32 (H, W) .npy (NaN where a pixel has no posterior) and a PNG."""
    row, col = table["row"].to_numpy(np.int64), table["col"].to_numpy(np.int64)
    files = {}
    for stem, (title, label, cmap, (vmin, vmax)) in MAPS.items():
        values = _values(table, stem)
        image = np.full(shape, np.nan, dtype=np.float32)
        image[row, col] = values
        buf = io.BytesIO()
        np.save(buf, image)
        files[f"{stem}.npy"] = buf.getvalue()
        fig = map_plot(np.stack([row, col], axis=1), values, f"{TARGET}: {title}", cmap=cmap, label=label,
                       vmin=vmin, vmax=vmax)
        files[f"{stem}.png"] = figure_to_png(fig)
    return files
