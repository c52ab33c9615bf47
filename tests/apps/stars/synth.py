"""Synthetic emission-line spectra with known line fluxes, and FITS files of every input layout written from them."""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from scipy.special import ndtr

from invert.apps.stars.model.linelist import AIR_AA, VACUUM_AA

C_KMS = 299792.458
# stars.md V1: Z = 1 Zsun, logU = -2, 10^6.5 yr, 1e4 Msun (erg/s), in linelist.NAMES order; scaled to fluxes below
V1_LUMINOSITY = np.array(
    [
        7.6076e37,
        1.0288e38,
        1.8021e38,
        1.6062e38,
        4.6425e38,
        2.3868e37,
        4.3357e36,
        1.9963e37,
        5.1019e38,
        5.8847e37,
        4.1145e37,
        3.1471e37,
    ]
)
V1_FLUX = V1_LUMINOSITY / V1_LUMINOSITY[2] * 5e-15  # erg/s/cm2, Hbeta = 5e-15
SIGMA_KMS = 70.0  # line width (intrinsic + instrumental) of the synthetic spectra


def log_grid(lo: float, hi: float, step: float = 1e-4) -> np.ndarray:
    """SDSS-like wavelengths (Angstrom) equally spaced in log10."""
    return 10 ** np.arange(np.log10(lo), np.log10(hi), step)


def pixel_widths(wave: np.ndarray) -> np.ndarray:
    """Widths of pixels centred on wave (edges half-way between centres)."""
    edges = np.concatenate(
        [[1.5 * wave[0] - 0.5 * wave[1]], (wave[1:] + wave[:-1]) / 2, [1.5 * wave[-1] - 0.5 * wave[-2]]]
    )
    return np.diff(edges)


def continuum(wave: np.ndarray, level: float = 2e-17) -> np.ndarray:
    """A smooth, gently curved continuum (erg/s/cm2/Angstrom)."""
    return level * (1 + 0.2 * np.sin(wave / 900.0) + 1e-5 * (wave - 6000))


def lines_flux(
    wave: np.ndarray, fluxes: np.ndarray, z: float, medium: str = "vacuum", sigma_kms: float = SIGMA_KMS
) -> np.ndarray:
    """Pixel-averaged Gaussian lines (F_lambda) with integrated fluxes `fluxes` at redshift z."""
    rest = VACUUM_AA if medium == "vacuum" else AIR_AA
    mu = rest * (1 + z)
    s = mu * sigma_kms / C_KMS
    half = pixel_widths(wave)[:, None] / 2
    profile = (ndtr((wave[:, None] + half - mu) / s) - ndtr((wave[:, None] - half - mu) / s)) / (2 * half)
    return profile @ np.asarray(fluxes, dtype=float)


def noise_for_snr(flux: float, snr: float, wave_aa: float, pixel_aa: float, sigma_kms: float = SIGMA_KMS) -> float:
    """Per-pixel noise giving a Gaussian line of integrated flux `flux` the optimal-extraction S/N `snr`.

    For a Gaussian of width s (Angstrom) sampled by pixels of width w, the optimal flux error is
    sigma_pix * sqrt(2 sqrt(pi) s w); this is the S/N definition of the recovery tests.
    """
    s = wave_aa * sigma_kms / C_KMS
    return flux / snr / np.sqrt(2 * np.sqrt(np.pi) * s * pixel_aa)


