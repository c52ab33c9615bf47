"""Loader of emission-line tables (stars.md section 4, layout D), also the reader of SDSS SPZLINE catalogue lines.

The table is a FITS binary table HDU or a CSV, ECSV or VOTable catalogue (catalog.py), both seen through
table_columns.TableColumns. With a column mapping (column_map.py, --columns) the mapped columns are read and nothing
is guessed; otherwise the columns are recognised by their names as below.

Wide tables have one row per region and columns like HA6562_FLUX with HA6562_FLUX_ERR (also _FLUX_ERROR,
_FLUXERR, _ERR, _FLUX_SIGMA, or an inverse variance _FLUX_IVAR). The four digits (decimals allowed) are matched
to the nearest of the 12 lines in air or vacuum within MATCH_AA. [OII] is special, its two lines being 2.8 A
apart: one [OII] column whose digits are 3726 or 3729 is that line; one column at any other [OII] wavelength
(OII3727, OII3728) is the blended doublet, kept as LineObservations.oii_sum; two columns are the two lines in
wavelength order; three are 3726, the blend and 3729. Long tables (LINENAME, LINEWAVE, LINEAREA, LINEAREA_ERR)
hold one line per row and one object (or one per value of an ID column), matched by LINEWAVE.

Units: --flux-unit for every column, else the column's unit in the file (TUNITn, an ECSV or VOTable unit), else the
mapping's flux_unit; an error column without one takes its flux column's; none -> InputError; a file unit that
contradicts the mapping's -> InputError. A NaN flux or a NaN, zero or negative
error makes the line missing; a negative flux with a valid error is kept as a non-detection with its error.
Infinite values and values beyond measurement_model.VALUE_LIMITS are kept for assemble, which flags them.
Columns must hold one number per row, and the ids of a wide table's ID column must be unique (InputError).
Redshifts come from the mapping's column, else a Z or REDSHIFT column, or --redshift for every row.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from invert.apps.kit.errors import InputError

from ..model.linelist import AIR_AA, NAMES, VACUUM_AA
from ..model.measurement_model import in_limits
from .assemble import assemble
from .column_map import BLEND, ColumnMap
from .headers import column_names, first_hdu
from .observations import LineObservations, ReadOptions
from .table_columns import FitsColumns, TableColumns
from .units import line_flux_factor, line_flux_unit

__all__ = [
    "LineTable",
    "column_values",
    "from_table",
    "identify",
    "identify_mapped",
    "match_line",
    "read",
    "read_columns",
    "read_line_table",
    "read_long_table",
]

MATCH_AA = 3.0
OII_RANGE = (3722.0, 3733.0)
FLUX_COLUMN = re.compile(r"^\[?(?P<label>[A-Z]+)\]?_?(?P<wave>\d{4}(?:\.\d+)?)(?:A|AA)?_?FLUX$", re.IGNORECASE)
ERROR_SUFFIXES = {"_ERR": "sigma", "_ERROR": "sigma", "ERR": "sigma", "_SIGMA": "sigma", "_IVAR": "ivar"}
ID_COLUMNS = ("ID", "NAME", "REGION", "REGION_ID", "REGION_NAME", "OBJID", "OBJECT", "SPECOBJID")
REDSHIFT_COLUMNS = ("Z", "REDSHIFT")
LONG_TABLE_COLUMNS = {"LINENAME", "LINEWAVE", "LINEAREA", "LINEAREA_ERR"}
OII_SUM = -1  # match_line's answer for the blended [OII] doublet
NOT_NUMBERS = {"S": "text", "U": "text", "O": "variable-length arrays", "b": "logical values", "c": "complex numbers"}


@dataclass
class LineTable:
    """Line fluxes of the objects of a table, erg/s/cm2, NaN where missing."""

    ids: np.ndarray  # (n,) object
    fluxes: np.ndarray  # (n, 12)
    errors: np.ndarray  # (n, 12)
    oii_sum: np.ndarray  # (n,)
    oii_sum_error: np.ndarray  # (n,)
    redshift: np.ndarray  # (n,), NaN where the table gives none


def identify(hdul: fits.HDUList) -> int | None:
    """The binary table with line-flux columns like HA6562_FLUX, or LINENAME/LINEWAVE/LINEAREA/LINEAREA_ERR."""
    return first_hdu(hdul, _is_line_table)


def identify_mapped(hdul: fits.HDUList, name: str, mapping: ColumnMap) -> int:
    """The binary table holding the most of the mapping's flux columns (the first of equals); InputError if none."""
    tables = [i for i, hdu in enumerate(hdul) if isinstance(hdu, fits.BinTableHDU)]
    if not tables:
        raise InputError(f"{name}: --columns reads a table, but the file has no binary table HDU")
    wanted = {c.flux.upper() for c in mapping.lines.values()}
    return max(tables, key=lambda i: (len(wanted & {n.upper() for n in column_names(hdul[i])}), -i))


