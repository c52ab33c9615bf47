"""Line fluxes from a spectrum (stars.md section 9 "Line measurement"): grouped Gaussian fits on a continuum.

Each group of linelist.GROUPS is fitted in a window reaching WINDOW_AA (rest frame, times 1+z) beyond its outer
lines, so the linear continuum is set by side bands 15-40 Angstrom from the lines. The lines of a group share
one velocity offset and one velocity width; each Gaussian is integrated over the pixels (narrow lines in
coarse pixels keep their flux). scipy.optimize.curve_fit weights pixels by sigma = 1/sqrt(ivar) with
absolute_sigma=True, so flux errors come from the covariance. A group whose free fit fails or whose lines
all stay below FREE_FIT_MIN_SNR is fitted again, linearly, with the velocity and width of the best group:
faint lines get a flux with an honest error (a non-detection) instead of a degenerate fit.

Stellar Balmer absorption: the groups of Hbeta and Halpha are fitted in a window reaching at least BALMER_WINDOW_AA
either side of the Balmer line, on a quadratic continuum minus a broad absorption line at the Balmer line's
wavelength (a Lorentzian, pixel-integrated, of free depth; its half-width the best of ABSORPTION_HWHM_GRID in a
linear fit at the starting velocity and width), so the emission
is measured above the stellar absorption trough rather than above a continuum that the trough pulls down. These
two groups take the velocity and width of the best group without absorption (fitted linearly) when one is
detected: a free emission width would trade flux with the trough's core.
The Lorentzian's core is shallower than a real Balmer core, so the fitted emission loses part of its flux to it:
a share of the fitted absorption flux (ABSORPTION_CORE_SHARE, per Balmer line) is added back to the emission, and to
its error in quadrature. Each share is the median of four estimates on the seed-1 calibration spectra of
benchmarks/stars_independent_spectra.py, rounded (benchmarks/stars_balmer_shares.py, docs/stars.md section 9; one
share of 0.05 for both left the Balmer decrement 4 % low at EW(Hbeta) < 10 Angstrom, A_V 0.14 mag low).

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

from ..model.linelist import AIR_AA, GROUPS, HALPHA, HBETA, NAMES, VACUUM_AA, air_to_vacuum
from .observations import Spectrum

__all__ = ["LineFit", "estimate_redshift", "group_windows", "measure_lines"]

C_KMS = 299792.458
WINDOW_AA = 40.0  # fit window beyond the outer lines of a group (rest-frame Angstrom)
CORE_AA = 5.0  # half-width of a line's core (rest-frame Angstrom) for the coverage and masking checks
MIN_CORE_GOOD = 0.8  # share of good pixels needed in a line's core
SIGMA0_KMS = 80.0  # starting line width
SIGMA_MAX_KMS = 1000.0
DV_MAX_KMS = 600.0  # velocity freedom around the redshift
FREE_FIT_MIN_SNR = 5.0
BALMER = (HBETA, HALPHA)
BALMER_WINDOW_AA = 120.0  # half-width of the fit window around a Balmer line (rest-frame Angstrom)
# half-widths at half-maximum (rest-frame Angstrom) tried for the stellar absorption; Lorentzian fits of the Balmer
# lines of BC03 populations of 5 Myr to 10 Gyr give 4.5-16 Angstrom
ABSORPTION_HWHM_GRID = (6.0, 9.0, 13.0, 20.0, 30.0)
# of the absorption flux: the emission that the Lorentzian's shallow core takes, per Balmer line
ABSORPTION_CORE_SHARE = {HBETA: 0.04, HALPHA: 0.08}
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
    absorption: np.ndarray  # (12,) stellar absorption flux fitted under Hbeta and Halpha (erg/s/cm2), NaN elsewhere

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

    # the kinematics come from the groups without stellar absorption when one of them is detected: a free emission
    # width would trade flux with the absorption trough's core
    free: dict[int, GroupFit] = {}
    for balmer in (False, True):
        if balmer and free:
            break
        for g, plan in enumerate(plans):
            if plan is not None and (plan.balmer is not None) == balmer:
                result = _free_fit(spec, flux, sigma, plan, z)
                if result is not None:
                    free[g] = result
    best = max(free, key=lambda g: np.max(free[g].amp / free[g].err), default=None)
    dv, sv = (free[best].dv, free[best].sv) if best is not None else (0.0, SIGMA0_KMS)

    out_flux = np.full(len(NAMES), np.nan)
    out_err = np.full(len(NAMES), np.nan)
    model = np.full(len(spec.wave), np.nan)
    absorption = np.full(len(NAMES), np.nan)
    for g, plan in enumerate(plans):
        if plan is None:
            continue
        fit = free[g] if g in free else _linear_fit(spec, flux, sigma, plan, dv, sv, z)
        out_flux[plan.lines], out_err[plan.lines] = fit.amp * scale, fit.err * scale
        if plan.balmer is not None:
            absorption[plan.lines[np.argmin(np.abs(plan.mu - plan.balmer))]] = fit.absorption * scale
        model[plan.pix] = fit.model * scale
    mask = np.isfinite(out_flux) & np.isfinite(out_err) & (out_err > 0)
    out_flux[~mask] = out_err[~mask] = np.nan
    return LineFit(flux=out_flux, error=out_err, mask=mask, velocity_kms=dv, model=model, absorption=absorption)


def group_windows(centres: np.ndarray, z: float) -> list[tuple[float, float]]:
    """(lo, hi) observed wavelengths of each group's fit window, for line centres `centres` (12,) at redshift z."""
    windows = []
    for idx in GROUP_INDEX:
        mu = centres[list(idx)]
        lo, hi = mu.min() - WINDOW_AA * (1 + z), mu.max() + WINDOW_AA * (1 + z)
        for j in set(idx) & set(BALMER):
            lo, hi = min(lo, centres[j] - BALMER_WINDOW_AA * (1 + z)), max(hi, centres[j] + BALMER_WINDOW_AA * (1 + z))
        windows.append((float(lo), float(hi)))
    return windows


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


