"""Checkpoints of the main job, for `--resume`: after every finished chunk the work folder's `resume/` subfolder
(core.outputs.CHECKPOINT) gets what the job keeps in memory for that chunk (`chunk-NNNNNN.npz`) and then, atomically
and flushed to disk after the data files, `state.json`: the run's fingerprint, the chunks and rows done, and the byte
length of every output file at that point (the rows appended after it are cut off when the run is continued).

The chunk files are .npz without pickle: arrays as they are, tables column by column with their dtypes (numeric
columns as arrays, the others as JSON cells), so that a continued run rebuilds exactly the tables it would have had.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from invert.core.outputs import CHECKPOINT, CHECKPOINT_STATE, atomic_write, sync_files

__all__ = ["Checkpoint", "read_checkpoint", "chunk_path", "save_chunk", "load_chunk", "differences", "plain"]

FORMAT = 1  # of state.json and the chunk files


def plain(value: Any) -> Any:
    """value as JSON gives it back (tuples as lists, numpy scalars as Python's), for comparing fingerprints."""
    return json.loads(json.dumps(value, default=_json_scalar))


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"a {type(value).__name__} cannot be checkpointed")


class Checkpoint:
    """The checkpoint of a work folder: `state` (state.json) and the chunk files beside it."""

    def __init__(self, folder: Path, state: Mapping[str, Any]):
        self.folder, self.state = folder, dict(state)

    @property
    def rows(self) -> int:
        return int(self.state["rows"])

    @property
    def chunks(self) -> int:
        return int(self.state["chunks"])

    def cut(self) -> None:
        """The work folder as it was at the checkpoint: each output file cut to its length then, all else removed."""
        sizes = self.state["files"]
        for entry in self.folder.iterdir():
            if entry.name == CHECKPOINT:
                continue
            if entry.name in sizes and entry.is_file() and not entry.is_symlink():
                os.truncate(entry, sizes[entry.name])
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def usable(self) -> str:
        """Why the work folder cannot be continued from the checkpoint ("": it can)."""
        if self.state.get("format") != FORMAT:
            return "its checkpoint has another format"
        for name, size in self.state["files"].items():
            path = self.folder / name
            if not path.is_file() or path.stat().st_size < size:
                return f"{name} is shorter than at its checkpoint"
        for i in range(self.chunks):
            if not chunk_path(self.folder, i).is_file():
                return f"the kept results of chunk {i + 1} are missing"
        return ""

    @staticmethod
    def write(folder: Path, state: Mapping[str, Any]) -> None:
        """state.json of the work folder, after its output files are on disk (the state never points past them)."""
        sizes = sync_files(folder)
        text = json.dumps({"format": FORMAT, **state, "files": sizes}, indent=1, default=_json_scalar) + "\n"
        atomic_write(folder / CHECKPOINT / CHECKPOINT_STATE, lambda tmp: Path(tmp).write_text(text), sync=True)


def chunk_path(folder: Path, i: int) -> Path:
    """Where the checkpoint of a work folder keeps what the job kept of chunk i."""
    return folder / CHECKPOINT / f"chunk-{i:06d}.npz"


def read_checkpoint(folder: Path) -> Checkpoint | None:
    """The checkpoint of a work folder, None where it has none that can be read (or a damaged one)."""
    try:
        state = json.loads((folder / CHECKPOINT / CHECKPOINT_STATE).read_text())
    except (OSError, ValueError):
        return None
    if not (
        isinstance(state, dict)
        and isinstance(state.get("fingerprint"), dict)
        and all(type(state.get(key)) is int and state[key] >= 0 for key in ("rows", "chunks", "rows_per_batch"))
        and state["rows_per_batch"] > 0
        and isinstance(state.get("files"), dict)
        and all(_plain_name(name) and type(size) is int and size >= 0 for name, size in state["files"].items())
    ):
        return None
    return Checkpoint(folder, state)