def read(
    hdul: fits.HDUList, index: int, name: str, options: ReadOptions, notes: list[str], warn: list[str]
) -> LineObservations:
    """The line fluxes of every row (wide table) or object (long table) of the table in HDU index."""
    return read_columns(
        FitsColumns(hdul[index]), f"{name} HDU {index} ({hdul[index].name})", name, options, notes, warn
    )


def read_columns(
    columns: TableColumns, source: str, name: str, options: ReadOptions, notes: list[str], warn: list[str]
) -> LineObservations:
    """The line fluxes of every row (wide table) or object (long table) of a table of the file name."""
    table = read_line_table(
        columns,
        source,
        os.path.splitext(os.path.basename(name))[0],
        options.flux_unit,
        notes,
        warn,
        options.columns,
    )
    z, z_source = table.redshift, ("file" if np.isfinite(table.redshift).any() else "none")
    if options.redshift is not None:
        if z_source == "file":
            notes.append(f"{name}: --redshift {options.redshift:g} used instead of the table's redshift column")
        z, z_source = np.full(len(table.ids), float(options.redshift)), "argument"
    return from_table(table, z, z_source, notes, warn)


def from_table(table: LineTable, z: np.ndarray, z_source: str, notes: list[str], warn: list[str]) -> LineObservations:
    """LineObservations of a table's line fluxes, with its blended [OII] sum, at redshifts z."""
    return assemble(
        table.ids,
        table.fluxes,
        table.errors,
        np.asarray(z, dtype=np.float64),
        z_source,
        None,
        [],
        notes,
        warn,
        blend=(table.oii_sum, table.oii_sum_error),
    )


def match_line(wave: float) -> int | None:
    """Index of the line (air or vacuum list) nearest to wave within MATCH_AA, else None."""
    dist = np.minimum(np.abs(AIR_AA - wave), np.abs(VACUUM_AA - wave))
    j = int(np.argmin(dist))
    return j if dist[j] <= MATCH_AA else None


def read_line_table(
    columns: TableColumns,
    source: str,
    default_id: str,
    flux_unit: str | None,
    notes: list[str],
    warn: list[str],
    mapping: ColumnMap | None = None,
) -> LineTable:
    """A wide or long emission-line table, or the mapped columns of a table; InputError when no line column or no
    unit can be found, or a mapped column is missing."""
    if mapping is None and LONG_TABLE_COLUMNS <= {n.upper() for n in columns.names}:
        return read_long_table(columns, source, default_id, flux_unit, None, notes, warn)
    n = len(columns)
    if n == 0:
        raise InputError(f"{source}: the line table has no rows")
    if mapping is None:
        targets, mapped_unit = _wide_columns(columns.names, source, notes, warn), None
    else:
        targets = _mapped_columns(columns, mapping, source, notes)
        given = mapping.flux_unit
        mapped_unit = None if given is None else line_flux_unit(given, f"--columns {mapping.name}", notes)
    fluxes, errors = np.full((n, 12), np.nan), np.full((n, 12), np.nan)
    oii_sum, oii_err = np.full(n, np.nan), np.full(n, np.nan)
    assumed: dict[str, list[str]] = {}
    for target, (fcol, ecol, kind) in targets.items():
        unit = _column_unit(columns, fcol, source, flux_unit, notes, assumed, mapped=mapped_unit)
        eunit = _column_unit(
            columns, ecol, source, flux_unit, notes, assumed, fallback=unit, kind=kind, mapped=mapped_unit
        )
        with np.errstate(over="ignore"):  # an overflow gives inf: an unusable value, flagged later
            flux = column_values(columns, fcol, source) * line_flux_factor(unit)
            err = _sigma(column_values(columns, ecol, source), kind) * line_flux_factor(eunit)
        if target == OII_SUM:
            oii_sum, oii_err = flux, err
        else:
            fluxes[:, target], errors[:, target] = flux, err
    _note_assumed(assumed, source, notes)
    table = LineTable(
        ids=_ids(columns, source, mapping.id if mapping else ()),
        fluxes=fluxes,
        errors=errors,
        oii_sum=oii_sum,
        oii_sum_error=oii_err,
        redshift=_redshift_column(columns, source, mapping.redshift if mapping else None),
    )
    return _clean(table, source, warn)


