"""Loader of IFU cubes (stars.md section 4, layout C; MUSE conventions) with bounded memory.

The cube is never loaded whole: planes are read through astropy's `section` (memory-mapped file) in blocks of at
most MAX_BLOCK_BYTES. Variances come from a STAT (or VAR/VARIANCE) HDU, errors from ERR/ERROR/SIGMA. Pixel
coordinates are 0-based numpy indices: x = column (FITS axis 1), y = row (FITS axis 2).

Default: every spaxel whose Halpha stands at S/N >= MIN_HALPHA_SNR in the grouped line fit is one object. To
keep that affordable, only spaxels whose quick Halpha S/N (core sum minus side-band median) reaches
QUICK_MIN_SNR are fitted, and only the planes of the line-fit windows are read. With an aperture (x, y, r),
the spaxels within r pixels of (x, y) are summed into one spectrum (variances add); a plane where any of them is
NaN is masked. A pixel whose flux or noise is NaN, infinite, negative (noise) or beyond
measurement_model.VALUE_LIMITS is unusable; the cube counts NaN fluxes and negative noise values as it reads them,
for warnings and messages. Without --redshift or a Z/REDSHIFT keyword, the redshift is estimated in the sum of
all spaxels and refined per spaxel by its fitted velocity.
"""

from __future__ import annotations

import heapq
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from invert.apps.kit.errors import InputError

from ..model.linelist import GROUPS, HALPHA, NAMES
from ..model.measurement_model import in_limits
from .assemble import assemble, choose_redshift
from .headers import NOT_DATA, SPECTRAL_CTYPES, first_hdu, has_data, spectral_ctype
from .linefit import (
    C_KMS,
    CORE_AA,
    WINDOW_AA,
    LineFit,
    estimate_redshift,
    group_windows,
    measure_lines,
    rest_wavelengths,
)
from .observations import LineObservations, PlotSpectrum, ReadOptions, Spectrum
from .spectral_axis import check_optical, pixel_widths, wavelength_axis
from .spectrum import file_redshift, flux_unit_of, from_spectrum, make_spectrum
from .units import flambda_factor

__all__ = [
    "Cube",
    "SpaxelLines",
    "aperture_spectrum",
    "celestial_wcs",
    "identify",
    "integrated_spectrum",
    "measure_spaxels",
    "open_cube",
    "read",
]

MAX_BLOCK_BYTES = 128 * 2**20  # largest block of flux + variance (float64) read at once; peak use is ~3 x this
QUICK_MIN_SNR = 3.0
MIN_HALPHA_SNR = 5.0
QUICK_CORE_AA = 6.0  # half-width of the Halpha core in the quick S/N (rest frame)
SIDE_AA = 15.0  # side-band pixels are farther than this from every line of the Halpha group
NOISE_HDUS = {
    "STAT": "variance",
    "VAR": "variance",
    "VARIANCE": "variance",
    "ERR": "sigma",
    "ERROR": "sigma",
    "SIGMA": "sigma",
}
N_PLOTTED = 3
HALPHA_GROUP = next(g for g in GROUPS if "Halpha" in g)


def identify(hdul: fits.HDUList) -> int | None:
    """The 3-axis image whose third axis is a wavelength (CTYPE3 AWAV or WAVE); None if there is none."""
    return first_hdu(hdul, _is_cube)


def read(
    hdul: fits.HDUList, index: int, name: str, options: ReadOptions, notes: list[str], warn: list[str]
) -> LineObservations:
    """The objects of the cube in HDU index; what made pixels unusable is added to the warnings or the error."""
    cube = open_cube(hdul, index, name, options.wave_unit, options.flux_unit, notes)
    try:
        obs = _cube_objects(cube, hdul, index, name, options, notes, warn)
    except InputError as err:
        if not cube.read_problems():
            raise
        raise InputError(f"{err} ({cube.read_problems()})") from None
    if cube.read_problems():
        warn.append(f"{name}: {cube.read_problems()}")
    return obs