def _plain_name(name: object) -> bool:
    """Whether name is a file name inside the folder (no path)."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and os.sep not in name


def save_chunk(path: Path, arrays: Mapping[str, np.ndarray], tables: Mapping[str, pd.DataFrame]) -> None:
    """arrays and tables (by name) in one .npz, written atomically and flushed to disk; TypeError for a table cell
    that JSON cannot hold."""
    content: dict[str, np.ndarray] = dict(arrays)
    for name, table in tables.items():
        content |= _table_arrays(name, table)
    path.parent.mkdir(exist_ok=True)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **content)

    atomic_write(path, write, sync=True)


def load_chunk(
    path: Path, arrays: list[str], tables: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, pd.DataFrame]]:
    """The arrays and tables that save_chunk wrote."""
    with np.load(path, allow_pickle=False) as npz:
        content = {key: npz[key] for key in npz.files}
    return {name: content[name] for name in arrays}, {name: _table(name, content) for name in tables}


def _column(values: pd.Series | pd.Index) -> tuple[np.ndarray | None, str]:
    """(the values as an array, "") for a NumPy dtype, else (None, their cells as JSON)."""
    if isinstance(values.dtype, np.dtype) and values.dtype != object:
        return values.to_numpy(), ""
    return None, json.dumps(list(values), default=_json_scalar)


def _table_arrays(name: str, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """A table as .npz members `name.j` (column j) and `name.meta` (names, dtypes, index, JSON cells)."""
    if not table.columns.is_unique:
        raise TypeError(f"table {name} has repeated column names")
    meta: dict[str, Any] = {"columns": list(table.columns), "dtypes": [], "cells": {}}
    members = {}
    for j, column in enumerate(table.columns):
        values = table[column]
        meta["dtypes"].append(str(values.dtype))
        array, cells = _column(values)
        if array is None:
            meta["cells"][str(j)] = cells
        else:
            members[f"{name}.{j}"] = array
    index = table.index
    if isinstance(index, pd.RangeIndex):
        meta["index"] = {"range": [index.start, index.stop, index.step]}
    else:
        array, cells = _column(index)
        meta["index"] = {"dtype": str(index.dtype), "cells": cells}
        if array is not None:
            members[f"{name}.index"] = array
    meta["index"]["name"] = index.name
    members[f"{name}.meta"] = np.array(json.dumps(meta))
    return members


def _table(name: str, content: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The table that _table_arrays stored."""
    meta = json.loads(str(content[f"{name}.meta"]))
    stored = meta["index"]
    if "range" in stored:
        index = pd.RangeIndex(*stored["range"], name=stored["name"])
    elif stored["cells"]:
        index = pd.Index(json.loads(stored["cells"]), dtype=stored["dtype"], name=stored["name"])
    else:
        index = pd.Index(content[f"{name}.index"], name=stored["name"])
    columns = {}
    for j, (column, dtype) in enumerate(zip(meta["columns"], meta["dtypes"])):
        cells = meta["cells"].get(str(j))
        values = content[f"{name}.{j}"] if cells is None else json.loads(cells)
        columns[column] = pd.Series(values, index=index, dtype=None if cells is None else dtype, copy=False)
    return pd.DataFrame(columns, index=index, columns=meta["columns"])


def differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between the fingerprint of an interrupted run and this run's, as phrases for the user; keys are
    an option (--seed), or input, model, invert (the version)."""
    found = []
    for key in sorted(set(before) | set(now), key=lambda k: (k.startswith("--"), k)):
        old, new = before.get(key), now.get(key)
        if old == new:
            continue
        if key in ("input", "model"):
            found.append(f"the {key} file is not the one of the interrupted run (its SHA-256 differs)")
        elif key == "invert":
            found.append(f"this is invert {new}, the interrupted run was invert {old}")
        else:
            found.append(f"{key} {_shown(new)} differs from the interrupted run's {_shown(old)}")
    return found


def _shown(value: Any) -> str:
    if value is None:
        return "(not given)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
