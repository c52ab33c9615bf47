"""Writing results safely: single files and whole output folders appear atomically (never half-written),
and large row arrays stream to disk (NpyRows)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

__all__ = ["atomic_write", "write_outputs_atomically", "NpyRows"]


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call write(tmp_path) and rename the result onto path, so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result gets the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise



class NpyRows:
    """A float32 .npy file of rows of shape row_shape, appended batch after batch, so that large sample
    sets never sit in memory and the number of rows need not be known in advance; call it with each
    batch in order, then `close()`, which writes the final row count into the header."""

    HEADER_BYTES = 128  # fixed .npy (version 1.0) header size, rewritten in place at close

    def __init__(self, path: str | os.PathLike, row_shape: tuple[int, ...]):
        self.path, self.row_shape, self.rows = Path(path), tuple(int(d) for d in row_shape), 0
        self._file = open(self.path, "wb")
        self._file.write(self._header())

    def _header(self) -> bytes:
        meta = repr({"descr": "<f4", "fortran_order": False, "shape": (self.rows, *self.row_shape)})
        if len(meta) > self.HEADER_BYTES - 11:
            raise ValueError(f"{self.path}: shape {(self.rows, *self.row_shape)} too long for the .npy header")
        text = meta + " " * (self.HEADER_BYTES - 10 - len(meta) - 1) + "\n"
        return b"\x93NUMPY\x01\x00" + (self.HEADER_BYTES - 10).to_bytes(2, "little") + text.encode("latin1")

    def __call__(self, block: np.ndarray) -> None:
        """Append rows (m, *row_shape) after those written so far."""
        block = np.ascontiguousarray(block, dtype="<f4")
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path}: rows of shape {block.shape[1:]}, expected {self.row_shape}")
        self._file.write(block.tobytes())
        self.rows += len(block)

    def close(self) -> Path:
        """Write the header with the row count, flush to disk and close. Returns the path."""
        self._file.seek(0)
        self._file.write(self._header())
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self.path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _put(target: Path, content: bytes | str | os.PathLike) -> None:
    """Write content to target and flush it to disk; a path is a finished file, hard-linked (or copied)."""
    if isinstance(content, os.PathLike):
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


def write_outputs_atomically(out_dir: str | os.PathLike, files: Mapping[str, bytes | str | os.PathLike]) -> None:
    """Write files {name: content} into out_dir so that no reader and no interruption ever sees a
    partly written output: all files are first written (and synced) into a hidden temporary sibling
    folder `.{out_dir}.tmp-*`; only then are they renamed into place, in the order given (so put the
    file that marks a finished report, e.g. report.html, last).  A new out_dir is created by renaming
    the temporary folder itself.  In an existing out_dir same-named files are replaced, each in one
    atomic rename, and other files are left alone.  If anything fails before the renames, out_dir is
    untouched and the temporary folder is removed.

    Contents: str (written as UTF-8), bytes, or a path to a finished file, which is hard-linked
    (copied when that is impossible) so that large files need not pass through memory.
    Names must be plain file names (no folders)."""
    out = Path(out_dir)
    for name in files:
        if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
            raise ValueError(f"output names must be plain file names, got {name!r}")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; a new out_dir gets the usual permissions
        for name, content in files.items():
            _put(tmp / name, content)
        _fsync_dir(tmp)
        try:
            os.rename(tmp, out)  # out did not exist (an existing empty folder is replaced too)
        except OSError:
            if not out.is_dir():
                raise
            for name in files:
                os.replace(tmp / name, out / name)
        _fsync_dir(out.parent)
        if out.exists():
            _fsync_dir(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
