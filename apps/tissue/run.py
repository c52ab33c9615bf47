"""The main job, `invert tissue --input scan.csv`: read, check, infer, summarize, report; all or nothing on disk."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

import invert.core as ic
from invert.core.bundle import load_for
from invert.core.recoverability import stored_table
from invert.core.report import NpyRows, write_outputs_atomically

from .analysis import analyse_scan
from .io import InputError, read_scan
from .problem import TissueProblem
from .report import tissue_report


def load_model(path: Path) -> tuple[ic.Posterior, TissueProblem]:
    """The posterior bundle and the tissue problem it was trained for; refuses models of other simulators."""
    try:
        post, problem = load_for(path, "tissue", lambda meta: TissueProblem(snr=float(meta.get("snr", 10.0))))
    except ic.BundleError as err:
        raise InputError(str(err)) from None
    return post.to("auto"), problem


def run_scan(
    input: Path, model: Path, out: Path | None, n_samples: int, seed: int, save_samples: bool, detailed: int, progress: bool
) -> int:
    """Write summary.csv, report.html (and samples.npy) for a scan; returns the exit code."""
    say = (lambda msg: typer.echo(msg, err=True)) if progress else (lambda msg: None)
    try:
        post, problem = load_model(model)
        scan = read_scan(input, problem.camera.band_centers_nm)
    except InputError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    for warning in scan.warnings:
        typer.echo(f"warning: {warning}", err=True)
    out = out or Path.cwd() / Path(input).stem
    n_ok = int(scan.ok.sum())
    say(f"{input}: {len(scan.ids)} rows, {n_ok} usable; model {model.name} ({post.method}, {post.metadata.get('n_sims', '?')} simulations)")
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        files: dict[str, object] = {}
        sink = NpyRows(Path(tmp) / "samples.npy", (n_ok, n_samples, post.dx)) if save_samples and n_ok else None
        result = analyse_scan(scan, post, problem, n_samples, seed, max_detailed=detailed, sink=sink, progress=progress)
        if sink is not None:
            files["samples.npy"] = sink.close()
        files["summary.csv"] = result.summary.to_csv(index=False, float_format="%.6g")
        info = {"model": str(model), "method": post.method, "simulator": problem.version, "input": str(input),
                "n_sims": post.metadata.get("n_sims"), "samples": n_samples, "seed": seed}
        table, n_validation = stored_table(post.metadata)
        files["report.html"] = tissue_report(result.summary, result.detailed, scan.ids, scan.pixel, result.width_ratio, info,
                                             recoverability=table, n_validation=n_validation)
        write_outputs_atomically(out, files)
    flagged = len(scan.ids) - n_ok
    say(f"wrote {out}/summary.csv and report.html ({n_ok} rows with posteriors, {flagged} flagged)")
    if n_ok == 0:
        typer.echo(f"error: no usable rows in {input} (see the status column of {out}/summary.csv)", err=True)
        return 2
    return 0
