"""A multispectral camera as data: band filters, per-band SNR, and the observation preprocessing.

A camera file (JSON, docs/tissue.md "Your own camera") names its bands by centre wavelength and gives each a
filter shape (`box` or `gaussian` of a FWHM), or measured transmission curves from a CSV beside it. Every filter
becomes a row of weights on the physics grid, the integer wavelengths 450-720 nm where the haemoglobin
extinction table is defined: a band value is the filter-weighted mean of the diffuse reflectance Rd(lambda),
with Rd linear between grid points. A box [c - w/2, c + w/2] with integer ends is then the trapezoid rule on
its integer wavelengths (weights 0.5, 1, ..., 1, 0.5 over w), as in swirkert/ipcai2016's fold_by_fwhm.

Noise: multiplicative Gaussian per band, R + (R / snr_b) N(0, 1). Preprocessing (swirkert/ipcai2016
regression/preprocessing.py): y = unit-length(-ln(R / sum_b R)); it removes any per-row positive scale, so raw
counts and reflectances give the same y. Simulated reflectances are first clipped to [1e-5, 1].
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..kit.errors import InputError

R_MIN, R_MAX = 1e-5, 1.0  # physical clip range of simulated reflectance
GRID_NM = np.arange(450, 721, dtype=float)  # the physics grid: where the extinction table is defined
SHAPES = ("box", "gaussian")
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
GAUSS_REACH = 3.0  # a Gaussian filter is cut at +-3 FWHM
OUTSIDE_TOLERANCE = 0.01  # largest share of a filter's area allowed outside the grid
MIN_FWHM_NM = {"box": 1.0, "gaussian": 2.0, "measured": 0.0}  # narrowest filters the 1 nm grid resolves
MIN_CENTRE_GAP_NM = 2.0  # twice the tolerance within which scan columns are matched to bands
PAPER_CAMERA = "ipcai2016"

__all__ = [
    "Band",
    "Camera",
    "GRID_NM",
    "add_noise",
    "features",
    "load_camera",
    "read_camera",
    "shipped_cameras",
    "preprocess_raw",
    "preprocess_reflectance",
]


@dataclass(frozen=True)
class Band:
    """One filter: centre and full width at half maximum (nm), and its shape ('box', 'gaussian' or 'measured')."""

    center_nm: float
    fwhm_nm: float
    shape: str


@dataclass(frozen=True, eq=False)
class Camera:
    """Bands (ascending), per-band SNR, filter weights on GRID_NM (rows sum to 1) and where the numbers come from."""

    name: str
    bands: tuple[Band, ...]
    snr: tuple[float, ...]
    response: np.ndarray  # (n_bands, len(GRID_NM))
    source: str = ""
    description: str = ""

    @property
    def band_centers_nm(self) -> tuple[float, ...]:
        """Band centres in nm, ascending; scans name their band columns by them."""
        return tuple(b.center_nm for b in self.bands)

    @property
    def band_names(self) -> list[str]:
        """Observation names, e.g. 'R470'."""
        return [f"R{c:g}" for c in self.band_centers_nm]

    @property
    def effective_snr(self) -> float:
        """One SNR with the same mean noise variance as the bands': 1 / sqrt(mean(1 / snr_b^2))."""
        return float(1.0 / np.sqrt(np.mean(1.0 / np.square(self.snr))))

    def with_snr(self, snr: float | None) -> Camera:
        """The same camera with every band at `snr` (None: unchanged)."""
        if snr is None:
            return self
        return dataclasses.replace(self, snr=(float(snr),) * len(self.bands))

    def solver_wavelengths(self) -> np.ndarray:
        """The grid wavelengths (nm, ascending) that some band weighs: where Rd must be computed."""
        return GRID_NM[self._support()]

    def band_matrix(self) -> np.ndarray:
        """(n_bands, n_solver_wavelengths) weights: band values = M @ Rd(solver wavelengths)."""
        return self.response[:, self._support()]

    def fold_matrix(self, wavelengths_nm: np.ndarray) -> np.ndarray:
        """(n_bands, len(wavelengths_nm)) weights for Rd given on a coarser ascending grid inside GRID_NM, Rd linear
        between its points: band values = F @ Rd(wavelengths_nm)."""
        eye = np.eye(len(wavelengths_nm))
        interp = np.stack([np.interp(GRID_NM, wavelengths_nm, eye[j]) for j in range(len(wavelengths_nm))], axis=1)
        return self.response @ interp

    def token(self) -> str:
        """The camera's part of the simulator version: 'box10nm-<centres>-snr10' for equal integer boxes at one
        SNR (the form of models made before camera files), else '<name>-<hash of response and SNR>'."""
        widths = {b.fwhm_nm for b in self.bands}
        plain = (
            {b.shape for b in self.bands} == {"box"}
            and len(widths) == 1
            and len(set(self.snr)) == 1
            and all(float(c).is_integer() for c in self.band_centers_nm)
            and float(next(iter(widths))).is_integer()
        )
        if plain:
            centres = ",".join(f"{c:g}" for c in self.band_centers_nm)
            return f"box{next(iter(widths)):g}nm-{centres}-snr{self.snr[0]:g}"
        digest = hashlib.sha256(np.ascontiguousarray(self.response.round(12)).tobytes())
        digest.update(np.asarray(self.snr, dtype=np.float64).tobytes())
        return f"{self.name}-{digest.hexdigest()[:12]}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description that `camera_from_dict` turns back into this camera (measured curves inline)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "bands": [{"center_nm": b.center_nm, "fwhm_nm": b.fwhm_nm, "shape": b.shape} for b in self.bands],
            "snr": list(self.snr),
        }
        if any(b.shape == "measured" for b in self.bands):
            out["response_grid_nm"] = [float(GRID_NM[0]), float(GRID_NM[-1])]
            out["response"] = self.response.tolist()
        return out

    def _support(self) -> np.ndarray:
        return np.flatnonzero((self.response > 0).any(axis=0))


