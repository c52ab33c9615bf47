"""Independent test spectra for `invert stars`: full bagpipes 1.3.6 spectra of a young burst on an older population.

Run with a separate environment that has bagpipes (never a dependency of invert):

    python3 -m venv .bench-venv && .bench-venv/bin/pip install bagpipes==1.3.6 numpy astropy
    OMP_NUM_THREADS=1 .bench-venv/bin/python benchmarks/stars_independent_spectra.py \
        --out benchmarks/independent_spectra/eval --n 120 --seed 0

The package's line model is derived from bagpipes' Cloudy line grid for single bursts, so the lines alone would not
be independent; what the package never models, and these spectra have, is everything else in a real spectrum:
the BC03/MILES stellar continuum of the burst and of an older population, with its stellar Balmer absorption under
Hbeta and Halpha; the nebular continuum; birth-cloud dust (lines attenuated by eta * A_V,ISM, the older stars by
A_V,ISM only); bagpipes' own interpolation in Z and logU and its age binning; velocity dispersion applied to stars
and gas together; per-pixel noise with a photon term; two FITS layouts (A: SDSS-like COADD table in vacuum
log-lambda pixels, R ~ 2000; B: 1-D image with an AWAV linear WCS and an ERR HDU, R ~ 2500).

Each object (seeded by --seed and its index):
- the truth, drawn from the package's default prior (docs/stars.md section 1): logM ~ U[4, 7] (mass formed in the
  burst), logt ~ U[6, 7.4], logZ ~ U[log10 0.2, 0], logU ~ U[-4, -1], A_V ~ U[0, 3] (the attenuation of the lines,
  CCM89 R_V = 3.1 as the shipped model assumes). Half the objects have birth-cloud dust: eta ~ U[1, 2.5] and the
  ISM screen A_V,ISM = A_V / eta (the continuum of the older stars sees only that); the others eta = 1.
  bagpipes puts a burst into its nearest age bin (0.1 dex); the truth logt is that bin's age, the age bagpipes used.
- an older population: constant star formation from age_min ~ logU[0.05, 1] Gyr to age_max ~ logU[1, 10] Gyr, at
  the burst's metallicity. It has no stars younger than bagpipes' birth-cloud time t_bc = 28.2 Myr (set so that the
  burst's lines cover the whole prior, 1-25 Myr), so the lines come from the burst alone and the truth is exact.
  Its mass is set so that the Hbeta emission equivalent width (line over the whole continuum) is a drawn
  EW ~ logU[1.5, 300] Angstrom; where the burst's own continuum already makes it lower, there is no older population.
  Low EW means strong stellar Balmer absorption relative to the emission line.
- a redshift z ~ U[0.005, 0.08]; intrinsic velocity dispersion ~ U[20, 80] km/s added in quadrature to the
  instrument's (65 km/s for A, 50 km/s for B); layout A or B alternately.
- noise: per-pixel sigma^2 = s0^2 (1 + F(lambda) / F_c), a sky/detector term plus a photon term (F the noise-free
  spectrum smoothed over 51 pixels, F_c its median), with s0 set so that the continuum beside Hbeta has a S/N per
  pixel ~ logU[4, 40]; the line S/N follows from the EW (truth.csv lists Hbeta's optimal-extraction S/N, as
  tests/apps/stars/synth.noise_for_snr defines it).

Writes <out>/<id>.fits for each object and <out>/truth.csv: id, file, layout, z, the five parameters, eta, A_V_ism,
the older population, EW, S/N, dispersion, and the true (attenuated) flux of each of the 12 lines (erg/s/cm2,
bagpipes' model.line_fluxes), for line-level diagnostics.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

os.environ.setdefault("OMP_NUM_THREADS", "1")
import bagpipes as pipes  # noqa: E402  (a benchmark-only dependency: pip install bagpipes==1.3.6)


def _package_linelist():
    """The package's line list (apps/stars/model/linelist.py, numpy only), loaded from its file: the benchmark's
    environment has bagpipes but not invert."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "apps" / "stars" / "model" / "linelist.py"
    spec = importlib.util.spec_from_file_location("linelist", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


linelist = _package_linelist()

C_KMS = 299792.458
R_SPEC = 10000.0  # bagpipes' internal spectral sampling (15 km/s pixels; its default 1000 puts lines in 150 km/s bins)
# just below the upper edge of bagpipes' 10^7.4 yr age bin (10^7.45 yr): the nebular grid's whole age range
T_BC_GYR = float(pipes.config.age_bins[15]) / 1e9 * (1 - 1e-9)
HBETA_AIR = float(linelist.AIR_AA[linelist.HBETA])
INSTRUMENT_KMS = {"A": 65.0, "B": 50.0}
NO_OLD = -30.0  # log10 mass of an absent older population (bagpipes needs the component)


def observed_air_wavelengths(layout: str) -> tuple[np.ndarray, np.ndarray]:
    """(air wavelengths for bagpipes, wavelengths as written): A SDSS vacuum log-lambda, B AWAV linear."""
    if layout == "A":
        loglam = np.arange(np.log10(3800.0), np.log10(9200.0), 1e-4)
        vac = 10 ** loglam.astype(np.float32).astype(np.float64)
        return linelist.vacuum_to_air(vac), loglam
    wave = 3650.0 + 1.0 * np.arange(3900)
    return wave, wave


def draw_object(rng: np.random.Generator) -> dict:
    """The parameters of one object (module docstring)."""
    a_v = rng.uniform(0, 3)
    eta = rng.uniform(1, 2.5) if rng.random() < 0.5 else 1.0
    return dict(
        logM=rng.uniform(4, 7),
        logt_drawn=rng.uniform(6, 7.4),
        logZ=rng.uniform(np.log10(0.2), 0),
        logU=rng.uniform(-4, -1),
        A_V=a_v,
        eta=eta,
        A_V_ism=a_v / eta,
        old_age_min=10 ** rng.uniform(np.log10(0.05), 0),
        old_age_max=10 ** rng.uniform(0, 1),
        ew_target=10 ** rng.uniform(np.log10(1.5), np.log10(300)),
        continuum_snr=10 ** rng.uniform(np.log10(4), np.log10(40)),
        z=rng.uniform(0.005, 0.08),
        sigma_int=rng.uniform(20, 80),
    )


def components(p: dict, veldisp: float, log_mass_old: float) -> dict:
    """bagpipes model components: the burst and the older population (log_mass_old = NO_OLD: none)."""
    return {
        "redshift": p["z"],
        "veldisp": veldisp,
        "t_bc": T_BC_GYR,
        "burst": {"age": 10 ** p["logt_drawn"] / 1e9, "massformed": p["logM"], "metallicity": 10 ** p["logZ"]},
        "constant": {
            "age_min": p["old_age_min"],
            "age_max": p["old_age_max"],
            "massformed": log_mass_old,
            "metallicity": 10 ** p["logZ"],
        },
        "nebular": {"logU": p["logU"]},
        "dust": {"type": "Cardelli", "Av": p["A_V_ism"], "eta": p["eta"]},
    }


def spectrum(models: dict, layout: str, comp: dict) -> "pipes.model_galaxy":
    """The bagpipes model of `comp` on the layout's wavelengths (one model_galaxy per layout, updated)."""
    if layout not in models:
        models[layout] = pipes.model_galaxy(comp, spec_wavs=observed_air_wavelengths(layout)[0])
    else:
        models[layout].update(comp)
    return models[layout]


def hbeta_continuum(wave_air: np.ndarray, flux: np.ndarray, z: float) -> float:
    """Mean flux density in side bands 30-60 Angstrom (rest) either side of Hbeta."""
    rest = wave_air / (1 + z)
    side = (np.abs(rest - HBETA_AIR) > 30) & (np.abs(rest - HBETA_AIR) < 60)
    return float(np.mean(flux[side]))


def make_object(
    p: dict, layout: str, rng: np.random.Generator, models: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(written wavelengths, flux, sigma) in erg/s/cm2/Angstrom and the truth row of one object."""
    wave_air, written = observed_air_wavelengths(layout)
    veldisp = float(np.hypot(p["sigma_int"], INSTRUMENT_KMS[layout]))
    young = spectrum(models, layout, components(p, veldisp, NO_OLD))
    lines = np.array([young.line_fluxes[label] for label in linelist.CLOUDY_LABELS])
    f_hb = lines[linelist.HBETA]
    clean = young.spectrum[:, 1].copy()
    c_young = hbeta_continuum(wave_air, clean, p["z"])  # with the nebular continuum
    c_old = hbeta_continuum(
        wave_air, spectrum(models, layout, components(p, veldisp, 0.0)).spectrum[:, 1] - clean, p["z"]
    )
    mass_old = (f_hb / (p["ew_target"] * (1 + p["z"])) - c_young) / c_old
    log_mass_old = float(np.log10(mass_old)) if mass_old > 0 else NO_OLD
    clean = spectrum(models, layout, components(p, veldisp, log_mass_old)).spectrum[:, 1]
    ew = f_hb / hbeta_continuum(wave_air, clean, p["z"]) / (1 + p["z"])
    smooth = np.convolve(np.pad(clean, 25, mode="edge"), np.ones(51) / 51, mode="valid")
    shape = np.sqrt(1 + np.clip(smooth, 0, None) / np.median(smooth))
    hb_obs = HBETA_AIR * (1 + p["z"])
    k = int(np.argmin(np.abs(wave_air - hb_obs)))
    pixel = float(np.gradient(wave_air)[k])
    s_line = hb_obs * veldisp / C_KMS
    sigma = hbeta_continuum(wave_air, clean, p["z"]) / p["continuum_snr"] / shape[k] * shape
    snr_hbeta = f_hb / (sigma[k] * np.sqrt(2 * np.sqrt(np.pi) * s_line * pixel))  # optimal extraction
    flux = clean + rng.normal(size=len(clean)) * sigma
    trueage = float(
        np.log10(pipes.config.age_sampling[np.argmin(np.abs(pipes.config.age_sampling - 10 ** p["logt_drawn"]))])
    )
    truth = {
        "layout": layout,
        "z": p["z"],
        "logM": p["logM"],
        "logt": trueage,
        "logZ": p["logZ"],
        "logU": p["logU"],
        "A_V": p["A_V"],
        "eta": p["eta"],
        "A_V_ism": p["A_V_ism"],
        "log_mass_old": log_mass_old if log_mass_old > NO_OLD else np.nan,
        "old_age_min_gyr": p["old_age_min"],
        "old_age_max_gyr": p["old_age_max"],
        "ew_hbeta": ew,
        "continuum_snr_per_pixel": p["continuum_snr"],
        "snr_hbeta": snr_hbeta,
        "veldisp_kms": veldisp,
        **{f"true_{n}": f for n, f in zip(linelist.NAMES, lines)},
    }
    return written, flux, sigma, truth


def write_fits(path: Path, layout: str, written: np.ndarray, flux: np.ndarray, sigma: np.ndarray, z: float) -> None:
    """Layout A (SDSS COADD table, 1e-17 units, SPECOBJ Z) or B (AWAV WCS image, ERR HDU, Z keyword)."""
    f17, s17 = flux / 1e-17, sigma / 1e-17
    if layout == "A":
        cols = [
            fits.Column(name="flux", format="E", array=f17),
            fits.Column(name="loglam", format="E", array=written),
            fits.Column(name="ivar", format="E", array=1 / s17**2),
        ]
        specobj = fits.BinTableHDU.from_columns([fits.Column(name="Z", format="E", array=[z])], name="SPECOBJ")
        hdus = [fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="COADD"), specobj]
    else:
        header = fits.Header()
        header["CTYPE1"], header["CUNIT1"] = "AWAV", "Angstrom"
        header["CRVAL1"], header["CDELT1"], header["CRPIX1"] = float(written[0]), 1.0, 1.0
        header["BUNIT"], header["Z"] = "1e-17 erg/s/cm2/Angstrom", z
        hdus = [
            fits.PrimaryHDU(f17.astype(np.float32), header=header),
            fits.ImageHDU(s17.astype(np.float32), name="ERR"),
        ]
    hdus[0].header["OBJECT"] = path.stem
    fits.HDUList(hdus).writeto(path, overwrite=True)


def main() -> None:
    """Write --n spectra and truth.csv to --out."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/independent_spectra/eval"))
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pipes.config.R_spec = R_SPEC
    args.out.mkdir(parents=True, exist_ok=True)
    rows, models = [], {}
    for i in range(args.n):
        rng = np.random.default_rng([args.seed, i])
        p = draw_object(rng)
        layout = "AB"[i % 2]
        written, flux, sigma, truth = make_object(p, layout, rng, models)
        name = f"s{args.seed}_{i:04d}"
        write_fits(args.out / f"{name}.fits", layout, written, flux, sigma, p["z"])
        rows.append({"id": name, "file": f"{name}.fits", **truth})
        print(f"{name} {layout} EW(Hb) {truth['ew_hbeta']:.1f} A, S/N(Hb) {truth['snr_hbeta']:.0f}", flush=True)
    with open(args.out / "truth.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} spectra and truth.csv to {args.out} (seed {args.seed})")


if __name__ == "__main__":
    main()
