"""From line fluxes, measured or read, to LineObservations: what every loader does once it has its fluxes.

Redshift: --redshift (noted when it replaces the file's), else the file's (`choose_redshift`); a spectrum's
loader estimates one when neither gives it (spectrum.from_spectrum). A line whose flux or error is infinite or beyond
measurement_model.VALUE_LIMITS is masked, with a warning naming the objects. Objects are flagged, not dropped:
"bad_values" (Hbeta, or every line, masked for such values), "all_masked" (no line measured), "bad_redshift"
(z outside Z_RANGE), "no_hbeta" (Hbeta not measured or S/N < 3).
"""

from __future__ import annotations

import numpy as np

from ..model.linelist import HBETA, NAMES
from ..model.measurement_model import VALUE_LIMITS, in_limits
from .observations import LineObservations, PlotSpectrum

__all__ = ["MIN_HBETA_SNR", "Z_RANGE", "assemble", "choose_redshift", "object_status"]

MIN_HBETA_SNR = 3.0
# redshifts at which the optical line model applies; others get status "bad_redshift". stars.md says z < 0 is bad;
# the lower end allows Local Group blueshifts (M31 z = -0.001) down to -1500 km/s.
Z_RANGE = (-0.005, 0.5)
OII = [NAMES.index("OII3726"), NAMES.index("OII3729")]
MAX_LISTED = 5  # objects named in a warning


def object_status(
    mask: np.ndarray,
    fluxes: np.ndarray,
    errors: np.ndarray,
    redshift: np.ndarray,
    also_observed: np.ndarray | None = None,
    bad: np.ndarray | None = None,
) -> np.ndarray:
    """(n,) "ok" or the first problem of each object: "bad_values", "all_masked", "bad_redshift", "no_hbeta".

    also_observed marks objects with a measurement outside the 12 lines (the blended [OII] sum); bad (n, 12) marks
    the lines masked for infinite or extreme values: "bad_values" where Hbeta is one of them, or no line is left.
    """
    status = np.full(len(mask), "ok", dtype=object)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        hbeta_snr = np.where(mask[:, HBETA], fluxes[:, HBETA] / errors[:, HBETA], -np.inf)
    z_bad = ~np.isnan(redshift) & ~((redshift >= Z_RANGE[0]) & (redshift <= Z_RANGE[1]))  # infinite z too
    observed = mask.any(axis=1) if also_observed is None else mask.any(axis=1) | also_observed
    bad = np.zeros(mask.shape, dtype=bool) if bad is None else bad
    bad_values = bad[:, HBETA] | (bad.any(axis=1) & ~observed)
    for reason, flagged in (
        ("bad_values", bad_values),
        ("all_masked", ~observed),
        ("bad_redshift", z_bad),
        ("no_hbeta", hbeta_snr < MIN_HBETA_SNR),
    ):
        status[flagged & (status == "ok")] = reason
    return status


def choose_redshift(
    argument: float | None, stated: float | None, where: str, notes: list[str]
) -> tuple[float | None, str]:
    """(z, source) from --redshift or the file; (None, "none") when neither gives one."""
    if argument is not None:
        if stated is not None and abs(stated - argument) > 1e-6:
            notes.append(f"--redshift {argument:g} used instead of the file's z = {stated:g}")
        return float(argument), "argument"
    if stated is not None:
        notes.append(f"redshift z = {stated:g} from the {where}")
        return stated, where
    return None, "none"


def assemble(
    ids: np.ndarray,
    fluxes: np.ndarray,
    errors: np.ndarray,
    z: np.ndarray,
    z_source: str,
    medium: str | None,
    spectra: list[PlotSpectrum],
    notes: list[str],
    warn: list[str],
    blend: tuple[np.ndarray, np.ndarray] | None = None,
) -> LineObservations:
    """LineObservations of the usable lines (NaN elsewhere), the [OII] sum (the file's blend if given), statuses."""
    mask, bad = _line_quality(fluxes, errors)
    fluxes, errors = np.where(mask, fluxes, np.nan), np.where(mask, errors, np.nan)
    both = mask[:, OII].all(axis=1)
    oii_sum = np.where(both, fluxes[:, OII].sum(axis=1), np.nan)
    oii_err = np.where(both, np.hypot(errors[:, OII[0]], errors[:, OII[1]]), np.nan)
    given, bad_blend = np.zeros(len(ids), dtype=bool), np.zeros(len(ids), dtype=bool)
    if blend is not None:
        given, bad_blend = _line_quality(*blend)
        oii_sum[given], oii_err[given] = blend[0][given], blend[1][given]
    _warn_bad_values(ids, np.column_stack([bad, bad_blend]), warn)
    return LineObservations(
        ids=np.asarray(ids, dtype=object),
        fluxes=fluxes,
        errors=errors,
        mask=mask,
        redshift=z,
        status=object_status(mask, fluxes, errors, z, given, bad),
        oii_sum=oii_sum,
        oii_sum_error=oii_err,
        redshift_source=z_source,
        medium=medium,
        spectra=spectra,
        notes=notes,
        warnings=warn,
    )


def _line_quality(fluxes: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(usable, bad): within VALUE_LIMITS; given but infinite or beyond them (a NaN flux or error <= 0 is missing)."""
    usable = in_limits(fluxes, errors)
    with np.errstate(invalid="ignore"):
        missing = np.isnan(fluxes) | ~(errors > 0)
    return usable, ~usable & ~missing


def _warn_bad_values(ids: np.ndarray, bad: np.ndarray, warn: list[str]) -> None:
    """One warning naming the first objects and lines (the 12, then the [OII] blend) masked for bad values."""
    rows = np.flatnonzero(bad.any(axis=1))
    if not len(rows):
        return
    names = [*NAMES, "OII3727 blend"]
    listed = "; ".join(f"{ids[i]}: {', '.join(n for n, b in zip(names, bad[i]) if b)}" for i in rows[:MAX_LISTED])
    more = f"; {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    warn.append(
        f"{int(bad.sum())} line value(s) in {len(rows)} object(s) infinite or beyond {VALUE_LIMITS[1]:g} "
        f"erg/s/cm2 (or with an error below {VALUE_LIMITS[0]:g}) masked as unusable ({listed}{more}); "
        "an object that loses Hbeta or every line this way gets status bad_values"
    )
