"""The main job, `invert tissue --input scan.csv` (or an image `scan.npy --bands ...`): read, check, infer,
summarize, report; streamed in chunks so that memory stays bounded; all or nothing on disk (core.outputs)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import typer

import invert.core as ic
from invert.core.bundle import load_for
from invert.core.outputs import NpyRows, OutputFolder
from invert.core.progress import Progress
from invert.core.recoverability import stored_table
from invert.core.resources import SUMMARY_BYTES_PER_ROW, check_chunk, rows_per_batch, samples_bytes

from .analysis import ScanResult, analyse_chunks
from .image import open_image
from .io import CHUNK_ROWS, InputError, Scan, count_rows, iter_scan, saturation_warnings
from .maps import parameter_maps
from .problem import TissueProblem
from .report import tissue_report

ROWS_PER_BATCH = 256  # rows sampled together (fewer when --samples would not fit in memory)


def load_model(path: Path) -> tuple[ic.Posterior, TissueProblem]:
    """The posterior bundle and the tissue problem it was trained for; refuses models of other simulators."""
    try:
        post, problem = load_for(path, "tissue", lambda meta: TissueProblem(snr=float(meta.get("snr", 10.0))))
    except ic.BundleError as err:
        raise InputError(str(err)) from None
    return post.to("auto"), problem


@dataclass
class ScanSource:
    """An opened scan: its chunks, about how many rows, file-level warnings, and the image shape of a .npy stack."""

    chunks: Iterator[Scan]
    n_rows: int
    approximate: bool  # n_rows is an estimate (CSV line count)
    image_shape: tuple[int, int] | None = None
    warnings: list[str] = field(default_factory=list)


def open_scan(path: Path, bands_nm: Sequence[float], bands: Sequence[float] | None, chunk_rows: int) -> ScanSource:
    """A CSV (bands named in its header) or an (H, W, bands) .npy image (bands from --bands); InputError if unusable."""
    if path.suffix.lower() == ".npy":
        image = open_image(path, bands_nm, bands)
        return ScanSource(image.chunks(chunk_rows), image.n_pixels, False, image.shape, image.warnings)
    if bands is not None:
        raise InputError(f"--bands is for .npy images; the CSV {path} names its bands in its header")
    chunks = iter_scan(path, bands_nm, chunk_rows)
    first = next(chunks)  # the header's problems surface here, before any output
    return ScanSource(itertools.chain([first], chunks), count_rows(path), True, None, first.warnings)


def run_scan(
    input: Path, model: Path, out: Path | None, *, n_samples: int, seed: int, save_samples: bool, detailed: int,
    progress: bool, bands: Sequence[float] | None = None, chunk_rows: int = CHUNK_ROWS, resim_samples: int = 8,
    overwrite: bool = False,
) -> int:
    """Write summary.csv, report.html (samples.npy; sO2 maps for images) for a scan into a new folder (replaced
    whole with overwrite); returns the exit code. Problems of the input, model, settings or output folder raise
    InputError, ResourceError or OutputError (one line each) before any work is done."""
    say = (lambda msg: typer.echo(msg, err=True)) if progress else (lambda msg: None)
    post, problem = load_model(model)
    source = open_scan(Path(input), problem.camera.band_centers_nm, bands, chunk_rows)
    batch = rows_per_batch(n_samples, post.dx, post.net_config.hidden, default=ROWS_PER_BATCH)
    check_chunk(chunk_rows, source.n_rows)
    need = source.n_rows * SUMMARY_BYTES_PER_ROW + (samples_bytes(source.n_rows, n_samples, post.dx) if save_samples else 0)
    out = out or Path.cwd() / Path(input).stem
    with OutputFolder(out, inputs=[input, model], overwrite=overwrite, need_bytes=need) as folder:
        for warning in source.warnings:
            typer.echo(f"warning: {warning}", err=True)
        shape = f"image {source.image_shape[0]} x {source.image_shape[1]} pixels" if source.image_shape else \
            f"{source.n_rows:,} rows"
        say(f"{input}: {shape}; model {model.name} ({post.method}, {post.metadata.get('n_sims', '?')} simulations)")
        meter = Progress("posteriors", source.n_rows, "rows", progress, approximate=source.approximate)
        sink = NpyRows(folder.path / "samples.npy", (n_samples, post.dx)) if save_samples else None
        result = analyse_chunks(source.chunks, post, problem, folder.path / "summary.csv", n_samples, seed,
                                max_detailed=detailed, sink=sink, progress=meter, resim_samples=resim_samples,
                                rows_per_batch=batch)
        meter.close()
        table = result.table
        for warning in saturation_warnings(table["saturated"].to_numpy(bool), table["id"].to_numpy()):
            typer.echo(f"warning: {warning}", err=True)
        names = ["summary.csv"]
        if sink is not None:
            sink.close(n_rows=len(table))
            names.append("samples.npy")
        files: dict[str, object] = {}
        if source.image_shape is not None:
            files.update(parameter_maps(table, source.image_shape))
        files["report.html"] = _report(result, input, model, post, problem, n_samples, seed, resim_samples)
        folder.write(files)
        folder.commit()
    n_ok = int(table["sO2_median"].notna().sum())
    say(f"wrote {out}/: {', '.join(names + list(files))} ({n_ok} rows with posteriors, {len(table) - n_ok} flagged)")
    if n_ok == 0:
        typer.echo(f"error: no usable rows in {input} (see the status column of {out}/summary.csv)", err=True)
        return 2
    return 0


def _report(result: ScanResult, input: Path, model: Path, post: ic.Posterior, problem: TissueProblem, n_samples: int,
            seed: int, resim_samples: int) -> str:
    """report.html of a streamed scan."""
    info = {"model": str(model), "method": post.method, "simulator": problem.version, "input": str(input),
            "n_sims": post.metadata.get("n_sims"), "samples": n_samples, "seed": seed,
            "re-simulated samples per row": resim_samples}
    table, n_validation = stored_table(post.metadata)
    pixel = result.table[["row", "col"]].to_numpy() if "row" in result.table else None
    return tissue_report(result.table, result.detailed, None, pixel, result.width_ratio, info,
                         recoverability=table, n_validation=n_validation, detailed_rows=result.detailed_rows)
