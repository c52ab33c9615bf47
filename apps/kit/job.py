"""The main job's steps, the same for every app: `open_output` (memory plan and output folder, checked before
any work), `stream` (the input chunk by chunk through the posterior: summary rows written as they are done, the
report's part kept in memory, every sample streamed to disk), `finish` (samples.npz, report, run.json, the folder
swapped in whole, a closing line, the exit code).

An app supplies its reader (chunks of rows), its `analyse_chunk` (rows -> observations y -> core.analysis.analyse
-> its row table), the summary columns its report keeps, and its report. A row's posterior draws depend only on
the seed and its row number in the input, so neither the chunk nor the batch size changes a result.

Resuming (`--resume`, JobSettings.resume): after every chunk the work folder gets a checkpoint (apps/kit/checkpoint.py:
what `stream` keeps of the chunk, the rows done, the output files' lengths). An interruption (Ctrl-C, SIGTERM, SIGHUP)
after the first checkpoint keeps the work folder as `.{out}.partial` (core.outputs.OutputFolder.keep) and says so;
an error still removes it. A run with --resume adopts it, checks that the input, model and every setting that changes
a result are those of the interrupted run (the fingerprint; InputError naming what differs), cuts the output files
back to the checkpoint, skips the finished chunks (read, not analysed) and goes on; the appended writers continue
their files (`rows_done`). The outputs are byte for byte those of an uninterrupted run; run.json says
resumed_from_row.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import typer

from invert.core.analysis import Analysis, width_ratio
from invert.core.outputs import CHECKPOINT, NpyRows, OutputFolder, has_checkpoint
from invert.core.pages import html_footer
from invert.core.posterior import PosteriorLike
from invert.core.problem import Problem
from invert.core.progress import Progress
from invert.core.resources import SUMMARY_BYTES_PER_ROW, check_chunk, rows_per_batch, samples_bytes

from .checkpoint import Checkpoint, chunk_path, differences, load_chunk, plain, read_checkpoint, save_chunk
from .errors import InputError
from .manifest import Manifest

__all__ = ["JobSettings", "ChunkResult", "Streamed", "MainJob"]

ROWS_PER_BATCH = 256  # rows sampled together (fewer where --samples would not fit in memory)
SAMPLES_NPY, SAMPLES_NPZ = "samples.npy", "samples.npz"


@dataclass
class JobSettings:
    """The main job's settings that every app shares (its command-line options)."""

    n_samples: int | None = 4096  # None: the app chooses by input kind
    seed: int = 0
    save_samples: bool = False
    detailed: int = 20  # rows with a per-row section in the report
    chunk: int = 10_000  # rows read and analysed at a time
    progress: bool = True
    overwrite: bool = False
    device: str = "auto"  # where the networks run: auto (a GPU when present), cpu, cuda, cuda:1, mps
    resume: bool = False  # continue an interrupted run into the same output folder (see the module docstring)


@dataclass
class ChunkResult:
    """One chunk as the app analysed it."""

    table: pd.DataFrame  # one summary row per input row of the chunk
    analysis: Analysis  # the posterior analysis of its usable rows (analysis.rows: their row numbers in the input)
    y: np.ndarray  # (len(analysis.rows), dy) the observations of those rows


class AnalyseChunk(Protocol):
    """An app's analysis of one chunk: rows start, start + 1, ... of the input."""

    def __call__(
        self,
        chunk: Any,
        *,
        start: int,
        max_detailed: int,
        batch: int,
        sink: Callable[[np.ndarray, np.ndarray], None] | None,
        progress: Progress,
    ) -> ChunkResult: ...


@dataclass
class Streamed:
    """What a streamed job keeps in memory for its report."""

    table: pd.DataFrame  # every row: the columns the app keeps for its report
    detailed: np.ndarray  # (k, n_samples, dx) samples of the first k rows with a posterior
    detailed_rows: np.ndarray  # (k,) their row numbers
    detailed_table: pd.DataFrame  # (k rows) their full summary rows
    detailed_y: np.ndarray  # (k, dy) their observations
    width_ratio: dict[str, float]  # per parameter: median over rows of posterior std / prior std