def sdss_hdus(
    loglam: np.ndarray,
    flux17: np.ndarray,
    ivar17: np.ndarray,
    z: float | None,
    spzline: list[tuple[str, float, float, float]] | None = None,
) -> fits.HDUList:
    """An SDSS spec-lite-like file: COADD (flux, loglam, ivar in 1e-17 units), SPECOBJ (Z), optional SPZLINE."""
    cols = [
        fits.Column(name="flux", format="E", array=flux17),
        fits.Column(name="loglam", format="E", array=loglam),
        fits.Column(name="ivar", format="E", array=ivar17),
        fits.Column(name="and_mask", format="J", array=np.zeros(len(loglam), dtype=np.int32)),
    ]
    hdus = [fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="COADD")]
    if z is not None:
        hdus.append(fits.BinTableHDU.from_columns([fits.Column(name="Z", format="E", array=[z])], name="SPECOBJ"))
    if spzline is not None:
        names, waves, areas, errs = zip(*spzline)
        hdus.append(
            fits.BinTableHDU.from_columns(
                [
                    fits.Column(name="LINENAME", format="13A", array=list(names)),
                    fits.Column(name="LINEWAVE", format="D", array=waves),
                    fits.Column(name="LINEAREA", format="E", array=areas),
                    fits.Column(name="LINEAREA_ERR", format="E", array=errs),
                ],
                name="SPZLINE",
            )
        )
    return fits.HDUList(hdus)