def read_long_table(
    columns: TableColumns,
    source: str,
    default_id: str,
    flux_unit: str | None,
    default_unit: str | None,
    notes: list[str],
    warn: list[str],
) -> LineTable:
    """LINENAME/LINEWAVE/LINEAREA/LINEAREA_ERR rows: one object (default_id), or one per value of an ID column."""
    cols = {c.upper(): c for c in columns.names}
    if len(columns) == 0:
        raise InputError(f"{source}: the line table has no rows")
    if flux_unit is None and not columns.unit(cols["LINEAREA"]) and default_unit is not None:
        unit = line_flux_unit(default_unit, source, notes)
        notes.append(f"{source}: LINEAREA has no unit in the file; taken as {default_unit} (SDSS convention)")
    else:
        assumed: dict[str, list[str]] = {}
        unit = _column_unit(columns, cols["LINEAREA"], source, flux_unit, notes, assumed)
        _note_assumed(assumed, source, notes)
    factor = line_flux_factor(unit)
    id_col = next((cols[c] for c in ID_COLUMNS if c in cols), None)
    keys = [_text(v) for v in columns.values(id_col)] if id_col else [default_id] * len(columns)
    ids = list(dict.fromkeys(keys))
    fluxes, errors = np.full((len(ids), 12), np.nan), np.full((len(ids), 12), np.nan)
    oii_sum, oii_err = np.full(len(ids), np.nan), np.full(len(ids), np.nan)
    waves = column_values(columns, cols["LINEWAVE"], source)
    with np.errstate(over="ignore"):  # an overflow gives inf: an unusable value, flagged later
        areas = column_values(columns, cols["LINEAREA"], source) * factor
        errs = column_values(columns, cols["LINEAREA_ERR"], source) * factor
    row_of = {k: i for i, k in enumerate(ids)}
    for r, (key, wave) in enumerate(zip(keys, waves)):
        j = match_line(wave) if np.isfinite(wave) else None
        if j is None:
            continue
        i = row_of[key]
        if not np.isnan(fluxes[i, j]):
            warn.append(f"{source}: two rows for {NAMES[j]} (LINEWAVE {wave:g}); the first is used")
            continue
        fluxes[i, j], errors[i, j] = areas[r], errs[r]
    table = LineTable(
        ids=np.array(ids, dtype=object),
        fluxes=fluxes,
        errors=errors,
        oii_sum=oii_sum,
        oii_sum_error=oii_err,
        redshift=np.full(len(ids), np.nan),
    )
    return _clean(table, source, warn)


def column_values(columns: TableColumns, col: str, source: str, scalar: bool = True) -> np.ndarray:
    """A numeric table column as float64 (one number per row if scalar); InputError naming the column otherwise."""
    values = columns.values(col)
    if values.dtype.kind in NOT_NUMBERS:
        raise InputError(
            f"{source}: column {col} ({columns.declared(col)}) holds {NOT_NUMBERS[values.dtype.kind]}, not numbers"
        )
    if scalar and values.ndim > 1:
        raise InputError(
            f"{source}: column {col} ({columns.declared(col)}) holds a vector of shape {values.shape[1:]} "
            "in each row; one number per row is needed"
        )
    return np.asarray(values, dtype=np.float64)


def _is_line_table(hdu: fits.hdu.base._BaseHDU) -> bool:
    """A binary table with line-flux columns like HA6562_FLUX, or LINENAME/LINEWAVE/LINEAREA/LINEAREA_ERR."""
    if not isinstance(hdu, fits.BinTableHDU):
        return False
    names = column_names(hdu)
    return LONG_TABLE_COLUMNS <= {n.upper() for n in names} or any(FLUX_COLUMN.match(n) for n in names)


