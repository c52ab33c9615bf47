"""Column mappings (`invert stars --columns NAME_OR_FILE`): which columns of a catalogue hold the line fluxes, their
errors, the row ids and the redshift, for catalogues whose names the automatic reading (stars.md layout D) does not
recognise. A mapping is a JSON file, or a preset shipped in invert.data.stars/columns (PRESETS):

    {"id": ["gal_name", "region_ID"],          optional: a column, or columns joined with '_' (default: automatic)
     "redshift": "Z",                          optional (default: a Z or REDSHIFT column, if any)
     "flux_unit": "1e-20 erg/(s cm2)",          optional: for columns without a unit in the file
     "lines": {"Halpha": {"flux": "HA6562_FLUX", "err": "HA6562_FLUX_ERR"},
               "Hbeta": {"flux": "HB4861_FLUX", "ivar": "HB4861_FLUX_IVAR"},
               "HeI5876": {"flux": "HEI5876_FLUX", "err": "HEI5876_FLUX_ERR", "optional": true}},
     "absent": ["OII3726", "OII3729"],          documentation: model lines the catalogue does not have
     "description": "...", "source": "..."}     documentation

Line keys are the model's line names (linelist.NAMES) or BLEND for the blended [OII] doublet; each line has a flux
column and either a 1-sigma error column ("err") or an inverse-variance column ("ivar"). A mapped column missing
from the table is an error, unless its line is "optional" (then the line is missing for every row). Anything else
in the file (an unknown key, a wrong type, an unknown line) is refused with one line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.resources import files

from invert.apps.kit.errors import InputError

from ..model.linelist import NAMES

__all__ = [
    "BLEND",
    "ColumnMap",
    "LineColumns",
    "PRESETS_PACKAGE",
    "load_column_map",
    "parse_column_map",
    "preset_names",
]

BLEND = "OII3727sum"  # the blended [OII]3726+3729 doublet (reported, not used by the model)
PRESETS_PACKAGE, PRESETS_FOLDER = "invert.data.stars", "columns"
DOCUMENTATION = ("description", "source", "absent")
TOP_KEYS = ("id", "redshift", "flux_unit", "lines", *DOCUMENTATION)
LINE_KEYS = ("flux", "err", "ivar", "optional")


@dataclass(frozen=True)
class LineColumns:
    """The columns of one line: its flux and its error, a 1-sigma error ("sigma") or an inverse variance ("ivar")."""

    flux: str
    error: str
    kind: str  # "sigma" or "ivar"
    optional: bool = False


@dataclass(frozen=True)
class ColumnMap:
    """A checked column mapping; `name` says where it came from (a preset's name or the file), for messages."""

    name: str
    lines: dict[str, LineColumns]  # line name (NAMES or BLEND) -> its columns
    id: tuple[str, ...] = ()  # columns joined with '_' into the row id; () for the automatic id
    redshift: str | None = None
    flux_unit: str | None = None
    absent: tuple[str, ...] = ()  # model lines the catalogue does not have (documentation)


def preset_names() -> list[str]:
    """The shipped presets, by name (their file names without .json)."""
    folder = files(PRESETS_PACKAGE) / PRESETS_FOLDER
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def load_column_map(spec: str) -> ColumnMap:
    """The preset named spec, else the JSON file at path spec; InputError (one line) when neither or invalid."""
    if spec in preset_names():
        path, name = files(PRESETS_PACKAGE) / PRESETS_FOLDER / f"{spec}.json", f"preset {spec}"
    elif os.path.isfile(spec):
        path, name = spec, spec
    else:
        raise InputError(
            f"--columns {spec!r} is neither a preset ({', '.join(preset_names())}) nor a JSON file of a column mapping"
        )
    try:
        with open(path, encoding="utf-8") as fh:
            content = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"--columns {name}: cannot read it as JSON: {' '.join(str(err).split())}") from None
    return parse_column_map(content, name)


def parse_column_map(content: object, name: str) -> ColumnMap:
    """A ColumnMap from a mapping's parsed JSON; InputError naming the first problem."""
    where = f"--columns {name}"
    mapping = _object(content, where, TOP_KEYS)
    lines = _object(mapping.get("lines"), f"{where}: 'lines'", None)
    if not lines:
        raise InputError(f'{where}: \'lines\' needs at least one line, e.g. {{"Hbeta": {{"flux": ..., "err": ...}}}}')
    checked = {_line_name(key, where): _line(value, f"{where}: line {key}") for key, value in lines.items()}
    ids = mapping.get("id", [])
    ids = [ids] if isinstance(ids, str) else ids
    if not isinstance(ids, list) or not all(isinstance(c, str) and c for c in ids):
        raise InputError(f"{where}: 'id' must be a column name or a list of column names")
    absent = mapping.get("absent", [])
    if not isinstance(absent, list):
        raise InputError(f"{where}: 'absent' must be a list of line names")
    return ColumnMap(
        name=name,
        lines=checked,
        id=tuple(ids),
        redshift=_text(mapping, "redshift", where),
        flux_unit=_text(mapping, "flux_unit", where),
        absent=tuple(_line_name(n, f"{where}: 'absent'") for n in absent),
    )


def _object(value: object, where: str, allowed: tuple[str, ...] | None) -> dict:
    """value as a JSON object whose keys are among allowed (None: any); InputError otherwise."""
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a JSON object ({{...}}), not {type(value).__name__}")
    unknown = [k for k in value if allowed is not None and k not in allowed]
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")
    return value


def _text(mapping: dict, key: str, where: str) -> str | None:
    """An optional non-empty text entry."""
    value = mapping.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise InputError(f"{where}: {key!r} must be a non-empty text")
    return value


def _line_name(key: object, where: str) -> str:
    """A line key: one of the model's lines or the [OII] blend (case as in NAMES, compared without case)."""
    known = {n.upper(): n for n in (*NAMES, BLEND)}
    if not isinstance(key, str) or key.upper() not in known:
        raise InputError(f"{where}: unknown line {key!r}; lines are {', '.join((*NAMES, BLEND))}")
    return known[key.upper()]


def _line(value: object, where: str) -> LineColumns:
    """A line's entry: a flux column and exactly one of an error (err) or an inverse-variance (ivar) column."""
    entry = _object(value, where, LINE_KEYS)
    columns = {k: entry.get(k) for k in ("flux", "err", "ivar") if k in entry}
    if not all(isinstance(c, str) and c for c in columns.values()):
        raise InputError(f"{where}: column names must be non-empty texts")
    if "flux" not in columns or ("err" in columns) == ("ivar" in columns):
        raise InputError(f"{where} needs a 'flux' column and either an 'err' or an 'ivar' column")
    optional = entry.get("optional", False)
    if not isinstance(optional, bool):
        raise InputError(f"{where}: 'optional' must be true or false")
    kind = "sigma" if "err" in columns else "ivar"
    return LineColumns(columns["flux"], columns["err" if kind == "sigma" else "ivar"], kind, optional)
