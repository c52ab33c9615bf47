"""What the FITS readers take and hand on: the user's reading options, spectra ready for line fitting, and the
measured line fluxes per object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from astropy.wcs import WCS

from ..model.linelist import NAMES
from ..model.measurement_model import in_limits
from .column_map import ColumnMap

__all__ = ["LineObservations", "PlotSpectrum", "ReadOptions", "Spectrum"]


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file: the options of `invert stars` about reading (each loader uses those that apply to it)."""

    redshift: float | None = None  # --redshift: replaces the file's
    wave_unit: str | None = None  # --wave-unit: of a spectral axis that states none
    flux_unit: str | None = None  # --flux-unit: replaces the file's
    snr: float | None = None  # --snr: constant S/N of a 1-D spectrum without errors
    aperture: tuple[float, float, float] | None = None  # --aperture X,Y,R: one summed spectrum of a cube
    use_catalog_lines: bool = False  # --use-catalog-lines: an SDSS file's SPZLINE fluxes instead of fitting
    columns: ColumnMap | None = None  # --columns: which columns of a line table hold what
    progress: Callable[[int, int], None] | None = None  # called with (done, total) during long line fits


@dataclass
class Spectrum:
    """One spectrum in the observed frame: wavelengths in Angstrom (increasing), F_lambda in erg/s/cm2/Angstrom."""

    name: str
    wave: np.ndarray  # (p,) float64 Angstrom, in the medium below
    width: np.ndarray  # (p,) float64 pixel widths in Angstrom
    flux: np.ndarray  # (p,) float64 erg/s/cm2/Angstrom
    sigma: np.ndarray  # (p,) float64, same unit; NaN or inf where the pixel is masked
    medium: str  # "air" or "vacuum": which line list applies

    @property
    def good(self) -> np.ndarray:
        """Pixels whose flux and error are finite and within measurement_model.VALUE_LIMITS (so, errors > 0)."""
        return in_limits(self.flux, self.sigma)


@dataclass
class PlotSpectrum:
    """A measured spectrum kept for the report's plot, with the fitted lines + continuum (NaN outside the fits)."""

    id: str
    wave: np.ndarray  # (p,) observed-frame Angstrom
    flux: np.ndarray  # (p,) erg/s/cm2/Angstrom
    sigma: np.ndarray  # (p,)
    model: np.ndarray  # (p,)
    redshift: float
    medium: str


@dataclass
class LineObservations:
    """Measured fluxes of the 12 lines (linelist.NAMES order) for every object of one input file.

    Invariant: mask[i, j] is True exactly where fluxes[i, j] and errors[i, j] are finite and errors[i, j] > 0;
    elsewhere both are NaN. A measured flux may be below 3 sigma or negative (a non-detection): `detected`
    says which lines stand at >= 3 sigma. oii_sum is the blended [OII]3726+3729 flux: given by the file as one
    line (then mask[:, 0:2] is False), or the sum of the two measured lines (errors in quadrature).
    """

    ids: np.ndarray  # (n,) object: spectrum name, "x{col}_y{row}" spaxel, or table row id
    fluxes: np.ndarray  # (n, 12) float64 erg/s/cm2
    errors: np.ndarray  # (n, 12) float64 erg/s/cm2
    mask: np.ndarray  # (n, 12) bool: line observed
    redshift: np.ndarray  # (n,) float64, NaN where unknown
    status: np.ndarray  # (n,) object: "ok" or the reason ("bad_values", "all_masked", "bad_redshift", "no_hbeta")
    oii_sum: np.ndarray  # (n,) float64 erg/s/cm2, NaN where unknown
    oii_sum_error: np.ndarray  # (n,) float64
    redshift_source: str = "none"  # "file", "header", "argument", "estimated" or "none"
    medium: str | None = None  # wavelength medium of the input ("air"/"vacuum"), None for tables
    pixel: np.ndarray | None = None  # (n, 2) int64 [row, col] of cube spaxels (0-based); None otherwise
    cube_shape: tuple[int, int] | None = None  # (rows, cols) of the cube's image plane, for maps
    celestial: WCS | None = None  # the cube's celestial WCS (pixel (col, row) 0-based -> RA, Dec); None if it has none
    spectra: list[PlotSpectrum] = field(default_factory=list)  # the first few measured spectra
    notes: list[str] = field(default_factory=list)  # every unit, medium or redshift that was assumed
    warnings: list[str] = field(default_factory=list)  # problems with the file that did not stop the reading
    layout: str = ""  # short key of the loader that read the file (io.registry), set by read_observations
    layout_name: str = ""  # that loader's description, e.g. 'IFU cube'

    names = NAMES

    @property
    def ok(self) -> np.ndarray:
        """Objects that can be analysed."""
        return self.status == "ok"

    @property
    def snr(self) -> np.ndarray:
        """(n, 12) flux / error, NaN where not observed."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.fluxes / self.errors

    @property
    def detected(self) -> np.ndarray:
        """(n, 12) lines observed at >= 3 sigma."""
        return self.mask & (np.nan_to_num(self.snr, nan=-np.inf) >= 3.0)

    def __len__(self) -> int:
        return len(self.ids)

    def chunk(self, start: int, stop: int) -> "LineObservations":
        """Objects start..stop-1 (same layout, notes and spectra)."""
        rows = slice(start, stop)
        return replace(
            self,
            ids=self.ids[rows],
            fluxes=self.fluxes[rows],
            errors=self.errors[rows],
            mask=self.mask[rows],
            redshift=self.redshift[rows],
            status=self.status[rows],
            oii_sum=self.oii_sum[rows],
            oii_sum_error=self.oii_sum_error[rows],
            pixel=None if self.pixel is None else self.pixel[rows],
        )