def _hat_integral(t: np.ndarray) -> np.ndarray:
    """Integral from -inf to t of the unit hat function centred at 0 (support [-1, 1])."""
    t = np.clip(t, -1.0, 1.0)
    return np.where(t <= 0.0, 0.5 * (t + 1.0) ** 2, 1.0 - 0.5 * (1.0 - t) ** 2)


def box_weights(center_nm: float, width_nm: float) -> np.ndarray:
    """Weights on GRID_NM of the mean of a piecewise-linear Rd over [c - w/2, c + w/2] (exact)."""
    lo, hi = center_nm - width_nm / 2.0, center_nm + width_nm / 2.0
    return (_hat_integral(hi - GRID_NM) - _hat_integral(lo - GRID_NM)) / width_nm


def gaussian_weights(center_nm: float, fwhm_nm: float) -> np.ndarray:
    """Unnormalised Gaussian filter sampled on GRID_NM, cut at +-3 FWHM."""
    sigma = fwhm_nm / FWHM_PER_SIGMA
    w = np.exp(-0.5 * ((GRID_NM - center_nm) / sigma) ** 2)
    return np.where(np.abs(GRID_NM - center_nm) <= GAUSS_REACH * fwhm_nm, w, 0.0)


def _outside_share_gaussian(center_nm: float, fwhm_nm: float) -> float:
    """Share of a Gaussian filter's area outside GRID_NM."""
    sigma = fwhm_nm / FWHM_PER_SIGMA
    z_lo, z_hi = (GRID_NM[0] - center_nm) / sigma, (GRID_NM[-1] - center_nm) / sigma
    return 1.0 - 0.5 * (math.erf(z_hi / math.sqrt(2)) - math.erf(z_lo / math.sqrt(2)))


def _number(value: Any, what: str, *, low: float = 0.0) -> float:
    """A finite number > low, or InputError naming `what`."""
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer literal too large for a float
        number = math.inf
    if not math.isfinite(number) or number <= low:
        raise InputError(f"{what} must be a finite number above {low:g}, not {_short(value)}")
    return number


