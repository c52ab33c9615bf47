"""Line fluxes from a spectrum (stars.md section 4 "Line measurement"): grouped Gaussian fits on a linear continuum.

Each group of linelist.GROUPS is fitted in a window reaching WINDOW_AA (rest frame, times 1+z) beyond its outer
lines, so the linear continuum is set by side bands 15-40 Angstrom from the lines. The lines of a group share
one velocity offset and one velocity width; each Gaussian is integrated over the pixels (narrow lines in
coarse pixels keep their flux). scipy.optimize.curve_fit weights pixels by sigma = 1/sqrt(ivar) with
absolute_sigma=True, so flux errors come from the covariance. A group whose free fit fails or whose lines
all stay below FREE_FIT_MIN_SNR is fitted again, linearly, with the velocity and width of the best group:
faint lines get a flux with an honest error (a non-detection) instead of a degenerate fit.

A line is measured only if its centre lies in the data and at least MIN_CORE_GOOD of the pixels within
CORE_AA of it are good; otherwise it is left out (mask 0) and its core pixels are kept out of the fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import ndtr

from invert.apps.kit.errors import InputError

from ..model.linelist import AIR_AA, GROUPS, HALPHA, NAMES, VACUUM_AA, air_to_vacuum
from .observations import Spectrum

__all__ = ["LineFit", "estimate_redshift", "measure_lines"]

C_KMS = 299792.458
WINDOW_AA = 40.0  # fit window beyond the outer lines of a group (rest-frame Angstrom)
CORE_AA = 5.0  # half-width of a line's core (rest-frame Angstrom) for the coverage and masking checks
MIN_CORE_GOOD = 0.8  # share of good pixels needed in a line's core
SIGMA0_KMS = 80.0  # starting line width
SIGMA_MAX_KMS = 1000.0
DV_MAX_KMS = 600.0  # velocity freedom around the redshift
FREE_FIT_MIN_SNR = 5.0
# other lines inside the fit windows (air Angstrom): kept out of the continuum
NUISANCE_AIR_AA = np.array([3705.00, 4921.93, 5015.68, 5889.95, 5895.92, 6312.06, 6363.78, 6678.15])
GROUP_INDEX = tuple(tuple(NAMES.index(name) for name in group) for group in GROUPS)
OIII5007 = NAMES.index("OIII5007")
PEAK_MIN_SNR = 5.0  # a redshift is estimated only from a peak at least this far above the noise
Z_SEARCH = (-0.01, 0.6)
PEAKS_TRIED = 5  # strongest peaks tried as Halpha or [OIII]5007


@dataclass
class LineFit:
    """Fluxes of the 12 lines of one spectrum (erg/s/cm2; NaN where not measured) and the fitted model."""

    flux: np.ndarray  # (12,)
    error: np.ndarray  # (12,)
    mask: np.ndarray  # (12,) bool
    velocity_kms: float  # velocity offset of the best-measured group from the given redshift
    model: np.ndarray  # (p,) continuum + lines over the fit windows, NaN elsewhere

    def refined_redshift(self, z: float) -> float:
        """The redshift corrected by the fitted velocity offset."""
        return (1 + z) * (1 + self.velocity_kms / C_KMS) - 1


def rest_wavelengths(medium: str) -> np.ndarray:
    """The 12 line wavelengths in the spectrum's medium (vacuum for SDSS and WAVE axes, air for AWAV)."""
    return VACUUM_AA if medium == "vacuum" else AIR_AA


def measure_lines(spec: Spectrum, z: float) -> LineFit:
    """Fit every group at redshift z and return the 12 fluxes with their errors."""
    centres = rest_wavelengths(spec.medium) * (1 + z)
    nuisance = (air_to_vacuum(NUISANCE_AIR_AA) if spec.medium == "vacuum" else NUISANCE_AIR_AA) * (1 + z)
    good = spec.good
    scale = float(np.median(spec.sigma[good])) if good.any() else 1.0
    with np.errstate(over="ignore"):  # only pixels outside spec.good, which no fit uses, can overflow
        flux, sigma = spec.flux / scale, spec.sigma / scale
    covered = np.array([_covered(spec, good, c, CORE_AA * (1 + z)) for c in centres])
    plans = [_plan(spec, good, centres, covered, nuisance, idx, z) for idx in GROUP_INDEX]

    free: dict[int, tuple[np.ndarray, np.ndarray, float, float]] = {}
    for g, plan in enumerate(plans):
        if plan is not None:
            result = _free_fit(spec, flux, sigma, centres, plan)
            if result is not None:
                free[g] = result
    best = max(free, key=lambda g: np.max(free[g][0] / free[g][1]), default=None)
    dv, sv = (free[best][2], free[best][3]) if best is not None else (0.0, SIGMA0_KMS)

    out_flux = np.full(len(NAMES), np.nan)
    out_err = np.full(len(NAMES), np.nan)
    model = np.full(len(spec.wave), np.nan)
    for g, plan in enumerate(plans):
        if plan is None:
            continue
        lines, pix = plan
        if g in free:
            amp, err, gdv, gsv = free[g]
        else:
            amp, err, gdv, gsv = _linear_fit(spec, flux, sigma, centres[lines], pix, dv, sv)
        out_flux[lines], out_err[lines] = amp * scale, err * scale
        cont = _continuum_fit(spec, flux, sigma, centres[lines], pix, amp, gdv, gsv)
        model[pix] = (cont + _profiles(spec, pix, centres[lines], gdv, gsv) @ amp) * scale
    mask = np.isfinite(out_flux) & np.isfinite(out_err) & (out_err > 0)
    out_flux[~mask] = out_err[~mask] = np.nan
    return LineFit(flux=out_flux, error=out_err, mask=mask, velocity_kms=dv, model=model)


