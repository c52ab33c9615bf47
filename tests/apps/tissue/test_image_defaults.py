"""Images get their own defaults (apps/tissue/run.py Plan): fewer draws per pixel, KDE columns and re-simulation only
where the report shows them; the results stay independent of chunking, and network passes never change a draw."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from invert.apps.kit.job import JobSettings
from invert.apps.kit.models import load_model
from invert.apps.tissue.cli import pretrained_path
from invert.apps.tissue.problem import problem_for
from invert.apps.tissue.run import IMAGE_SAMPLES, TABLE_RESIM, TABLE_SAMPLES, Plan, run_scan
from invert.core.analysis import analyse
from invert.core.problem import prior_std

BANDS = [470.0, 480.0, 511.0, 560.0, 580.0, 600.0, 660.0, 700.0]
SPECTRUM = np.array([410, 450, 480, 230, 180, 900, 1700, 1500], float)


def test_plan_takes_each_kinds_defaults_only_where_an_option_is_left_out():
    image = Plan.of(True, None, None)
    assert (image.n_samples, image.resim_everywhere, image.kde) == (IMAGE_SAMPLES, False, ("sO2",))
    assert image.defaults == ("--samples", "--resim") and "image defaults" in image.line(20)
    assert image.resim_rows(20) == "the 20 detailed rows only"
    table = Plan.of(False, None, None)
    assert (table.n_samples, table.resim_samples, table.resim_everywhere, table.kde) == (
        TABLE_SAMPLES,
        TABLE_RESIM,
        True,
        None,
    )
    given = Plan.of(True, 1000, 4)
    assert (given.n_samples, given.resim_samples, given.resim_everywhere, given.defaults) == (1000, 4, True, ())
    assert Plan.of(True, None, 0).resim_rows(20) == "none"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A 3 x 4 image of scaled copies of one spectrum with noise, one pixel unusable."""
    rng = np.random.default_rng(5)
    data = SPECTRUM * rng.uniform(0.8, 1.2, (3, 4, 1)) * rng.normal(1, 0.05, (3, 4, 8))
    data[1, 2, 3] = np.nan
    path = tmp_path_factory.mktemp("image") / "img.npy"
    np.save(path, data)
    return path


def run_image(image, out, chunk: int = 10_000, detailed: int = 3) -> tuple[pd.DataFrame, dict]:
    settings = JobSettings(n_samples=None, detailed=detailed, chunk=chunk, progress=True, device="cpu")
    assert run_scan(image, pretrained_path(), out, settings, bands=BANDS, resim_samples=None) == 0
    return pd.read_csv(out / "summary.csv"), json.loads((out / "run.json").read_text())


def test_image_defaults_summarize_every_pixel_and_detail_only_the_reported(image, tmp_path, capsys):
    summary, manifest = run_image(image, tmp_path / "whole")
    said = capsys.readouterr().err
    assert "image defaults for --samples and --resim: 256 samples per row" in said
    settings = manifest["settings"]
    assert settings["n_samples"] == IMAGE_SAMPLES and settings["defaults_used"] == ["--samples", "--resim"]
    assert settings["input_kind"] == "image" and settings["resim_rows"] == "the 3 detailed rows only"
    ok = summary["status"].isin(["ok", "ood"]).to_numpy()
    assert ok.sum() == 11 and summary["sO2_median"].notna().sum() == 11
    detailed = np.flatnonzero(ok)[:3]
    others = np.flatnonzero(ok)[3:]
    assert summary["resim_error"].iloc[detailed].notna().all() and summary["resim_error"].iloc[others].isna().all()
    assert summary["sO2_map"].iloc[np.flatnonzero(ok)].notna().all()
    assert summary["sO2_multimodal"].iloc[np.flatnonzero(ok)].notna().all()
    assert summary["vhb1_map"].iloc[detailed].notna().all() and summary["vhb1_map"].iloc[others].isna().all()
    assert summary["vhb1_q84"].iloc[others].notna().all()
    # chunks of one image row (4 pixels) give the same table
    chunked, _ = run_image(image, tmp_path / "chunked", chunk=4)
    pd.testing.assert_frame_equal(chunked, summary)


def test_network_passes_and_kde_columns_do_not_change_any_draw():
    post, problem = load_model(pretrained_path(), "tissue", problem_for, device="cpu")
    rng = np.random.default_rng(1)
    y = problem.preprocess(SPECTRUM * rng.normal(1, 0.05, (9, 8)))
    names, sd = list(problem.x_names), prior_std(problem)
    whole = analyse(post, y, names, sd, 64, 3, batch=4, max_detailed=2, progress=False)
    passes = analyse(post, y, names, sd, 64, 3, batch=4, max_detailed=2, progress=False, draws_per_pass=100)
    pd.testing.assert_frame_equal(whole.summary, passes.summary)
    np.testing.assert_array_equal(whole.detailed, passes.detailed)
    light = analyse(post, y, names, sd, 64, 3, batch=4, max_detailed=2, progress=False, kde=["sO2"])
    kde_columns = [c for c in whole.summary if c.endswith(("_map", "_multimodal"))]
    pd.testing.assert_frame_equal(whole.summary.drop(columns=kde_columns), light.summary.drop(columns=kde_columns))
    assert light.summary["vhb1_map"].iloc[2:].isna().all() and light.summary["vhb1_multimodal"].iloc[2:].isna().all()
    np.testing.assert_array_equal(light.summary["sO2_map"].astype(float), whole.summary["sO2_map"])
    np.testing.assert_array_equal(light.summary["vhb1_map"].iloc[:2].astype(float), whole.summary["vhb1_map"].iloc[:2])