def _short(value: Any) -> str:
    """A value for a message, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _measured(spec: dict[str, Any], base: Path | None, n_bands: int, where: str) -> np.ndarray:
    """Filter weights on GRID_NM from measured curves: a CSV named by transmission_csv, or an inline response."""
    if "response" in spec:  # a camera stored in a model or simulation file
        try:
            response = np.asarray(spec["response"], dtype=float)
        except (TypeError, ValueError):
            response = np.empty(0)
        if response.shape != (n_bands, len(GRID_NM)) or not np.isfinite(response).all() or (response < 0).any():
            raise InputError(f"{where}: a stored response must be ({n_bands}, {len(GRID_NM)}) finite weights >= 0")
        return response
    import pandas as pd
    from scipy.integrate import trapezoid

    path = (base or Path.cwd()) / str(spec["transmission_csv"])
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise InputError(f"{where}: cannot read transmission_csv {path} ({' '.join(str(err).split())})") from None
    if "wavelength_nm" not in table or table.shape[1] != n_bands + 1:
        raise InputError(
            f"{where}: {path.name} must have a wavelength_nm column and one column per band ({n_bands}), "
            f"found {list(table.columns)}"
        )
    try:
        values = table.to_numpy(dtype=float)
    except ValueError:
        raise InputError(f"{where}: {path.name} holds values that are not numbers") from None
    wl, curves = values[:, 0], values[:, 1:]
    if len(wl) < 2 or not np.isfinite(values).all() or (curves < 0).any() or np.any(np.diff(wl) <= 0):
        raise InputError(f"{where}: {path.name} needs finite transmissions >= 0 at two or more increasing wavelengths")
    rows = []
    for b in range(n_bands):
        total = trapezoid(curves[:, b], wl)
        on_grid = np.interp(GRID_NM, wl, curves[:, b], left=0.0, right=0.0)
        inside = trapezoid(on_grid, GRID_NM)
        if total <= 0 or inside < (1.0 - OUTSIDE_TOLERANCE) * total:
            raise InputError(
                f"{where}: band {b + 1} of {path.name} has more than {OUTSIDE_TOLERANCE:.0%} of its transmission "
                f"outside {GRID_NM[0]:g}-{GRID_NM[-1]:g} nm, where the tissue model is defined"
            )
        rows.append(on_grid)
    return np.stack(rows)


def camera_from_dict(spec: Any, base: Path | None = None, where: str = "camera") -> Camera:
    """A Camera from a camera file's JSON object (transmission_csv relative to `base`); InputError if unusable."""
    if not isinstance(spec, dict):
        raise InputError(f"{where}: a camera file holds one JSON object")
    missing = [k for k in ("name", "bands", "snr") if k not in spec]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)} (needed: name, bands, snr)")
    raw_bands = spec["bands"]
    if not isinstance(raw_bands, list) or len(raw_bands) < 2:
        raise InputError(f"{where}: bands must be a list of two or more {{center_nm, fwhm_nm, shape}}")
    measured = "transmission_csv" in spec or "response" in spec
    bands = []
    for i, b in enumerate(raw_bands, start=1):
        if not isinstance(b, dict):
            raise InputError(f"{where}: band {i} must be an object with center_nm, fwhm_nm and shape")
        shape = "measured" if measured else b.get("shape")
        if shape not in (*SHAPES, "measured"):
            raise InputError(f"{where}: band {i} shape must be one of {', '.join(SHAPES)}, not {shape!r}")
        center = _number(b.get("center_nm"), f"{where}: band {i} center_nm")
        fwhm = _number(b.get("fwhm_nm"), f"{where}: band {i} fwhm_nm")
        if fwhm < MIN_FWHM_NM[shape]:
            raise InputError(
                f"{where}: band {i} is a {shape} of FWHM {fwhm:g} nm; the 1 nm grid needs >= {MIN_FWHM_NM[shape]:g} nm"
            )
        bands.append(Band(center, fwhm, shape))
    gaps = np.diff([b.center_nm for b in bands])
    if np.any(gaps <= 0):
        raise InputError(f"{where}: band centres must be listed in ascending order without repeats")
    if np.any(gaps < MIN_CENTRE_GAP_NM):
        raise InputError(
            f"{where}: band centres must be at least {MIN_CENTRE_GAP_NM:g} nm apart, so that a scan's columns "
            f"(matched within {MIN_CENTRE_GAP_NM / 2:g} nm) name one band each"
        )
    snr = spec["snr"]
    snr = [snr] * len(bands) if not isinstance(snr, list) else snr
    if len(snr) != len(bands):
        raise InputError(f"{where}: snr lists {len(snr)} values for {len(bands)} bands")
    snr = tuple(_number(s, f"{where}: snr") for s in snr)
    if measured:
        response = _measured(spec, base, len(bands), where)
    else:
        rows = []
        for i, b in enumerate(bands, start=1):
            if b.shape == "box":
                lo, hi = b.center_nm - b.fwhm_nm / 2.0, b.center_nm + b.fwhm_nm / 2.0
                outside = lo < GRID_NM[0] or hi > GRID_NM[-1]
                rows.append(box_weights(b.center_nm, b.fwhm_nm))
            else:
                outside = _outside_share_gaussian(b.center_nm, b.fwhm_nm) > OUTSIDE_TOLERANCE
                rows.append(gaussian_weights(b.center_nm, b.fwhm_nm))
            if outside:
                raise InputError(
                    f"{where}: band {i} ({b.center_nm:g} nm, FWHM {b.fwhm_nm:g} nm) reaches outside "
                    f"{GRID_NM[0]:g}-{GRID_NM[-1]:g} nm, where the tissue model is defined"
                )
        response = np.stack(rows)
    totals = response.sum(axis=1, keepdims=True)
    if not (np.isfinite(totals) & (totals > 0)).all():
        raise InputError(f"{where}: band {int(np.argmin(totals)) + 1} has no transmission inside 450-720 nm")
    response = response / totals
    return Camera(
        str(spec["name"]),
        tuple(bands),
        snr,
        response,
        str(spec.get("source", "")),
        str(spec.get("description", "")),
    )