@dataclass
class Cube:
    """A cube's data and noise HDUs with its wavelength axis; values are read on demand in F_lambda units."""

    name: str
    data: fits.ImageHDU
    noise: fits.ImageHDU
    noise_kind: str  # "variance" or "sigma"
    wave: np.ndarray  # (planes,) Angstrom, in file order
    width: np.ndarray  # (planes,) Angstrom
    factor: np.ndarray  # (planes,) to erg/s/cm2/Angstrom
    medium: str
    values_read: int = 0  # flux values read so far (planes may be read more than once)
    finite_read: int = 0  # of those, finite ones
    negative_read: int = 0  # noise values read that are negative

    @property
    def shape(self) -> tuple[int, int, int]:
        """(planes, rows, cols)."""
        h = self.data.header
        return h["NAXIS3"], h["NAXIS2"], h["NAXIS1"]

    def read(self, k0: int, k1: int, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        """(flux, variance) of planes k0:k1 in erg/s/cm2/Angstrom (squared); both NaN where unusable (in_limits)."""
        flux = np.asarray(self.data.section[k0:k1, rows, cols], dtype=np.float64)
        noise = np.asarray(self.noise.section[k0:k1, rows, cols], dtype=np.float64)
        self.values_read += flux.size
        self.finite_read += int(np.isfinite(flux).sum())
        self.negative_read += int((noise < 0).sum())
        f = self.factor[k0:k1, None, None]
        with np.errstate(over="ignore", invalid="ignore"):
            flux = flux * f
            var = (noise**2 if self.noise_kind == "sigma" else noise) * f**2
            usable = in_limits(flux, noise * f if self.noise_kind == "sigma" else np.sqrt(var))
        return np.where(usable, flux, np.nan), np.where(usable, var, np.nan)

    def read_problems(self) -> str:
        """What made the values read so far unusable ('' when nothing stands out), for messages."""
        problems = []
        if self.values_read and not self.finite_read:
            problems.append(f"every flux value read from HDU {self.data.name} is NaN or infinite")
        if self.negative_read:
            problems.append(
                f"{self.negative_read / self.values_read:.1%} of the {self.noise_kind} values read from "
                f"HDU {self.noise.name} are negative (those pixels are unusable)"
            )
        return "; ".join(problems)

    def plane_bytes(self, rows: int | None = None, cols: int | None = None) -> int:
        """Bytes of one plane of flux + variance (float64) over rows x cols spaxels."""
        _, ny, nx = self.shape
        return 16 * (ny if rows is None else rows) * (nx if cols is None else cols)


@dataclass
class SpaxelLines:
    """Line fluxes of the spaxels kept as objects."""

    pixel: np.ndarray  # (n, 2) int64 [row, col]
    fluxes: np.ndarray  # (n, 12)
    errors: np.ndarray  # (n, 12)
    mask: np.ndarray  # (n, 12)
    velocity_kms: np.ndarray  # (n,) fitted offset from the cube's redshift
    spectra: list[PlotSpectrum] = field(default_factory=list)  # the spaxels with the highest Halpha S/N


def open_cube(
    hdul: fits.HDUList, index: int, name: str, wave_unit: str | None, flux_unit: str | None, notes: list[str]
) -> Cube:
    """The cube of HDU index with its noise HDU, wavelength axis (axis 3) and flux unit; InputError if unusable."""
    hdu = hdul[index]
    source = f"{name} HDU {index} ({hdu.name})"
    shape = tuple(hdu.header[f"NAXIS{k}"] for k in (3, 2, 1))
    noise = next(
        (
            (i, NOISE_HDUS[h.name.upper()])
            for i, h in enumerate(hdul)
            if i != index
            and h.name.upper() in NOISE_HDUS
            and h.header.get("NAXIS") == 3
            and tuple(h.header[f"NAXIS{k}"] for k in (3, 2, 1)) == shape
        ),
        None,
    )
    if noise is None:
        raise InputError(f"{source}: the cube has no variance HDU (STAT, VAR or ERR of the same shape)")
    wave, medium = wavelength_axis(hdu.header, 3, shape[0], source, wave_unit, notes)
    if not (np.all(np.diff(wave) > 0) or np.all(np.diff(wave) < 0)) or np.any(wave <= 0):
        raise InputError(f"{source}: the wavelengths of axis 3 are not positive and strictly monotonic")
    check_optical(wave, source)
    unit = flux_unit_of(hdu.header, source, flux_unit, notes)
    notes.append(f"{source}: HDU {noise[0]} ({hdul[noise[0]].name}) read as the {noise[1]} of the cube")
    order = np.argsort(wave)
    width = np.empty_like(wave)
    width[order] = pixel_widths(wave[order])
    return Cube(
        name=name,
        data=hdu,
        noise=hdul[noise[0]],
        noise_kind=noise[1],
        wave=wave,
        width=width,
        factor=flambda_factor(unit, wave),
        medium=medium,
    )


def integrated_spectrum(cube: Cube) -> Spectrum:
    """The sum of all spaxels (NaN-free per plane), streamed plane block by plane block; for a redshift estimate."""
    planes, _, _ = cube.shape
    flux, var = np.full(planes, np.nan), np.full(planes, np.nan)
    for k0, k1 in _plane_blocks(0, planes, cube.plane_bytes()):
        f, v = cube.read(k0, k1, slice(None), slice(None))
        ok = np.isfinite(f) & np.isfinite(v)
        n = ok.sum(axis=(1, 2))
        flux[k0:k1] = np.where(n > 0, np.where(ok, f, 0).sum(axis=(1, 2)), np.nan)
        var[k0:k1] = np.where(n > 0, np.where(ok, v, 0).sum(axis=(1, 2)), np.nan)
    return make_spectrum(cube.name, cube.wave, flux, np.sqrt(var), cube.medium, f"{cube.name} (sum of all spaxels)")


def aperture_spectrum(cube: Cube, x: float, y: float, r: float) -> Spectrum:
    """The sum of the spaxels within r pixels of column x, row y (variances add); planes with a NaN spaxel masked."""
    planes, ny, nx = cube.shape
    if not (0 <= x < nx and 0 <= y < ny) or r < 0:
        raise InputError(
            f"{cube.name}: aperture centre x={x:g}, y={y:g} (0-based column, row) is outside the "
            f"{nx} x {ny} image plane, or radius {r:g} < 0"
        )
    r0, r1 = max(0, int(np.floor(y - r))), min(ny, int(np.ceil(y + r)) + 1)
    c0, c1 = max(0, int(np.floor(x - r))), min(nx, int(np.ceil(x + r)) + 1)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    inside = (yy - y) ** 2 + (xx - x) ** 2 <= r**2
    flux, var = np.full(planes, np.nan), np.full(planes, np.nan)
    for k0, k1 in _plane_blocks(0, planes, cube.plane_bytes(r1 - r0, c1 - c0)):
        f, v = cube.read(k0, k1, slice(r0, r1), slice(c0, c1))
        f, v = f[:, inside], v[:, inside]
        ok = np.isfinite(f).all(axis=1) & np.isfinite(v).all(axis=1)
        flux[k0:k1] = np.where(ok, f.sum(axis=1), np.nan)
        var[k0:k1] = np.where(ok, v.sum(axis=1), np.nan)
    name = f"aperture_x{x:g}_y{y:g}_r{r:g}"
    return make_spectrum(
        name, cube.wave, flux, np.sqrt(var), cube.medium, f"{cube.name} aperture ({int(inside.sum())} spaxels)"
    )


def measure_spaxels(cube: Cube, z: float, progress: Callable[[int, int], None] | None = None) -> SpaxelLines:
    """Fit the lines of every spaxel with quick Halpha S/N >= QUICK_MIN_SNR; keep those with fitted Halpha S/N >= 5."""
    planes, ny, nx = cube.shape
    rest = rest_wavelengths(cube.medium)
    halpha = rest[HALPHA] * (1 + z)
    lo, hi = np.min(cube.wave), np.max(cube.wave)
    if not lo + WINDOW_AA * (1 + z) <= halpha <= hi - WINDOW_AA * (1 + z):
        raise InputError(
            f"{cube.name}: Halpha at {halpha:.1f} Angstrom (z = {z:.4f}) is outside the cube's "
            f"{lo:.0f}-{hi:.0f} Angstrom; spaxels are selected by Halpha: use --aperture X,Y,R"
        )
    need = _window_planes(cube.wave, rest * (1 + z), z)
    runs = _runs(need)
    order = np.argsort(cube.wave[need])
    wave, width = cube.wave[need][order], cube.width[need][order]
    group = np.array([NAMES.index(n) for n in HALPHA_GROUP])
    core = np.abs(wave - halpha) <= QUICK_CORE_AA * (1 + z)
    side = (np.abs(wave[:, None] - rest[group] * (1 + z)).min(axis=1) > SIDE_AA * (1 + z)) & (
        np.abs(wave - halpha) <= WINDOW_AA * (1 + z) + 30
    )
    rows_per_block = max(1, MAX_BLOCK_BYTES // (len(wave) * cube.plane_bytes(1)))
    kept: list[tuple[int, int, LineFit]] = []
    best: list[tuple[float, int, PlotSpectrum]] = []
    for y0 in range(0, ny, rows_per_block):
        y1 = min(ny, y0 + rows_per_block)
        parts = [cube.read(k0, k1, slice(y0, y1), slice(None)) for k0, k1 in runs]
        flux = np.concatenate([p[0] for p in parts])[order]
        var = np.concatenate([p[1] for p in parts])[order]
        quick = _quick_snr(flux, var, width, core, side)
        for r, c in zip(*np.nonzero(quick >= QUICK_MIN_SNR)):
            spec = Spectrum(f"x{c}_y{y0 + r}", wave, width, flux[:, r, c], np.sqrt(var[:, r, c]), cube.medium)
            fit = measure_lines(spec, z)
            snr = fit.flux[HALPHA] / fit.error[HALPHA] if fit.mask[HALPHA] else -np.inf
            if snr >= MIN_HALPHA_SNR:
                kept.append((y0 + r, c, fit))
                plot = PlotSpectrum(
                    spec.name, wave, spec.flux, spec.sigma, fit.model, fit.refined_redshift(z), cube.medium
                )
                heapq.heappush(best, (snr, len(kept), plot))
                if len(best) > N_PLOTTED:
                    heapq.heappop(best)
        if progress is not None:
            progress(y1, ny)
    if not kept:
        raise InputError(
            f"{cube.name}: no spaxel has Halpha S/N >= {MIN_HALPHA_SNR:g} at z = {z:.4f}; "
            "use --aperture X,Y,R to sum spaxels"
        )
    return SpaxelLines(
        pixel=np.array([[r, c] for r, c, _ in kept], dtype=np.int64),
        fluxes=np.array([f.flux for *_, f in kept]),
        errors=np.array([f.error for *_, f in kept]),
        mask=np.array([f.mask for *_, f in kept]),
        velocity_kms=np.array([f.velocity_kms for *_, f in kept]),
        spectra=[p for *_, p in sorted(best, reverse=True)],
    )


def _is_cube(hdu: fits.hdu.base._BaseHDU) -> bool:
    """A 3-axis image whose third axis is a wavelength (CTYPE3 AWAV or WAVE)."""
    h = hdu.header
    return (
        isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU)
        and h.get("NAXIS") == 3
        and has_data(hdu)
        and hdu.name.upper() not in NOT_DATA
        and spectral_ctype(h, 3) in SPECTRAL_CTYPES
    )


def _cube_objects(
    cube: Cube, hdul: fits.HDUList, index: int, name: str, options: ReadOptions, notes: list[str], warn: list[str]
) -> LineObservations:
    """One aperture spectrum, or one object per spaxel with Halpha S/N >= MIN_HALPHA_SNR."""
    z, z_source = choose_redshift(options.redshift, file_redshift(hdul, index), "header", notes)
    if options.aperture is not None:
        x, y, r = options.aperture
        obs = from_spectrum(aperture_spectrum(cube, x, y, r), z, z_source, notes, warn)
        obs.pixel = np.array([[int(round(y)), int(round(x))]], dtype=np.int64)
        obs.cube_shape = cube.shape[1:]
        obs.celestial = celestial_wcs(cube.data.header, name, notes)
        return obs
    if z is None:
        z, how = estimate_redshift(integrated_spectrum(cube))
        z_source = "estimated"
        notes.append(f"{name}: redshift estimated as z = {z:.5f} from {how} in the sum of all spaxels")
    lines = measure_spaxels(cube, z, options.progress)
    ids = np.array([f"x{c}_y{r}" for r, c in lines.pixel], dtype=object)
    zs = (1 + z) * (1 + lines.velocity_kms / C_KMS) - 1 if z_source == "estimated" else np.full(len(ids), z)
    obs = assemble(ids, lines.fluxes, lines.errors, zs, z_source, cube.medium, lines.spectra, notes, warn)
    obs.pixel = lines.pixel
    obs.cube_shape = cube.shape[1:]
    obs.celestial = celestial_wcs(cube.data.header, name, notes)
    return obs


def celestial_wcs(header: fits.Header, name: str, notes: list[str]) -> WCS | None:
    """The celestial WCS of the image plane (axes 1 and 2 of the cube), or None (noted) when the header has none
    that astropy.wcs can use."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FITSFixedWarning and friends: astropy's fixes are fine for positions
            full = WCS(header)
            plane = full.sub([1, 2]) if {full.wcs.lng, full.wcs.lat} == {0, 1} else None
            if plane is not None:
                plane.pixel_to_world_values(0.0, 0.0)  # a WCS that cannot transform fails here, not later
    except Exception:  # noqa: BLE001 - astropy.wcs raises many kinds for odd headers; positions are optional
        plane = None
    if plane is None:
        notes.append(f"{name}: no celestial WCS on axes 1 and 2 of the cube: no RA/Dec, maps in pixels only")
    return plane


def _quick_snr(flux: np.ndarray, var: np.ndarray, width: np.ndarray, core: np.ndarray, side: np.ndarray) -> np.ndarray:
    """(rows, cols) S/N of the Halpha core above the median side band; NaN where too few good core planes."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN side bands give NaN, which is what we want
        cont = np.nanmedian(flux[side], axis=0)
        f, v, w = flux[core], var[core], width[core, None, None]
        good = np.isfinite(f) & np.isfinite(v)
        signal = np.where(good, (f - cont) * w, 0).sum(axis=0)
        noise = np.sqrt(np.where(good, v * w**2, 0).sum(axis=0))
        snr = signal / noise
    return np.where(good.mean(axis=0) >= 0.8, snr, np.nan)


def _window_planes(wave: np.ndarray, centres: np.ndarray, z: float) -> np.ndarray:
    """Planes within the fit windows of the groups (plus CORE_AA margin), in file order."""
    need = np.zeros(len(wave), dtype=bool)
    pad = CORE_AA * (1 + z)
    for lo, hi in group_windows(centres, z):
        need |= (wave >= lo - pad) & (wave <= hi + pad)
    return np.flatnonzero(need)


def _runs(index: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs [k0, k1) of sorted plane indices."""
    breaks = np.flatnonzero(np.diff(index) > 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks + 1, [len(index)]])
    return [(int(index[s]), int(index[e - 1]) + 1) for s, e in zip(starts, ends)]


def _plane_blocks(k0: int, k1: int, plane_bytes: int) -> Iterator[tuple[int, int]]:
    """[a, b) plane ranges covering k0:k1 with at most MAX_BLOCK_BYTES each (at least one plane)."""
    step = max(1, MAX_BLOCK_BYTES // max(1, plane_bytes))
    for a in range(k0, k1, step):
        yield a, min(k1, a + step)