def spectrum_values(
    wave: np.ndarray, fluxes: np.ndarray, z: float, medium: str, snr: float, seed: int, reference: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(noisy F_lambda, per-pixel sigma): continuum + lines, noise scaled with wavelength so that a line of flux
    `reference` (default: the median line flux) has the optimal S/N `snr` wherever it sits."""
    rng = np.random.default_rng(seed)
    ref = float(np.median(fluxes)) if reference is None else reference
    sigma = noise_for_snr(ref, snr, wave, pixel_widths(wave))
    clean = continuum(wave) + lines_flux(wave, fluxes, z, medium)
    return clean + rng.normal(size=len(wave)) * sigma, sigma


def write_sdss(
    path,
    fluxes: np.ndarray = V1_FLUX,
    z: float = 0.05,
    snr: float = 50.0,
    seed: int = 0,
    spzline: list[tuple[str, float, float, float]] | None = None,
    with_z: bool = True,
) -> str:
    """An SDSS-like spec-lite file (vacuum, 1e-17 units) of lines at redshift z."""
    loglam = np.arange(np.log10(3700.0), np.log10(9000.0), 1e-4)
    wave = 10 ** loglam.astype(np.float32).astype(np.float64)
    flux, sigma = spectrum_values(wave, fluxes, z, "vacuum", snr, seed)
    sdss_hdus(loglam, flux / 1e-17, (1e-17 / sigma) ** 2, z if with_z else None, spzline).writeto(path, overwrite=True)
    return str(path)


def write_spectrum_1d(
    path,
    unit: str | None = "Angstrom",
    ctype: str | None = "AWAV",
    z: float = 0.02,
    fluxes: np.ndarray = V1_FLUX,
    snr: float = 50.0,
    seed: int = 0,
    bunit: str | None = "1e-17 erg/s/cm2/Angstrom",
    errors: str | None = "ERR",
    header_z: bool = True,
    start: float = 3600.0,
    step: float = 1.0,
    n: int = 3700,
) -> str:
    """A 1-D image spectrum with a linear spectral WCS (start, step in Angstrom; written in `unit`)."""
    wave = start + step * np.arange(n)
    medium = "vacuum" if ctype == "WAVE" else "air"
    flux, sigma = spectrum_values(wave, fluxes, z, medium, snr, seed)
    scale = {"Angstrom": 1.0, "m": 1e-10, "nm": 0.1, None: 1.0, "A": 1.0, "um": 1e-4}[unit]
    header = fits.Header()
    header["CRVAL1"], header["CDELT1"], header["CRPIX1"] = start * scale, step * scale, 1.0
    if ctype:
        header["CTYPE1"] = ctype
    if unit:
        header["CUNIT1"] = unit
    if bunit:
        header["BUNIT"] = bunit
    if header_z:
        header["Z"] = z
    hdus = [fits.PrimaryHDU((flux / 1e-17).astype(np.float32), header=header)]
    if errors == "ERR":
        hdus.append(fits.ImageHDU((sigma / 1e-17).astype(np.float32), name="ERR"))
    elif errors == "IVAR":
        hdus.append(fits.ImageHDU(((1e-17 / sigma) ** 2).astype(np.float32), name="IVAR"))
    elif errors == "VAR":
        hdus.append(fits.ImageHDU(((sigma / 1e-17) ** 2).astype(np.float32), name="VAR"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return str(path)


def cube_brightness(ny: int = 5, nx: int = 5) -> np.ndarray:
    """Relative line brightness of the spaxels: a blob of 9 spaxels around (row 2, col 2), no lines elsewhere."""
    yy, xx = np.mgrid[:ny, :nx]
    d2 = (yy - 2.0) ** 2 + (xx - 2.0) ** 2
    return np.where(d2 <= 2.0, np.exp(-d2 / 2), 0.0)


def write_cube(
    path,
    z: float = 0.01,
    fluxes: np.ndarray = V1_FLUX,
    snr: float = 50.0,
    seed: int = 0,
    header_z: bool = True,
    start: float = 4750.0,
    step: float = 1.25,
    n: int = 1840,
    ctype: str = "AWAV",
) -> str:
    """A MUSE-like AWAV cube (rows x cols = 5 x 5) in 1e-20 erg/s/cm2/Angstrom with a STAT variance HDU.

    Spaxel (r, c) has line fluxes fluxes * cube_brightness()[r, c] and the noise of a snr spectrum at brightness 1;
    spaxel (0, 4) is NaN everywhere."""
    wave = start + step * np.arange(n)
    medium = "vacuum" if ctype == "WAVE" else "air"
    bright = cube_brightness()
    ny, nx = bright.shape
    data, var = np.empty((n, ny, nx), np.float32), np.empty((n, ny, nx), np.float32)
    for r in range(ny):
        for c in range(nx):
            flux, sigma = spectrum_values(
                wave, fluxes * bright[r, c], z, medium, snr, seed * 100 + r * nx + c, reference=float(np.median(fluxes))
            )
            data[:, r, c], var[:, r, c] = flux / 1e-20, (sigma / 1e-20) ** 2
    data[:, 0, 4] = np.nan
    header = fits.Header()
    header["EXTNAME"] = "DATA"
    header["CTYPE1"], header["CTYPE2"], header["CTYPE3"] = "RA---TAN", "DEC--TAN", ctype
    header["CUNIT1"], header["CUNIT2"], header["CUNIT3"] = "deg", "deg", "Angstrom"
    header["CRVAL1"], header["CRVAL2"], header["CRVAL3"] = 150.0, 2.0, start
    header["CRPIX1"], header["CRPIX2"], header["CRPIX3"] = 3.0, 3.0, 1.0
    header["CD1_1"], header["CD2_2"], header["CD3_3"] = -5.6e-5, 5.6e-5, step
    header["BUNIT"] = "10**(-20)*erg/s/cm**2/Angstrom"
    primary = fits.PrimaryHDU()
    if header_z:
        primary.header["Z"] = z
    stat = fits.ImageHDU(var, header=header.copy(), name="STAT")
    stat.header["BUNIT"] = "(10**(-20)*erg/s/cm**2/Angstrom)**2"
    fits.HDUList([primary, fits.ImageHDU(data, header=header, name="DATA"), stat]).writeto(path, overwrite=True)
    return str(path)


def write_line_table(path, columns: dict[str, tuple[np.ndarray, str | None]], name: str = "LINES") -> str:
    """A binary table of float columns {name: (values, TUNIT or None)}, string ID columns given as (values, 'ID')."""
    cols = []
    for col, (values, unit) in columns.items():
        if unit == "ID":
            cols.append(fits.Column(name=col, format="16A", array=np.asarray(values)))
        else:
            cols.append(fits.Column(name=col, format="D", array=np.asarray(values, dtype=float), unit=unit))
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name=name)]).writeto(path, overwrite=True)
    return str(path)