@dataclass
class Plan:
    """What one group's fit uses: the lines (indices of the 12), their observed centres, the pixels, and the
    observed centre of the group's Balmer line (None: no stellar absorption is fitted)."""

    lines: np.ndarray
    mu: np.ndarray
    pix: np.ndarray
    balmer: float | None


@dataclass
class GroupFit:
    """One group's fluxes and errors (in the scaled units of the fit), velocity, width and model over its pixels."""

    amp: np.ndarray
    err: np.ndarray
    dv: float
    sv: float
    model: np.ndarray
    hwhm: float | None = None  # half-width (observed Angstrom) of the fitted stellar absorption, None: none fitted
    absorption: float = float("nan")  # its flux (scaled units, positive: absorbed), NaN: none fitted


def _plan(
    spec: Spectrum,
    good: np.ndarray,
    centres: np.ndarray,
    covered: np.ndarray,
    nuisance: np.ndarray,
    idx: tuple[int, ...],
    z: float,
) -> Plan | None:
    """The lines and pixels of one group's fit, or None when no line of the group can be measured."""
    lines = np.array([j for j in idx if covered[j]], dtype=np.int64)
    if not len(lines):
        return None
    balmer = [j for j in lines if j in BALMER]
    lo, hi = group_windows(centres, z)[GROUP_INDEX.index(idx)]
    use = good & (spec.wave >= lo) & (spec.wave <= hi)
    for other in [*centres[[j for j in range(len(NAMES)) if j not in lines]], *nuisance]:
        use &= np.abs(spec.wave - other) > CORE_AA * (1 + z)
    pix = np.flatnonzero(use)
    if len(pix) < len(lines) + 8 + 3 * bool(balmer):
        return None
    return Plan(lines, centres[lines], pix, float(centres[balmer[0]]) if balmer else None)


def _absorption(spec: Spectrum, pix: np.ndarray, centre: float, dv: float, hwhm: float) -> np.ndarray:
    """(pixels,) unit-flux Lorentzian of half-width hwhm (Angstrom) at centre shifted by dv (km/s), pixel-averaged."""
    mu = centre * (1 + dv / C_KMS)
    half = spec.width[pix] / 2
    lam = spec.wave[pix]
    return (np.arctan((lam + half - mu) / hwhm) - np.arctan((lam - half - mu) / hwhm)) / (np.pi * 2 * half)


def _continuum_basis(x: np.ndarray, ref: float, plan: Plan) -> np.ndarray:
    """(pixels, 2 or 3) polynomial continuum terms: linear, quadratic where a Balmer absorption is fitted."""
    u = (x - ref) / 100.0
    return np.column_stack([np.ones_like(u), u, u**2][: 3 if plan.balmer is not None else 2])


def _profiles(spec: Spectrum, pix: np.ndarray, centres: np.ndarray, dv: float, sv: float) -> np.ndarray:
    """(pixels, lines) unit-flux Gaussians at velocity dv and width sv (km/s), averaged over each pixel."""
    mu = centres * (1 + dv / C_KMS)
    s = mu * sv / C_KMS
    half = spec.width[pix, None] / 2
    lam = spec.wave[pix, None]
    return (ndtr((lam + half - mu) / s) - ndtr((lam - half - mu) / s)) / (2 * half)