def estimate_redshift(spec: Spectrum) -> tuple[float, str]:
    """(z, how) from the strongest emission peaks, each tried as Halpha and [OIII]5007; the most supported wins."""
    good = spec.good
    if good.sum() < 10:
        raise InputError(f"{spec.name}: too few good pixels to estimate the redshift; give --redshift")
    wave, snr = _peak_snr(spec, good)
    inner = snr[1:-1]
    peaks = np.flatnonzero((inner >= snr[:-2]) & (inner >= snr[2:]) & (inner >= PEAK_MIN_SNR)) + 1
    if not len(peaks):
        raise InputError(
            f"{spec.name}: no emission line stands out (best peak S/N {np.max(snr):.1f}) to estimate "
            "the redshift; give --redshift"
        )
    rest = rest_wavelengths(spec.medium)
    best: tuple[float, float, str] | None = None
    for p in peaks[np.argsort(snr[peaks])[::-1][:PEAKS_TRIED]]:
        for j in (HALPHA, OIII5007):
            z = wave[p] / rest[j] - 1
            if not Z_SEARCH[0] <= z <= Z_SEARCH[1]:
                continue
            support = float(snr[p])
            for k, lam in enumerate(rest * (1 + z)):
                near = np.abs(wave - lam) <= max(2.0, 1e-4 * lam)
                if k != j and near.any():
                    support += float(np.clip(snr[near].max(), 0, None))
            if best is None or support > best[0]:
                best = (support, z, f"the peak at {wave[p]:.1f} Angstrom taken as {NAMES[j]}")
    if best is None:
        raise InputError(
            f"{spec.name}: no strong peak is Halpha or [OIII]5007 at a redshift in {Z_SEARCH}; give --redshift"
        )
    return best[1], best[2]


