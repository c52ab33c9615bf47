"""Writing results safely: single files and whole output folders appear atomically (never half-written),
and large row arrays stream to disk (NpyRows).

An output folder is replaced whole (`OutputFolder`): its files are written into a hidden work folder
`.{name}.tmp-{pid}-*` beside it, which takes the folder's place in one step at the end; until then the
folder is untouched, and a failure or an interruption removes the work folder. A killed process (SIGKILL)
can leave only a hidden work folder behind, which the next run into the same folder removes.

A job that checkpoints its work keeps a `resume/` subfolder (CHECKPOINT) in the work folder, with its state in
`resume/state.json`; it may keep the work folder of an interrupted run as `.{name}.partial` (`keep()`), which a
later run adopts with resume=True and continues. A stale work folder that holds a checkpoint (its process was
killed) becomes the `.partial` instead of being removed; nothing removes a `.partial` but --overwrite (overwrite=True
without resume) or its adoption. The checkpoint subfolder never reaches the target (`commit()` removes it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "OutputError",
    "OutputFolder",
    "CHECKPOINT",
    "CHECKPOINT_STATE",
    "has_checkpoint",
    "sync_files",
    "atomic_write",
    "write_outputs_atomically",
    "NpyRows",
    "read_samples",
    "spreadsheet_safe",
]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a text cell starting so as a formula
CHECKPOINT, CHECKPOINT_STATE = "resume", "state.json"  # a work folder's checkpoint: resume/state.json and its files


class OutputError(ValueError):
    """An output that cannot be written where the user asked (exists, is the input, read-only, no space)."""


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every text cell that a spreadsheet would run as a formula (it starts with = + - @, a tab or a
    carriage return and is not a number) prefixed by an apostrophe, the usual neutralization; numbers untouched."""
    risky = {}
    for name in table.columns:
        if not (pd.api.types.is_string_dtype(table[name]) or table[name].dtype == object):
            continue
        text = table[name].astype(str)
        hit = text.str.startswith(FORMULA_START) & pd.to_numeric(text, errors="coerce").isna() & table[name].notna()
        if hit.any():
            risky[name] = text.where(~hit, "'" + text)
    return table.assign(**risky) if risky else table


