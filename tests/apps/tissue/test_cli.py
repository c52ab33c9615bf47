"""`invert tissue`: simulate -> train -> analyse a scan, on a tiny model; file outputs and exit codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import invert.core as ic
from invert.core.recoverability import stored_table
from invert.apps.cli import app
from invert.apps.tissue import TissueProblem

runner = CliRunner()
BANDS = ["470", "480", "511", "560", "580", "600", "660", "700"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A cINN trained for two epochs on 400 simulations (enough to exercise the pipeline, not to be accurate)."""
    d = tmp_path_factory.mktemp("tissue_model")
    sims, model = d / "sims.npz", d / "model.invert"
    res = runner.invoke(app, ["tissue", "simulate", "--n", "400", "--out", str(sims), "--seed", "3", "--chunk", "200", "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["tissue", "train", "--sims", str(sims), "--out", str(model), "--epochs", "2", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "sO2 calibration error" in res.output
    return sims, model


def write_scan(path, rows: list[list[object]], header: list[str] | None = None) -> None:
    header = header or ["id", *BANDS]
    path.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")


def test_simulations_carry_the_simulator_version(tiny_model):
    sims, _ = tiny_model
    x, y, meta = ic.load_simulations(sims, TissueProblem())
    assert x.shape == (400, 13) and y.shape == (400, 8)
    assert meta["seed"] == 3 and np.isfinite(y).all()
    with pytest.raises(ic.SimulationFileError, match="simulated with"):
        ic.load_simulations(sims, TissueProblem(snr=20))


def test_model_records_its_provenance(tiny_model):
    _, model = tiny_model
    meta = ic.load(model).metadata
    assert meta["problem"] == "tissue" and meta["simulator"] == TissueProblem().version
    assert meta["command"].startswith("invert tissue train")


def test_main_job_flags_bad_rows_and_keeps_good_ones(tiny_model, tmp_path):
    _, model = tiny_model
    scan = tmp_path / "scan.csv"
    good = [410, 450, 480, 230, 180, 900, 1700, 1500]
    write_scan(scan, [["a", *good], ["b", *good[:3], "", *good[4:]], ["c", *good[:7], -1], ["d", *[2 * v for v in good]]])
    out = tmp_path / "out"
    res = runner.invoke(app, ["tissue", "--input", str(scan), "--model", str(model), "--out", str(out), "--samples", "64", "--quiet"])
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert list(summary["id"]) == ["a", "b", "c", "d"]
    status = dict(zip(summary["id"], summary["status"]))
    assert status["b"] != "ok" and "560" in status["b"]
    assert status["c"] != "ok"
    # scale invariance: a row times 2 has the same observation y, hence the same posterior (same seed offset aside)
    a, d = summary.set_index("id").loc["a"], summary.set_index("id").loc["d"]
    assert a["sO2_median"] != "" and abs(float(a["sO2_median"]) - float(d["sO2_median"])) < 0.15
    for q in ("mean", "median", "map", "std", "q2.5", "q16", "q84", "q97.5", "multimodal"):
        assert f"sO2_{q}" in summary and f"d3_{q}" in summary
    assert {"ood", "ood_score", "resim_error", "multimodal", "status"} <= set(summary.columns)
    html = (out / "report.html").read_text()
    assert "sO2" in html and "not constrained by data" in html and "<img" in html


def test_main_job_saves_samples(tiny_model, tmp_path):
    _, model = tiny_model
    scan = tmp_path / "scan.csv"
    write_scan(scan, [[i, 410 + i, 450, 480, 230, 180, 900, 1700, 1500] for i in range(3)])
    out = tmp_path / "o"
    args = ["tissue", "-i", str(scan), "--model", str(model), "--out", str(out), "--samples", "32", "--save-samples", "--quiet"]
    assert runner.invoke(app, args).exit_code == 0
    s = np.load(out / "samples.npy")
    assert s.shape == (3, 32, 13) and s.dtype == np.float32
    lo, hi = np.array(TissueProblem.x_bounds).T
    assert ((s >= lo) & (s <= hi)).all()


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ("id;470;480\n1;2;3\n", ";"),
        ("id,470,480,511\n1,2,3,4\n", "560"),
    ],
)
def test_unusable_files_exit_2_with_one_line(tiny_model, tmp_path, content, message):
    _, model = tiny_model
    scan = tmp_path / "bad.csv"
    scan.write_text(content)
    res = runner.invoke(app, ["tissue", "--input", str(scan), "--model", str(model), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not (tmp_path / "o").exists()


def test_model_of_another_problem_is_refused(tmp_path):
    from invert.core.toys import GaussianMixture8

    x, y = ic.simulate_dataset(GaussianMixture8(), 300, seed=0)
    other = tmp_path / "gmm8.invert"
    ic.fit(x, y, max_epochs=1, progress=False, metadata={"problem": "gmm8"}).save(other)
    scan = tmp_path / "scan.csv"
    write_scan(scan, [["a", 410, 450, 480, 230, 180, 900, 1700, 1500]])
    res = runner.invoke(app, ["tissue", "--input", str(scan), "--model", str(other), "--quiet"])
    assert res.exit_code == 2 and "not for the tissue app" in res.output


def test_all_rows_bad_exits_2_but_writes_the_flags(tiny_model, tmp_path):
    _, model = tiny_model
    scan = tmp_path / "scan.csv"
    write_scan(scan, [["a", *["x"] * 8], ["b", *[0] * 8]])
    out = tmp_path / "o"
    res = runner.invoke(app, ["tissue", "--input", str(scan), "--model", str(model), "--out", str(out), "--quiet"])
    assert res.exit_code == 2 and "no usable rows" in res.output
    assert (pd.read_csv(out / "summary.csv")["status"] != "ok").all()


def test_shipped_model_on_shipped_example(tmp_path):
    """The README's main job: the pretrained model on the example scan recovers its simulated sO2 map."""
    from importlib.resources import files

    data = files("invert.data.tissue")
    meta = ic.load(data / "tissue_cinn.invert").metadata
    assert meta["n_sims"] >= 100_000 and meta["command"] == "invert tissue build-pretrained"
    assert (data / "tissue_cinn.invert").stat().st_size < 5e6
    # recoverability measured on held-out simulations: sO2 from 8 bands, never the anisotropies (science note)
    verdicts = stored_table(meta)[0]["verdict"]
    assert verdicts["sO2"] == "recoverable" and (verdicts[["g1", "g2", "g3"]] == "not recoverable").all()
    out = tmp_path / "example"
    res = runner.invoke(app, ["tissue", "--input", str(data / "example_scan.csv"), "--out", str(out), "--samples", "1024", "--quiet"])
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(out / "summary.csv")
    truth = pd.read_csv(data / "example_scan_truth.csv").set_index("id").loc[summary["id"]]
    assert len(summary) == 48 and (summary["status"] == "ok").all() and not summary["ood"].any()
    for p in TissueProblem.x_names:
        assert {f"{p}_{k}" for k in ("mean", "median", "map", "std", "q2.5", "q16", "q84", "q97.5", "multimodal")} <= set(summary)
    error = summary["sO2_median"].to_numpy() - truth["sO2"].to_numpy()
    inside95 = (summary["sO2_q2.5"].to_numpy() <= truth["sO2"].to_numpy()) & (truth["sO2"].to_numpy() <= summary["sO2_q97.5"].to_numpy())
    # measured with 4096 samples: median |error| 0.065, 95 % coverage 47/48; bounds leave room for seed spread
    assert np.median(np.abs(error)) < 0.1 and inside95.mean() >= 0.85
    ischemic = (summary["row"] >= 3) & (summary["col"] >= 5)
    assert summary.loc[~ischemic, "sO2_median"].median() - summary.loc[ischemic, "sO2_median"].median() > 0.25
    assert (summary["resim_error"] < 0.2).all()
    html = (out / "report.html").read_text()
    assert "sO2 maps" in html and "not constrained by data" in html and 'src="http' not in html
