"""The input layouts of stars.md section 4 as a table of loaders (in the spirit of specutils' loader registry).

Each Loader names a layout (its short key, the letter that outputs show, and a name saying what it reads), says
which HDU of an open file holds such data (`identify`: an HDU index or None) and turns that HDU into
LineObservations (`read`). `detect` asks the loaders in table order; the first that identifies an HDU wins,
so an SDSS spectrum table is never taken for a line table, nor a spectrum for a cube. Files that are not FITS
(CSV, ECSV, VOTable catalogues) and FITS files read with a column mapping go to LINE_TABLE (read.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from astropy.io import fits

from invert.apps.kit.errors import InputError

from . import ifu_cube, line_table, sdss_spectrum, wcs_spectrum
from .headers import column_names, describe_hdus, has_data
from .observations import LineObservations, ReadOptions
from .open_fits import is_compressed

__all__ = ["LINE_TABLE", "LOADERS", "Loader", "detect"]

WAVE_COLUMNS = {"WAVE", "WAVELENGTH", "LAMBDA", "LAM", "LOGLAM", "LOGLAMBDA"}


@dataclass(frozen=True)
class Loader:
    """One input layout: how to recognise it in a FITS file and how to read it.

    read(hdul, index, file name, options, notes, warnings) returns the objects of HDU index, appending what it
    assumed to notes and the problems it met to warnings.
    """

    key: str  # short key shown in outputs (messages, the LAYOUT keyword of summary.fits, LineObservations.layout)
    name: str  # what it reads: the name of its module
    description: str  # one line, for messages and the report
    identify: Callable[[fits.HDUList], int | None]  # the HDU holding such data, or None
    read: Callable[[fits.HDUList, int, str, ReadOptions, list[str], list[str]], LineObservations]
    options: tuple[str, ...] = ()  # the options of `invert stars` that only this layout uses


LOADERS = (  # in detection order: first match wins
    Loader(
        "A",
        "sdss_spectrum",
        "SDSS spec/spec-lite binary table",
        sdss_spectrum.identify,
        sdss_spectrum.read,
        ("--use-catalog-lines",),
    ),
    Loader(
        "B",
        "wcs_spectrum",
        "1-D image spectrum with a spectral WCS",
        wcs_spectrum.identify,
        wcs_spectrum.read,
        ("--snr",),
    ),
    Loader("C", "ifu_cube", "IFU cube", ifu_cube.identify, ifu_cube.read, ("--aperture",)),
    Loader("D", "line_table", "emission-line table", line_table.identify, line_table.read),
)
LINE_TABLE = LOADERS[-1]  # also the loader of CSV, ECSV and VOTable catalogues and of tables read with --columns


def detect(hdul: fits.HDUList, name: str) -> tuple[Loader, int]:
    """The first loader that identifies an HDU of the file, and that HDU; InputError naming the HDUs otherwise."""
    hint = " (it is compressed: it may be truncated)" if os.path.isfile(name) and is_compressed(name) else ""
    if not any(has_data(hdu) for hdu in hdul):
        raise InputError(f"{name} holds no data (no HDU has data){hint}: {describe_hdus(hdul)}")
    for loader in LOADERS:
        if (index := loader.identify(hdul)) is not None:
            return loader, index
    tables = [
        i
        for i, hdu in enumerate(hdul)
        if isinstance(hdu, fits.BinTableHDU) and WAVE_COLUMNS & {c.upper() for c in column_names(hdu)}
    ]
    table_hint = (
        (
            f"; HDU {tables[0]} is a table with a wavelength column, but spectra in tables are read only in "
            "SDSS form (columns flux, loglam, ivar)"
        )
        if tables
        else ""
    )
    raise InputError(f"{name}: unrecognised FITS layout{hint}; HDUs: {describe_hdus(hdul)}{table_hint}")