def read_camera(path: str | Path) -> Camera:
    """Read a camera file (JSON); InputError (one line) if it is missing or unusable."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"camera file not found: {path}") from None
    except RecursionError:
        raise InputError(f"{path}: not a readable JSON camera file (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a readable JSON camera file ({' '.join(str(err).split())})") from None
    return camera_from_dict(spec, path.parent, str(path))


def shipped_cameras() -> dict[str, Path]:
    """{name: path} of the camera files shipped in invert.data/tissue (camera_<name>.json)."""
    folder = resources.files("invert.data").joinpath("tissue")
    found = sorted(p for p in folder.iterdir() if p.name.startswith("camera_") and p.name.endswith(".json"))
    return {p.name.removeprefix("camera_").removesuffix(".json"): Path(str(p)) for p in found}


def load_camera(name: str = PAPER_CAMERA) -> Camera:
    """A shipped camera by name (default: the 8-band camera of Wirkert et al., IPCAI 2016) or a camera file path."""
    cameras = shipped_cameras()
    if name in cameras:
        return read_camera(cameras[name])
    if Path(name).suffix.lower() == ".json":
        return read_camera(name)
    raise InputError(f"unknown camera {name!r}: give a camera file (.json) or one of {', '.join(cameras)}")


def add_noise(r: torch.Tensor, snr: float | torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Multiplicative Gaussian noise per band: R + (R / snr_b) * N(0, 1); snr a number or one per band."""
    eps = torch.randn(r.shape, generator=generator, device=r.device, dtype=r.dtype)
    return r + (r / torch.as_tensor(snr, dtype=r.dtype, device=r.device)) * eps


def features(r: torch.Tensor) -> torch.Tensor:
    """Scale-free observation y = unit-length(-ln(R / sum_b R)) of positive band values R (n, bands)."""
    f = -torch.log(r / r.sum(dim=-1, keepdim=True))
    return f / torch.linalg.vector_norm(f, dim=-1, keepdim=True)


def preprocess_reflectance(r: torch.Tensor) -> torch.Tensor:
    """Simulated (possibly noisy) reflectance -> y: clip to [1e-5, 1], then `features`."""
    return features(r.clamp(R_MIN, R_MAX))


def preprocess_raw(raw: np.ndarray) -> np.ndarray:
    """User band intensities (n, bands), any positive per-row scale -> y (float32); a row with a value <= 0 or
    a non-finite value gives NaN.

    The sum normalisation comes first, so the scale of counts never meets the [1e-5, 1] clip of
    simulated reflectance; for reflectances within [1e-5, 1] both paths give the same y.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2:
        raise ValueError(f"raw must have shape (n, bands), got {raw.shape}")
    bad = ~np.all(np.isfinite(raw) & (raw > 0), axis=1)
    safe = np.where(bad[:, None], 1.0, raw)
    y = features(torch.from_numpy(safe)).numpy()
    y[bad] = np.nan
    return y.astype(np.float32)