def _peak_snr(spec: Spectrum, good: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Good-pixel wavelengths and the S/N of the flux above a running median over ~60 Angstrom."""
    wave, flux, sigma = spec.wave[good], spec.flux[good], spec.sigma[good]
    size = int(min(len(wave) // 2 * 2 + 1, max(5, 2 * int(30.0 / np.median(spec.width[good])) + 1)))
    resid = flux - median_filter(flux, size=size, mode="nearest")
    return wave, resid / sigma


def _covered(spec: Spectrum, good: np.ndarray, centre: float, half: float) -> bool:
    """A line's centre is inside the data and most of its core pixels are good."""
    if not spec.wave[0] + half <= centre <= spec.wave[-1] - half:
        return False
    core = np.abs(spec.wave - centre) <= half
    return core.sum() >= 2 and good[core].mean() >= MIN_CORE_GOOD


def _plan(
    spec: Spectrum,
    good: np.ndarray,
    centres: np.ndarray,
    covered: np.ndarray,
    nuisance: np.ndarray,
    idx: tuple[int, ...],
    z: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(lines fitted, pixels used) of one group, or None when no line of the group can be measured."""
    lines = np.array([j for j in idx if covered[j]], dtype=np.int64)
    if not len(lines):
        return None
    lo, hi = centres[lines].min() - WINDOW_AA * (1 + z), centres[lines].max() + WINDOW_AA * (1 + z)
    use = good & (spec.wave >= lo) & (spec.wave <= hi)
    for other in [*centres[[j for j in idx if not covered[j]]], *nuisance]:
        use &= np.abs(spec.wave - other) > CORE_AA * (1 + z)
    pix = np.flatnonzero(use)
    if len(pix) < len(lines) + 8:
        return None
    return lines, pix


def _profiles(spec: Spectrum, pix: np.ndarray, centres: np.ndarray, dv: float, sv: float) -> np.ndarray:
    """(pixels, lines) unit-flux Gaussians at velocity dv and width sv (km/s), averaged over each pixel."""
    mu = centres * (1 + dv / C_KMS)
    s = mu * sv / C_KMS
    half = spec.width[pix, None] / 2
    lam = spec.wave[pix, None]
    return (ndtr((lam + half - mu) / s) - ndtr((lam - half - mu) / s)) / (2 * half)


def _free_fit(
    spec: Spectrum, flux: np.ndarray, sigma: np.ndarray, centres: np.ndarray, plan: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """curve_fit of amplitudes, shared velocity and width, and a linear continuum; None if it fails or finds no line."""
    lines, pix = plan
    mu = centres[lines]
    ref = float(mu.mean())
    x, y, e = spec.wave[pix], flux[pix], sigma[pix]
    n = len(lines)
    pixel_kms = C_KMS * float(np.median(spec.width[pix])) / ref
    sv0 = max(SIGMA0_KMS, pixel_kms)
    c0, c1 = _side_band_continuum(x, y, e, mu, ref)
    peak = [
        np.max(y[np.abs(x - m) <= max(2.5 * m * sv0 / C_KMS, spec.width[pix].max())] - c0 - c1 * (m - ref), initial=0.0)
        for m in mu
    ]
    p0 = [*(np.asarray(peak) * np.sqrt(2 * np.pi) * mu * sv0 / C_KMS), 0.0, np.log(sv0), c0, c1]

    def model(_x: np.ndarray, *p: float) -> np.ndarray:
        amp = np.asarray(p[:n])
        width = np.exp(np.clip(p[n + 1], 0.0, np.log(10 * SIGMA_MAX_KMS)))  # km/s, kept finite while LM wanders
        return p[n + 2] + p[n + 3] * (x - ref) + _profiles(spec, pix, mu, p[n], width) @ amp

    try:  # Levenberg-Marquardt (MINPACK) on log width: fast; the bounds are checked afterwards
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)  # a singular covariance is caught below
            popt, pcov = curve_fit(model, x, y, p0=p0, sigma=e, absolute_sigma=True, method="lm")
    except (RuntimeError, ValueError):
        return None
    err = np.sqrt(np.diag(pcov))[:n]
    amp, dv, sv = popt[:n], float(popt[n]), float(np.exp(popt[n + 1]))
    if (
        not np.all(np.isfinite(err))
        or np.max(amp / err) < FREE_FIT_MIN_SNR
        or abs(dv) > DV_MAX_KMS
        or not 0.2 * pixel_kms <= sv <= SIGMA_MAX_KMS
    ):
        return None
    return amp, err, dv, sv


def _linear_fit(
    spec: Spectrum, flux: np.ndarray, sigma: np.ndarray, mu: np.ndarray, pix: np.ndarray, dv: float, sv: float
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Weighted linear least squares of amplitudes and continuum with fixed velocity and width."""
    ref = float(mu.mean())
    x = spec.wave[pix]
    design = np.column_stack([_profiles(spec, pix, mu, dv, sv), np.ones_like(x), x - ref]) / sigma[pix, None]
    coef, *_ = np.linalg.lstsq(design, flux[pix] / sigma[pix], rcond=None)
    try:
        cov = np.linalg.inv(design.T @ design)
    except np.linalg.LinAlgError:
        return np.full(len(mu), np.nan), np.full(len(mu), np.nan), dv, sv
    n = len(mu)
    return coef[:n], np.sqrt(np.clip(np.diag(cov)[:n], 0, None)), dv, sv


def _side_band_continuum(
    x: np.ndarray, y: np.ndarray, e: np.ndarray, mu: np.ndarray, ref: float
) -> tuple[float, float]:
    """Weighted straight line through the pixels more than 15 Angstrom (observed) from every line."""
    side = np.all(np.abs(x[:, None] - mu[None, :]) > 15.0, axis=1)
    if side.sum() < 3:
        return float(np.median(y)), 0.0
    w = 1 / e[side]
    design = np.column_stack([np.ones(side.sum()), x[side] - ref]) * w[:, None]
    coef, *_ = np.linalg.lstsq(design, y[side] * w, rcond=None)
    return float(coef[0]), float(coef[1])


def _continuum_fit(
    spec: Spectrum,
    flux: np.ndarray,
    sigma: np.ndarray,
    mu: np.ndarray,
    pix: np.ndarray,
    amp: np.ndarray,
    dv: float,
    sv: float,
) -> np.ndarray:
    """The linear continuum under the fitted lines (for the plotted model)."""
    ref = float(mu.mean())
    x = spec.wave[pix]
    resid = flux[pix] - _profiles(spec, pix, mu, dv, sv) @ np.nan_to_num(amp)
    w = 1 / sigma[pix]
    design = np.column_stack([np.ones_like(x), x - ref]) * w[:, None]
    coef, *_ = np.linalg.lstsq(design, resid * w, rcond=None)
    return coef[0] + coef[1] * (x - ref)