def _wide_columns(names: list[str], source: str, notes: list[str], warn: list[str]) -> dict[int, tuple[str, str, str]]:
    """{line index or OII_SUM: (flux column, error column, error kind)} of a wide table."""
    upper = {n.upper(): n for n in names}
    found: list[tuple[float, str, str, str]] = []  # (wavelength, flux column, error column, kind)
    for col in names:
        match = FLUX_COLUMN.match(col)
        if not match:
            continue
        err = next(((upper[col.upper() + s], k) for s, k in ERROR_SUFFIXES.items() if col.upper() + s in upper), None)
        if err is None:
            stem = col[: -len("FLUX")].rstrip("_").upper()
            err = next(((upper[stem + s], k) for s, k in ERROR_SUFFIXES.items() if stem + s in upper), None)
        if err is None:
            warn.append(f"{source}: column {col} has no error column ({col}_ERR); ignored")
            continue
        found.append((float(match.group("wave")), col, *err))
    targets: dict[int, tuple[str, str, str]] = {}
    oii = sorted(f for f in found if OII_RANGE[0] <= f[0] <= OII_RANGE[1])
    for wave, col, ecol, kind in found:
        if OII_RANGE[0] <= wave <= OII_RANGE[1]:
            continue
        j = match_line(wave)
        if j is None:
            warn.append(f"{source}: column {col} ({wave:g} Angstrom) is not one of the 12 model lines; ignored")
        elif j in targets:
            raise InputError(f"{source}: two columns for {NAMES[j]}: {targets[j][0]} and {col}")
        else:
            targets[j] = (col, ecol, kind)
    for j, (wave, col, ecol, kind) in zip(_oii_targets([w for w, *_ in oii], source), oii):
        targets[j] = (col, ecol, kind)
        if j == OII_SUM:
            notes.append(
                f"{source}: column {col} taken as the blended [OII]3726+3729 sum (oii_sum); "
                "the two single [OII] lines are left unobserved"
            )
    if not targets:
        raise InputError(f"{source}: no column pair like HA6562_FLUX / HA6562_FLUX_ERR matches the 12 model lines")
    return targets


def _mapped_columns(
    columns: TableColumns, mapping: ColumnMap, source: str, notes: list[str]
) -> dict[int, tuple[str, str, str]]:
    """{line index or OII_SUM: (flux column, error column, error kind)} of a column mapping; InputError naming every
    missing column of a line that is not optional."""
    targets, missing = {}, []
    for line, spec in mapping.lines.items():
        found = [_find(columns, c, source) for c in (spec.flux, spec.error)]
        if all(found):
            targets[OII_SUM if line == BLEND else NAMES.index(line)] = (*found, spec.kind)
        elif spec.optional:
            notes.append(f"{source}: {line} (optional in --columns {mapping.name}) is not in the table; left missing")
        else:
            missing += [f"{c} ({line})" for c, f in zip((spec.flux, spec.error), found) if f is None]
    if missing:
        raise InputError(f"{source}: column(s) of --columns {mapping.name} not in the table: {', '.join(missing)}")
    if not targets:
        raise InputError(f"{source}: none of the line columns of --columns {mapping.name} is in the table")
    return targets


def _find(columns: TableColumns, name: str, source: str) -> str | None:
    """The table's column called name (compared without case), or None; InputError when that is ambiguous."""
    try:
        return columns.find(name)
    except ValueError as err:
        raise InputError(f"{source}: {err}; cannot tell which is {name}") from None


def _oii_targets(waves: list[float], source: str) -> list[int]:
    """Line index (0 = 3726, 1 = 3729) or OII_SUM for the sorted [OII] columns' wavelengths."""
    if len(waves) == 1:
        digits = int(waves[0])
        return [0 if digits == 3726 else 1 if digits == 3729 else OII_SUM]
    if len(waves) == 2:
        return [0, 1]
    if len(waves) == 3:
        return [0, OII_SUM, 1]
    if len(waves) > 3:
        raise InputError(f"{source}: {len(waves)} [OII] flux columns; expected at most 3726, the blend and 3729")
    return []