@dataclass
class _Part:
    """What `stream` keeps of one chunk (Streamed, one chunk's share), and what its checkpoint holds."""

    table: pd.DataFrame
    detailed: np.ndarray
    detailed_rows: np.ndarray
    detailed_table: pd.DataFrame
    detailed_y: np.ndarray
    ratios: np.ndarray

    ARRAYS = ("detailed", "detailed_rows", "detailed_y", "ratios")
    TABLES = ("table", "detailed_table")

    def save(self, path: Path) -> None:
        save_chunk(path, {k: getattr(self, k) for k in self.ARRAYS}, {k: getattr(self, k) for k in self.TABLES})

    @classmethod
    def load(cls, path: Path) -> "_Part":
        arrays, tables = load_chunk(path, list(cls.ARRAYS), list(cls.TABLES))
        return cls(**arrays, **tables)


class MainJob:
    """One run of an app's main job (see the module docstring); `what` names its rows ("rows", "objects").
    rows_done: the rows done (by an interrupted run when resumed: the app's appending writers continue after them)."""

    def __init__(self, settings: JobSettings, what: str = "rows"):
        self.settings, self.what = settings, what
        self.batch = ROWS_PER_BATCH
        self.folder: OutputFolder | None = None
        self.sink: NpyRows | None = None
        self.rows_done, self.n_rows, self.approximate = 0, 0, False
        self.parts: list[_Part] = []  # the chunks done
        self.checkpoints = True  # whether a checkpoint follows each chunk
        self.fingerprint: dict[str, Any] = {}

    def say(self, message: str) -> None:
        """A progress or note line on stderr (not with --quiet)."""
        if self.settings.progress:
            typer.echo(message, err=True)

    @staticmethod
    def warn(message: str) -> None:
        """A warning line on stderr (also with --quiet)."""
        typer.echo(f"warning: {message}", err=True)

    def open_output(
        self,
        out: Path,
        *,
        input: str | os.PathLike,
        model: str | os.PathLike,
        post: PosteriorLike,
        problem: Problem,
        n_rows: int,
        draws_per_row: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> AbstractContextManager[OutputFolder]:
        """Plan memory (the batch of rows sampled together, from the draws each row needs at once), open the output
        folder (ResourceError or OutputError, one line each, before any work), continue an interrupted run there with
        --resume, and start the run's manifest. options: the app's options that change a result, by option name
        (--resim: 8), which a resumed run must share. Use as `with job.open_output(...) as folder:`; an interruption
        of the block keeps the folder for --resume once a chunk is done (see the module docstring)."""
        s = self.settings
        dx, hidden = len(problem.x_names), post.net_config.hidden
        self.batch = rows_per_batch(draws_per_row or s.n_samples, dx, hidden, default=ROWS_PER_BATCH)
        check_chunk(s.chunk, n_rows)
        samples = 2 * samples_bytes(n_rows, s.n_samples, dx) if s.save_samples else 0  # samples.npy, then its .npz
        need = n_rows * SUMMARY_BYTES_PER_ROW + samples
        self.folder = folder = OutputFolder(
            out, inputs=[input, model], overwrite=s.overwrite, need_bytes=need, resume=s.resume
        )
        self.problem, self.n_rows = problem, n_rows
        try:
            self._start(input, model, post, options or {})
        except BaseException:
            if folder.resumed:  # the interrupted run stays as it was, for a --resume that fits it
                folder.keep()
            else:
                folder.discard()
            raise
        if s.save_samples:
            self.sink = NpyRows(folder.path / SAMPLES_NPY, (s.n_samples, dx), append=self.rows_done > 0)
        return self._interruptible()

    def _start(
        self, input: str | os.PathLike, model: str | os.PathLike, post: PosteriorLike, options: Mapping[str, Any]
    ) -> None:
        """The manifest and the fingerprint; with --resume, the interrupted run's checkpoint checked and taken up."""
        s, folder = self.settings, self.folder
        if s.resume and not folder.resumed:
            self.say(f"note: no interrupted run into {folder.target} to resume; starting afresh")
        checkpoint = self._adopt() if folder.resumed else None
        self.device = str(getattr(post, "device", s.device))
        if checkpoint is not None:  # the interrupted run's batch where it fits (the same arithmetic, the same bits)
            self.batch = min(self.batch, int(checkpoint.state["rows_per_batch"]))
        settings = asdict(s) | {"device": self.device, "rows_per_batch": self.batch, "options": plain(dict(options))}
        if checkpoint is not None:
            settings["resumed_from_row"] = checkpoint.rows
        self.manifest = Manifest.start(input=input, model=model, metadata=post.metadata, settings=settings)
        self.fingerprint = plain(
            {
                "input": self.manifest.input["sha256"],
                "model": self.manifest.model["sha256"],
                "invert": self.manifest.software.get("invert"),
                "--samples": s.n_samples,
                "--seed": s.seed,
                "--save-samples": s.save_samples,
                "--detailed": s.detailed,
                "--chunk": s.chunk,
                **options,
            }
        )
        if checkpoint is not None:
            self._continue(checkpoint)

    def _adopt(self) -> Checkpoint | None:
        """The checkpoint of the adopted work folder, its chunks loaded; None (the folder emptied, a warning) where it
        cannot be continued."""
        folder = self.folder
        checkpoint = read_checkpoint(folder.path)
        why = "it records no finished chunk" if checkpoint is None else checkpoint.usable()
        if not why:
            try:
                self.parts = [_Part.load(chunk_path(folder.path, i)) for i in range(checkpoint.chunks)]
            except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
                why = f"its kept results cannot be read: {' '.join(str(err).split())}"
        if why:
            self.warn(f"the interrupted run kept in {folder.partial} cannot be continued ({why}); starting afresh")
            self.parts = []
            folder.clear()
            return None
        return checkpoint

    def _continue(self, checkpoint: Checkpoint) -> None:
        """Go on from the checkpoint: InputError where this run's fingerprint differs, else the outputs cut back."""
        found = differences(checkpoint.state["fingerprint"], self.fingerprint)
        if found:
            raise InputError(
                f"cannot resume {self.folder.target}: {'; '.join(found)}; rerun without --resume (with --overwrite) "
                "to start afresh"
            )
        checkpoint.cut()
        self.rows_done = checkpoint.rows
        self.say(
            f"resuming {self.folder.target}: {self.rows_done:,} of {self.n_rows:,} {self.what} were done by the "
            "interrupted run"
        )
        before = checkpoint.state.get("device")
        if before != self.device:
            self.say(
                f"note: the interrupted run ran on {before}, this one on {self.device}: the {self.what} done now may "
                "differ from theirs in the last bits"
            )
        if self.batch < int(checkpoint.state["rows_per_batch"]):
            self.say(
                f"note: less memory than the interrupted run had: {self.batch} {self.what} per batch instead of "
                f"{checkpoint.state['rows_per_batch']}; results may differ in the last bits"
            )

    @contextmanager
    def _interruptible(self) -> Iterator[OutputFolder]:
        """The output folder; removed when the block fails, kept as the partial one (and a line says so) when it is
        interrupted after a checkpoint."""
        folder = self.folder
        try:
            yield folder
        except (KeyboardInterrupt, SystemExit) as stop:  # Ctrl-C; SIGTERM and SIGHUP (errors.stop_on_sigterm)
            if folder.committed or not has_checkpoint(folder.path):
                raise
            folder.keep()
            about = "about " if self.approximate else ""
            typer.echo(
                f"\ninterrupted after {self.rows_done:,} of {about}{self.n_rows:,} {self.what} (kept in "
                f"{folder.partial}); run the same command with --resume to continue",
                err=True,
            )
            if isinstance(stop, KeyboardInterrupt):
                raise typer.Exit(130) from None
            raise
        finally:
            folder.discard()

    def stream(
        self,
        chunks: Iterable[Any],
        analyse_chunk: AnalyseChunk,
        write: Callable[[pd.DataFrame], None],
        keep: Callable[[str], bool],
        names: Sequence[str],
        n_rows: int,
        approximate: bool = False,
    ) -> Streamed:
        """Analyse the input chunk by chunk: write(table) receives each chunk's summary rows in order (and hands them to
        the system before it returns: a checkpoint follows), the columns for which keep(name) is true stay in memory,
        and the first `detailed` analysed rows keep their samples. A resumed run skips the chunks done."""
        self.approximate = approximate
        meter = Progress(
            "posteriors", n_rows - self.rows_done, self.what, self.settings.progress, approximate=approximate
        )
        parts, start, skip = self.parts, self.rows_done, len(self.parts)
        for i, chunk in enumerate(chunks):
            if i < skip:  # done by the interrupted run
                continue
            result = analyse_chunk(
                chunk,
                start=start,
                max_detailed=self.settings.detailed - sum(len(p.detailed) for p in parts),
                batch=self.batch,
                sink=self.sink,
                progress=meter,
            )
            table, analysis = result.table, result.analysis
            table.index = range(start, start + len(table))
            write(table)
            k = len(analysis.detailed)
            parts.append(
                _Part(
                    table[[c for c in table if keep(c)]],
                    analysis.detailed,
                    np.asarray(analysis.rows[:k], dtype=np.int64),
                    table.loc[analysis.rows[:k]],
                    result.y[:k],
                    analysis.ratios,
                )
            )
            meter.advance(len(table) - len(analysis.rows))  # rows without a posterior count as done
            start += len(table)
            self._checkpoint(i, start)
        meter.close()
        detailed = [p.detailed for p in parts if len(p.detailed)]
        empty = np.empty((0, self.settings.n_samples, len(names)), dtype=np.float32)
        return Streamed(
            pd.concat([p.table for p in parts]),
            np.concatenate(detailed) if detailed else empty,
            np.concatenate([p.detailed_rows for p in parts]),
            pd.concat([p.detailed_table for p in parts]),
            np.concatenate([p.detailed_y for p in parts]),
            width_ratio(np.concatenate([p.ratios for p in parts]), names),
        )

    def _checkpoint(self, i: int, rows: int) -> None:
        """The checkpoint after chunk i (rows: the rows done): its part, then the state (see apps/kit/checkpoint.py).
        A part that cannot be stored (a cell JSON cannot hold) ends the checkpoints of this run, with a warning."""
        if not self.checkpoints:
            return
        folder = self.folder
        if self.sink is not None:
            self.sink.flush()
        try:
            self.parts[i].save(chunk_path(folder.path, i))
        except TypeError as err:
            self.warn(f"this run cannot be resumed if interrupted: {err}")
            shutil.rmtree(folder.path / CHECKPOINT, ignore_errors=True)
            self.checkpoints = False
            return
        state = {
            "fingerprint": self.fingerprint,
            "device": self.device,
            "rows_per_batch": self.batch,
            "chunks": i + 1,
            "rows": rows,
            "n_rows": self.n_rows,
        }
        Checkpoint.write(folder.path, state)
        self.rows_done = rows

    def footer(self) -> str:
        """The report's footer (HTML): the essentials of run.json."""
        return html_footer(self.manifest.essentials())

    def finish(
        self, files: Mapping[str, str | bytes], *, table: pd.DataFrame, n_ok: int, source: str | os.PathLike
    ) -> int:
        """Close the samples (samples.npz), write the remaining files and run.json, swap the folder in whole; the exit
        code (2: no usable row). table: every row's kept summary columns (id and status among them)."""
        folder = self.folder
        if self.sink is not None:
            self.sink.close(n_rows=len(table))
            _samples_npz(folder.path, table["id"].astype(str).to_numpy(), self.problem)
        folder.write(files)
        if self.sink is not None:  # only now: until here an interruption leaves a run that --resume can finish
            (folder.path / SAMPLES_NPY).unlink()
        outputs = sorted({p.name for p in folder.path.iterdir() if p.name != CHECKPOINT} | {"run.json"})
        counts = table["status"].astype(str).value_counts(sort=False).to_dict()
        folder.write({"run.json": self.manifest.finish(status_counts=counts, n_with_posterior=n_ok, outputs=outputs)})
        folder.commit()
        self.say(
            f"wrote {folder.target}/: {', '.join(outputs)} ({n_ok} {self.what} with posteriors, "
            f"{len(table) - n_ok} without)"
        )
        if n_ok == 0:
            typer.echo(
                f"error: no usable {self.what} in {source} (see the status column of {folder.target}/summary.csv)",
                err=True,
            )
            return 2
        return 0


def _samples_npz(folder: Path, ids: np.ndarray, problem: Problem) -> None:
    """samples.npz from the streamed samples.npy: samples (rows x draws x parameters; row i is row i of the summary,
    NaN where it has no posterior), ids, parameter names and units; uncompressed (core.outputs.read_samples
    memory-maps it) with fixed member dates (the same inputs give the same bytes); the .npy kept (finish removes it)."""

    def member(name: str) -> zipfile.ZipInfo:
        return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))

    with zipfile.ZipFile(folder / SAMPLES_NPZ, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        with open(folder / SAMPLES_NPY, "rb") as source, archive.open(member(SAMPLES_NPY), "w", force_zip64=True) as fh:
            shutil.copyfileobj(source, fh, 1 << 24)
        for name, values in (("ids", ids), ("names", problem.x_names), ("units", problem.x_units)):
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(values, dtype=str), allow_pickle=False)
            archive.writestr(member(f"{name}.npy"), buffer.getvalue())