def atomic_write(path: str | os.PathLike, write, sync: bool = False) -> None:
    """Call write(tmp_path) and rename the result onto path, so readers never see a partial file; with sync, the
    file is on disk before the rename and the rename before the return (a checkpoint that must survive a crash)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result gets the usual permissions
        if sync:
            _fsync_file(Path(tmp))
        os.replace(tmp, path)
        if sync:
            _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class NpyRows:
    """A float32 .npy file of rows of shape row_shape, appended batch after batch, so that large sample
    sets never sit in memory and the number of rows need not be known in advance; call it with each
    batch in order, then `close()`, which writes the final row count into the header.  (numpy has no appending
    writer: np.lib.format.open_memmap needs the final shape up front, which a streamed scan does not know.)
    append=True continues the rows of an existing file (an interrupted run's, cut to whole rows)."""

    HEADER_BYTES = 128  # fixed .npy (version 1.0) header size, rewritten in place at close

    def __init__(self, path: str | os.PathLike, row_shape: tuple[int, ...], append: bool = False):
        self.path, self.row_shape, self.rows = Path(path), tuple(int(d) for d in row_shape), 0
        if not append:
            self._file = open(self.path, "wb")
            self._file.write(self._header())
            return
        row_bytes = 4 * int(np.prod(self.row_shape))
        rows, rest = divmod(self.path.stat().st_size - self.HEADER_BYTES, row_bytes)
        if rows < 0 or rest:
            raise ValueError(f"{self.path}: not a .npy header and whole rows of shape {self.row_shape}")
        self._file = open(self.path, "r+b")
        self._file.seek(0, os.SEEK_END)
        self.rows = rows

    def _header(self) -> bytes:
        meta = repr({"descr": "<f4", "fortran_order": False, "shape": (self.rows, *self.row_shape)})
        if len(meta) > self.HEADER_BYTES - 11:
            raise ValueError(f"{self.path}: shape {(self.rows, *self.row_shape)} too long for the .npy header")
        text = meta + " " * (self.HEADER_BYTES - 10 - len(meta) - 1) + "\n"
        return b"\x93NUMPY\x01\x00" + (self.HEADER_BYTES - 10).to_bytes(2, "little") + text.encode("latin1")

    def __call__(self, block: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Append rows (m, *row_shape) after those written so far; with rows (their increasing row numbers),
        the rows skipped before each are written as NaN, so that row i of the file is input row i."""
        block = np.ascontiguousarray(block, dtype="<f4")
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path}: rows of shape {block.shape[1:]}, expected {self.row_shape}")
        if rows is None:
            self._file.write(block.tobytes())
            self.rows += len(block)
            return
        for row, values in zip(np.asarray(rows), block):
            self.pad(int(row))
            self._file.write(values.tobytes())
            self.rows += 1

    def pad(self, n_rows: int) -> None:
        """Write NaN rows until the file holds n_rows rows."""
        if n_rows < self.rows:
            raise ValueError(f"{self.path}: row {n_rows} comes after row {self.rows - 1}")
        nan_row = np.full(self.row_shape, np.nan, dtype="<f4").tobytes()
        for _ in range(n_rows - self.rows):
            self._file.write(nan_row)
        self.rows = n_rows

    def flush(self) -> None:
        """Hand the rows written so far to the operating system (the header still says 0 rows until close)."""
        self._file.flush()

    def close(self, n_rows: int | None = None) -> Path:
        """Write NaN rows up to n_rows (if given), the header with the row count, flush to disk and close.
        Returns the path."""
        if n_rows is not None:
            self.pad(n_rows)
        self._file.seek(0)
        self._file.write(self._header())
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self.path


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def sync_files(folder: Path) -> dict[str, int]:
    """Flush every file of folder (not its subfolders) to disk; their sizes in bytes by name."""
    sizes = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            _fsync_file(entry)
            sizes[entry.name] = entry.stat().st_size
    return sizes


def has_checkpoint(folder: Path) -> bool:
    """Whether a (work) folder holds a job's checkpoint (CHECKPOINT/CHECKPOINT_STATE)."""
    return (folder / CHECKPOINT / CHECKPOINT_STATE).is_file()


def _remove(path: Path) -> None:
    """Remove a folder with its content, or a file (nothing where there is none)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _put(target: Path, content: bytes | str | os.PathLike) -> None:
    """Write content to target and flush it to disk; a path is a finished file, hard-linked (or copied)."""
    if isinstance(content, os.PathLike):
        if Path(content).resolve() == target.resolve():
            return
        try:
            os.link(content, target)
        except OSError:  # another file system, or no hard links there
            shutil.copyfile(content, target)
        return
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    with open(target, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name, use_errno=True) if name else None
    if libc is None or not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _one_line(err: OSError) -> str:
    return err.strerror or " ".join(str(err).split())


class OutputFolder:
    """An output folder written whole: files go into `path` (a hidden work folder beside `target`), and
    `commit()` puts that folder in target's place in one step (an existing target only with overwrite=True).

    Checked up front, before any work (OutputError, one line): target is not an existing file, not one of
    `inputs` and contains none of them, does not exist unless overwrite, its parent can be created and
    written, and it has `need_bytes` free. Leaving the `with` block without commit() removes the work folder.

    The work folder of an interrupted run kept by `keep()` (`partial`, see the module docstring) is refused without
    resume (OutputError: give --resume or --overwrite) and removed with overwrite; with resume it becomes this run's
    work folder (`resumed` is then true) and its owner continues it."""

    def __init__(
        self,
        target: str | os.PathLike,
        *,
        inputs: Iterable[str | os.PathLike] = (),
        overwrite: bool = False,
        need_bytes: int = 0,
        resume: bool = False,
    ):
        self.target = Path(target)
        self.overwrite = overwrite
        self.partial = self.target.parent / f".{self.target.name}.partial"
        self._check(inputs, need_bytes)
        parent = self.target.parent
        self._remove_stale_work_folders()
        if self.partial.exists() and not resume:
            if not overwrite:
                raise OutputError(
                    f"an interrupted run into {self.target} is kept in {self.partial}; give --resume to continue it, "
                    "or --overwrite to discard it and start afresh"
                )
            _remove(self.partial)
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-{os.getpid()}-", dir=parent))
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.path, 0o777 & ~umask)  # mkdtemp makes 0700; the result gets the usual permissions
        except OSError as err:
            raise OutputError(f"cannot write into {parent}: {_one_line(err)}") from None
        self.committed = self.resumed = False
        if resume and self.partial.is_dir():
            try:
                os.rename(self.partial, self.path)  # onto the empty work folder: ours now, under our pid
                self.resumed = True
            except FileNotFoundError:  # another run adopted it first
                pass
            except OSError as err:
                shutil.rmtree(self.path, ignore_errors=True)
                raise OutputError(f"cannot continue {self.partial}: {_one_line(err)}") from None
        self._check_space()

    def _check(self, inputs: Iterable[str | os.PathLike], need_bytes: int) -> None:
        """The up-front checks of the class docstring."""
        target, where = self.target.resolve(), self.target
        for item in inputs:
            source = Path(item).resolve()
            if source == target:
                raise OutputError(f"the output folder {where} is the input file {item}; choose another --out")
            if target in source.parents:
                raise OutputError(
                    f"the input {item} lies inside the output folder {where}, which is replaced whole; "
                    "choose another --out"
                )
        if self.target.is_symlink():
            raise OutputError(f"{where} is a symbolic link; give the folder it points to, or another --out")
        if target == Path.cwd().resolve() or target in Path.cwd().resolve().parents:
            raise OutputError(f"{where} is the current folder or holds it; it cannot be replaced, choose another --out")
        for parent in self.target.parents:
            if parent.exists() and not parent.is_dir():
                raise OutputError(f"{parent} is a file, not a folder; choose another --out")
        if target.exists() and not target.is_dir():
            raise OutputError(f"{where} exists and is a file, not an output folder; choose another --out")
        if target.exists() and not self.overwrite:
            raise OutputError(
                f"the output folder {where} exists; give --overwrite to replace it whole, or another --out"
            )
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create the folder {self.target.parent}: {_one_line(err)}") from None
        if not os.access(self.target.parent, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write into {self.target.parent}: permission denied")
        if target.exists() and not os.access(target, os.W_OK | os.X_OK):
            raise OutputError(f"cannot replace {where}: it is not writable")
        self._need_bytes = need_bytes

    def _check_space(self) -> None:
        """OutputError unless the work folder's file system has room for the outputs."""
        free, need_bytes = shutil.disk_usage(self.path).free, self._need_bytes
        if free < need_bytes:
            if self.resumed:
                self.keep()
            else:
                shutil.rmtree(self.path, ignore_errors=True)
            raise OutputError(
                f"not enough space in {self.target.parent}: the outputs need about {need_bytes / 2**20:,.0f} "
                f"MiB, {free / 2**20:,.0f} MiB are free"
            )

    def _remove_stale_work_folders(self) -> None:
        """Remove the hidden work folders of earlier runs into the same target whose process is gone; one that holds a
        checkpoint (a killed run) becomes the `partial` where there is none."""
        pattern = re.compile(re.escape(f".{self.target.name}.tmp-") + r"(\d+)-")
        for entry in sorted(self.target.parent.iterdir()):
            match = pattern.match(entry.name)
            if match and entry.is_dir() and not _pid_alive(int(match.group(1))):
                if has_checkpoint(entry) and not self.partial.exists():
                    os.rename(entry, self.partial)
                else:
                    shutil.rmtree(entry, ignore_errors=True)

    def write(self, files: Mapping[str, bytes | str | os.PathLike]) -> None:
        """Write files {plain name: str (UTF-8), bytes, or a path to a finished file} into the work folder."""
        for name, content in files.items():
            if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
                raise ValueError(f"output names must be plain file names, got {name!r}")
            _put(self.path / name, content)

    def commit(self) -> None:
        """Put the work folder in the target's place (replacing an existing target whole), without its checkpoint."""
        try:
            shutil.rmtree(self.path / CHECKPOINT, ignore_errors=True)
            sync_files(self.path)
            _fsync_dir(self.path)
            if self.target.exists() and not self.overwrite:
                raise OutputError(
                    f"the output folder {self.target} appeared while this run worked; nothing was replaced"
                )
            if not self.target.exists():
                os.rename(self.path, self.target)
            elif _exchange(self.path, self.target):  # self.path now holds the previous result
                shutil.rmtree(self.path, ignore_errors=True)
            else:  # no atomic exchange: move the old folder aside (hidden), then the new one in
                old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.old-{os.getpid()}-", dir=self.target.parent))
                os.rename(self.target, old / "previous")
                os.rename(self.path, self.target)
                shutil.rmtree(old, ignore_errors=True)
            _fsync_dir(self.target.parent)
        except OSError as err:
            raise OutputError(f"cannot write the outputs to {self.target}: {_one_line(err)}") from None
        self.committed = True

    def discard(self) -> None:
        """Remove the work folder (the target stays as it was)."""
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)

    def keep(self) -> Path:
        """Keep the work folder, for a later run to continue, as `partial` (the target stays as it was); its path."""
        if not self.committed and self.path.is_dir():
            _remove(self.partial)  # none is there: it was refused, removed or adopted
            os.rename(self.path, self.partial)
            self.committed = True  # nothing left to discard
        return self.partial

    def clear(self) -> None:
        """Empty the work folder (an adopted one that cannot be continued): this run starts afresh in it."""
        for entry in self.path.iterdir():
            _remove(entry)
        self.resumed = False

    def __enter__(self) -> "OutputFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


def write_outputs_atomically(
    out_dir: str | os.PathLike, files: Mapping[str, bytes | str | os.PathLike], overwrite: bool = True
) -> None:
    """Write files {name: content} as the whole new content of out_dir (see OutputFolder): a reader or an
    interruption sees either the complete previous folder or the complete new one, never a mix.
    Contents: str (written as UTF-8), bytes, or a path to a finished file (hard-linked, else copied)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a folder")
    with OutputFolder(out, overwrite=overwrite) as folder:
        folder.write(files)
        folder.commit()


def read_samples(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a samples.npz written by the apps, with `samples` memory-mapped (read-only) from the
    uncompressed archive, so that samples larger than memory can be used row by row; the others loaded."""
    path = Path(path)
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if name != "samples":
                with archive.open(info) as fh:
                    arrays[name] = np.lib.format.read_array(fh, allow_pickle=False)
                continue
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{path}: samples.npy is compressed and cannot be memory-mapped")
            with open(path, "rb") as fh:
                fh.seek(info.header_offset)
                local = fh.read(30)  # the local file header: name and extra-field lengths at bytes 26-29
                fh.seek(
                    info.header_offset
                    + 30
                    + int.from_bytes(local[26:28], "little")
                    + int.from_bytes(local[28:30], "little")
                )
                version = np.lib.format.read_magic(fh)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(fh)
                offset = fh.tell()
            arrays["samples"] = np.memmap(
                path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
            )
    return arrays
