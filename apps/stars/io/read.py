"""`read_observations`: a user FITS file of any layout of stars.md section 4, or a CSV, ECSV or VOTable line
catalogue -> measured line fluxes per object.

A catalogue (catalog.py) goes to the line-table loader. A FITS file is opened safely (open_fits.py) and the
registry's first matching loader reads it (registry.py); with a column mapping (--columns) it is a line table, read
from the binary table holding the mapped columns. The result says which loader that was (LineObservations.layout,
.layout_name). Options that the file's layout does
not use are ignored with a warning. How redshifts are chosen and objects flagged: assemble.py. A file that
cannot be used at all raises InputError with one line, also when astropy fails on damaged data late.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from invert.apps.kit.errors import InputError

from . import line_table
from .catalog import catalog_format, read_catalog
from .column_map import ColumnMap
from .observations import LineObservations, ReadOptions
from .open_fits import damaged_error, open_fits
from .registry import LINE_TABLE, LOADERS, Loader, detect

__all__ = ["read_observations"]


def read_observations(
    path: str | os.PathLike,
    redshift: float | None = None,
    wave_unit: str | None = None,
    flux_unit: str | None = None,
    snr: float | None = None,
    aperture: tuple[float, float, float] | None = None,
    use_catalog_lines: bool = False,
    progress: Callable[[int, int], None] | None = None,
    columns: ColumnMap | None = None,
) -> LineObservations:
    """Read a FITS file or catalogue, detect its layout and measure (or read) the 12 line fluxes of every object."""
    name = os.fspath(path)
    if redshift is not None and not np.isfinite(redshift):
        raise InputError(f"--redshift must be a finite number, got {redshift}")
    options = ReadOptions(
        redshift=redshift,
        wave_unit=wave_unit,
        flux_unit=flux_unit,
        snr=snr,
        aperture=aperture,
        use_catalog_lines=use_catalog_lines,
        progress=progress,
        columns=columns,
    )
    try:
        return _read(name, options)
    except InputError:
        raise
    except (OSError, EOFError) as err:  # data that the headers promise but the file cannot deliver
        raise damaged_error(name, err) from None
    except Exception as err:  # astropy misreading a damaged file, if the exception comes from astropy
        if not _raised_in_astropy(err):
            raise
        raise damaged_error(name, err) from None


def _read(name: str, options: ReadOptions) -> LineObservations:
    """read_observations without the translation of late read errors."""
    notes: list[str] = []
    warn: list[str] = []
    if (fmt := catalog_format(name)) is not None:
        loader = LINE_TABLE
        _warn_ignored(options, loader, warn)
        obs = line_table.read_columns(read_catalog(name, fmt, warn), name, name, options, notes, warn)
        return replace(obs, layout=loader.key, layout_name=loader.description)
    with open_fits(name, warn) as hdul:
        if options.columns is None:
            loader, index = detect(hdul, name)
        else:
            loader, index = LINE_TABLE, line_table.identify_mapped(hdul, name, options.columns)
        _warn_ignored(options, loader, warn)
        obs = loader.read(hdul, index, name, options, notes, warn)
    return replace(obs, layout=loader.key, layout_name=loader.description)


def _warn_ignored(options: ReadOptions, loader: Loader, warn: list[str]) -> None:
    """A warning for each layout-specific option given for a file of another layout."""
    given = {
        "--snr": options.snr,
        "--aperture": options.aperture,
        "--use-catalog-lines": options.use_catalog_lines or None,
    }
    for option, value in given.items():
        if value is not None and option not in loader.options:
            users = "".join(other.key for other in LOADERS if option in other.options)
            warn.append(f"{option} ignored: it applies to layout {users}, the file is layout {loader.key}")


def _raised_in_astropy(err: BaseException) -> bool:
    """The exception was raised inside astropy (reading a damaged file), not by invert's own code."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}astropy{os.sep}" in tb.tb_frame.f_code.co_filename
