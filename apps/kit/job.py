"""The main job's steps, the same for every app: `open_output` (memory plan and output folder, checked before
any work), `stream` (the input chunk by chunk through the posterior: summary rows written as they are done, the
report's part kept in memory, every sample streamed to disk), `finish` (samples.npz, report, run.json, the folder
swapped in whole, a closing line, the exit code).

An app supplies its reader (chunks of rows), its `analyse_chunk` (rows -> observations y -> core.analysis.analyse
-> its row table), the summary columns its report keeps, and its report. A row's posterior draws depend only on
the seed and its row number in the input, so neither the chunk nor the batch size changes a result.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import typer

from invert.core.analysis import Analysis, width_ratio
from invert.core.outputs import NpyRows, OutputFolder
from invert.core.posterior import PosteriorLike
from invert.core.problem import Problem
from invert.core.progress import Progress
from invert.core.resources import SUMMARY_BYTES_PER_ROW, check_chunk, rows_per_batch, samples_bytes

from .manifest import Manifest

__all__ = ["JobSettings", "ChunkResult", "Streamed", "MainJob"]

ROWS_PER_BATCH = 256  # rows sampled together (fewer where --samples would not fit in memory)
SAMPLES_NPY, SAMPLES_NPZ = "samples.npy", "samples.npz"


@dataclass
class JobSettings:
    """The main job's settings that every app shares (its command-line options)."""

    n_samples: int = 4096
    seed: int = 0
    save_samples: bool = False
    detailed: int = 20  # rows with a per-row section in the report
    chunk: int = 10_000  # rows read and analysed at a time
    progress: bool = True
    overwrite: bool = False
    device: str = "auto"  # where the networks run: auto (a GPU when present), cpu, cuda, cuda:1, mps


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


class MainJob:
    """One run of an app's main job (see the module docstring); `what` names its rows ("rows", "objects")."""

    def __init__(self, settings: JobSettings, what: str = "rows"):
        self.settings, self.what = settings, what
        self.batch = ROWS_PER_BATCH
        self.folder: OutputFolder | None = None
        self.sink: NpyRows | None = None

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
    ) -> OutputFolder:
        """Plan memory (the batch of rows sampled together, from the draws each row needs at once), open the output
        folder (ResourceError or OutputError, one line each, before any work) and start the run's manifest."""
        s = self.settings
        dx, hidden = len(problem.x_names), post.net_config.hidden
        self.batch = rows_per_batch(draws_per_row or s.n_samples, dx, hidden, default=ROWS_PER_BATCH)
        check_chunk(s.chunk, n_rows)
        samples = 2 * samples_bytes(n_rows, s.n_samples, dx) if s.save_samples else 0  # samples.npy, then its .npz
        need = n_rows * SUMMARY_BYTES_PER_ROW + samples
        self.folder = OutputFolder(out, inputs=[input, model], overwrite=s.overwrite, need_bytes=need)
        self.problem = problem
        settings = asdict(s) | {"device": str(getattr(post, "device", s.device)), "rows_per_batch": self.batch}
        self.manifest = Manifest.start(input=input, model=model, metadata=post.metadata, settings=settings)
        if s.save_samples:
            self.sink = NpyRows(self.folder.path / SAMPLES_NPY, (s.n_samples, dx))
        return self.folder

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
        """Analyse the input chunk by chunk: write(table) receives each chunk's summary rows in order, the columns
        for which keep(name) is true stay in memory, and the first `detailed` analysed rows keep their samples."""
        meter = Progress("posteriors", n_rows, self.what, self.settings.progress, approximate=approximate)
        tables, detailed, rows, detailed_tables, detailed_y, ratios, start = [], [], [], [], [], [], 0
        for chunk in chunks:
            result = analyse_chunk(
                chunk,
                start=start,
                max_detailed=self.settings.detailed - len(detailed),
                batch=self.batch,
                sink=self.sink,
                progress=meter,
            )
            table, analysis = result.table, result.analysis
            table.index = range(start, start + len(table))
            write(table)
            k = len(analysis.detailed)
            detailed.extend(analysis.detailed)
            rows.extend(analysis.rows[:k])
            detailed_tables.append(table.loc[analysis.rows[:k]])
            detailed_y.append(result.y[:k])
            ratios.append(analysis.ratios)
            tables.append(table[[c for c in table if keep(c)]])
            meter.advance(len(table) - len(analysis.rows))  # rows without a posterior count as done
            start += len(table)
        meter.close()
        empty = np.empty((0, self.settings.n_samples, len(names)), dtype=np.float32)
        return Streamed(
            pd.concat(tables),
            np.stack(detailed) if detailed else empty,
            np.asarray(rows, dtype=np.int64),
            pd.concat(detailed_tables),
            np.concatenate(detailed_y),
            width_ratio(np.concatenate(ratios), names),
        )

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
        outputs = sorted({p.name for p in folder.path.iterdir()} | {"run.json"})
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
    memory-maps it) with fixed member dates (the same inputs give the same bytes); the .npy then removed."""

    def member(name: str) -> zipfile.ZipInfo:
        return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))

    with zipfile.ZipFile(folder / SAMPLES_NPZ, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        with open(folder / SAMPLES_NPY, "rb") as source, archive.open(member(SAMPLES_NPY), "w", force_zip64=True) as fh:
            shutil.copyfileobj(source, fh, 1 << 24)
        for name, values in (("ids", ids), ("names", problem.x_names), ("units", problem.x_units)):
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(values, dtype=str), allow_pickle=False)
            archive.writestr(member(f"{name}.npy"), buffer.getvalue())
    (folder / SAMPLES_NPY).unlink()