def _free_fit(spec: Spectrum, flux: np.ndarray, sigma: np.ndarray, plan: Plan, z: float) -> GroupFit | None:
    """curve_fit of amplitudes, shared velocity and width, the continuum (and the stellar absorption of a Balmer
    group); None if it fails or finds no line."""
    mu, pix = plan.mu, plan.pix
    ref = float(mu.mean())
    x, y, e = spec.wave[pix], flux[pix], sigma[pix]
    n = len(mu)
    pixel_kms = C_KMS * float(np.median(spec.width[pix])) / ref
    sv0 = max(SIGMA0_KMS, pixel_kms)
    basis = _continuum_basis(x, ref, plan)
    c0, c1 = _side_band_continuum(x, y, e, mu, ref)
    peak = [
        np.max(y[np.abs(x - m) <= max(2.5 * m * sv0 / C_KMS, spec.width[pix].max())] - c0 - c1 * (m - ref), initial=0.0)
        for m in mu
    ]
    cont0 = [c0, c1 * 100.0] + [0.0] * (basis.shape[1] - 2)
    p0 = [*(np.asarray(peak) * np.sqrt(2 * np.pi) * mu * sv0 / C_KMS), 0.0, np.log(sv0), *cont0]
    k = n + 2 + basis.shape[1]  # the absorption depth's parameter
    hwhm = None
    if plan.balmer is not None:  # the trough's width from the linear fit at the starting velocity and width
        hwhm = _linear_fit(spec, flux, sigma, plan, 0.0, sv0, z).hwhm
        p0.append(0.0)

    def model(_x: np.ndarray, *p: float) -> np.ndarray:
        amp = np.asarray(p[:n])
        width = np.exp(np.clip(p[n + 1], 0.0, np.log(10 * SIGMA_MAX_KMS)))  # km/s, kept finite while LM wanders
        out = basis @ np.asarray(p[n + 2 : k]) + _profiles(spec, pix, mu, p[n], width) @ amp
        if hwhm is not None:
            out = out - p[k] * _absorption(spec, pix, plan.balmer, p[n], hwhm)
        return out

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
    fitted = model(x, *popt)
    if plan.balmer is None:
        return GroupFit(amp, err, dv, sv, fitted)
    amp, err = _core_corrected(amp, err, plan, popt[k])
    return GroupFit(amp, err, dv, sv, fitted, hwhm, float(popt[k]))


def _linear_fit(
    spec: Spectrum, flux: np.ndarray, sigma: np.ndarray, plan: Plan, dv: float, sv: float, z: float
) -> GroupFit:
    """Weighted linear least squares of amplitudes, continuum (and absorption depth) with fixed velocity and width;
    the absorption's half-width is the best of ABSORPTION_HWHM_GRID."""
    mu, pix = plan.mu, plan.pix
    x = spec.wave[pix]
    n = len(mu)
    columns = np.column_stack([_profiles(spec, pix, mu, dv, sv), _continuum_basis(x, float(mu.mean()), plan)])
    hwhms = [None] if plan.balmer is None else [h * (1 + z) for h in ABSORPTION_HWHM_GRID]
    best: tuple[float, float | None, np.ndarray, np.ndarray] | None = None
    for width in hwhms:
        design = (
            columns if width is None else np.column_stack([columns, -_absorption(spec, pix, plan.balmer, dv, width)])
        )
        coef, *_ = np.linalg.lstsq(design / sigma[pix, None], flux[pix] / sigma[pix], rcond=None)
        chi2 = float(np.sum(((flux[pix] - design @ coef) / sigma[pix]) ** 2))
        if best is None or chi2 < best[0]:
            best = (chi2, width, design, coef)
    _, hwhm, design, coef = best
    weighted = design / sigma[pix, None]
    try:
        cov = np.linalg.inv(weighted.T @ weighted)
    except np.linalg.LinAlgError:
        return GroupFit(np.full(n, np.nan), np.full(n, np.nan), dv, sv, design @ coef, hwhm)
    amp, err = coef[:n], np.sqrt(np.clip(np.diag(cov)[:n], 0, None))
    if plan.balmer is None:
        return GroupFit(amp, err, dv, sv, design @ coef)
    amp, err = _core_corrected(amp, err, plan, coef[-1])
    return GroupFit(amp, err, dv, sv, design @ coef, hwhm, float(coef[-1]))


def _core_corrected(amp: np.ndarray, err: np.ndarray, plan: Plan, absorption: float) -> tuple[np.ndarray, np.ndarray]:
    """The Balmer line's flux and error with its ABSORPTION_CORE_SHARE of the fitted absorption flux added to each
    (the error in quadrature): the emission that the Lorentzian's shallow core took."""
    amp, err = amp.copy(), err.copy()
    j = int(np.argmin(np.abs(plan.mu - plan.balmer)))
    core = ABSORPTION_CORE_SHARE[int(plan.lines[j])] * max(float(absorption), 0.0)
    amp[j], err[j] = amp[j] + core, np.hypot(err[j], core)
    return amp, err


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