def _column_unit(
    columns: TableColumns,
    col: str,
    source: str,
    flux_unit: str | None,
    notes: list[str],
    assumed: dict[str, list[str]],
    fallback=None,
    kind: str = "sigma",
    mapped=None,
):
    """Energy-flux unit of a column: --flux-unit, its unit in the file, the flux column's unit (errors), the mapping's
    flux_unit (mapped); InputError if none, or if the file's unit contradicts the mapping's. A unit taken from
    elsewhere than the column is added to assumed ({how: [columns]}), which the caller notes once per how."""
    stated = columns.unit(col)
    if flux_unit is not None:
        unit = line_flux_unit(flux_unit, "--flux-unit", notes)
        if stated and fallback is None:
            assumed.setdefault(f"flux unit {unit} from --flux-unit used instead of the file's for", []).append(col)
        return unit
    if kind == "ivar":
        return fallback  # an inverse variance is in 1/unit**2 of its flux column
    if stated:
        unit = line_flux_unit(stated, f"{source} column {col}", notes)
        if mapped is not None and not np.isclose(line_flux_factor(unit), line_flux_factor(mapped), rtol=1e-9, atol=0):
            raise InputError(
                f"{source}: column {col} is in {stated!r} but the column mapping says {mapped}; "
                "give --flux-unit to say which is right"
            )
        return unit
    if fallback is not None:
        assumed.setdefault("error columns without a unit take their flux column's", []).append(col)
        return fallback
    if mapped is not None:
        assumed.setdefault(f"columns without a unit taken as {mapped} from the column mapping", []).append(col)
        return mapped
    raise InputError(f"{source}: column {col} has no unit in the file; give --flux-unit, e.g. '1e-20 erg/(s cm2)'")


def _note_assumed(assumed: dict[str, list[str]], source: str, notes: list[str]) -> None:
    """One note per way units were assumed (_column_unit), naming the columns."""
    notes.extend(f"{source}: {how}: {', '.join(names)}" for how, names in assumed.items())


def _sigma(values: np.ndarray, kind: str) -> np.ndarray:
    """1-sigma errors from errors or inverse variances (non-positive -> NaN)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == "ivar":
            return np.where(values > 0, 1 / np.sqrt(values), np.nan)
        return np.where(values > 0, values, np.nan)


def _ids(columns: TableColumns, source: str, id_columns: tuple[str, ...] = ()) -> np.ndarray:
    """Row ids: the id_columns' values joined with '_' (a mapping's id), else an ID-like column, else 'row<i>'
    (0-based); a blank id becomes 'row<i>' too; InputError for a duplicate id or a missing id column."""
    if id_columns:
        found = [_find(columns, c, source) for c in id_columns]
        if None in found:
            missing = [c for c, f in zip(id_columns, found) if f is None]
            raise InputError(f"{source}: id column(s) of the column mapping not in the table: {', '.join(missing)}")
    else:
        upper = {n.upper(): n for n in columns.names}
        found = [next((upper[c] for c in ID_COLUMNS if c in upper), None)]
        if found[0] is None:
            return np.array([f"row{i}" for i in range(len(columns))], dtype=object)
    parts = [[_text(v) for v in columns.values(col)] for col in found]
    ids = ["_".join(p for p in row if p) or f"row{i}" for i, row in enumerate(zip(*parts))]
    dup = next((key for key, count in Counter(ids).items() if count > 1), None)
    if dup is not None:
        raise InputError(f"{source}: duplicate id {dup!r}; every row needs its own id")
    return np.array(ids, dtype=object)


def _text(value) -> str:
    """An id cell as text: bytes decoded (undecodable bytes replaced), whole floats without '.0', stripped."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _redshift_column(columns: TableColumns, source: str, mapped: str | None = None) -> np.ndarray:
    """Per-row redshift from the mapping's column, else a Z or REDSHIFT column, else NaN."""
    if mapped is not None:
        col = _find(columns, mapped, source)
        if col is None:
            raise InputError(f"{source}: the redshift column {mapped} of the column mapping is not in the table")
    else:
        upper = {n.upper(): n for n in columns.names}
        col = next((upper[c] for c in REDSHIFT_COLUMNS if c in upper), None)
    if col is None:
        return np.full(len(columns), np.nan)
    return column_values(columns, col, source)


def _clean(table: LineTable, source: str, warn: list[str]) -> LineTable:
    """Missing where a flux is NaN or its error NaN or <= 0 (assemble flags extreme ones); count negatives."""
    for flux, err in ((table.fluxes, table.errors), (table.oii_sum, table.oii_sum_error)):
        with np.errstate(invalid="ignore"):
            missing = np.isnan(flux) | ~(err > 0)
        given = ~np.isnan(flux) | ~np.isnan(err)
        if (missing & given).any():
            warn.append(
                f"{source}: {int((missing & given).sum())} line value(s) with a NaN flux or a NaN, zero or "
                "negative error treated as missing"
            )
        flux[missing], err[missing] = np.nan, np.nan
        if negative := int(((flux < 0) & in_limits(flux, err)).sum()):
            warn.append(f"{source}: {negative} negative line flux(es) kept as non-detections with their errors")
    return table
