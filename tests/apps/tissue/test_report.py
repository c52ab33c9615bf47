"""The tissue report page on synthetic summaries and samples (no simulator, no training)."""

import html
import re

import numpy as np
import pandas as pd
import pytest

from invert.apps.tissue.camera import load_camera
from invert.apps.tissue.problem import TissueProblem
from invert.apps.tissue.report import (
    UNCONSTRAINED_RATIO,
    constraint_label,
    report_thresholds,
    resim_noise_level,
    tissue_report,
)
from invert.core.summaries import summarize

NAMES = TissueProblem.x_names
EVIL = "<script>alert(1)</script>"
N_SAMPLES = 200


def synthetic(n_rows=6, seed=0):
    """Summary, samples, ids, pixel and width ratios of a small scan: row 1 unusable, row 3 OOD, row 4 bimodal."""
    rng = np.random.default_rng(seed)
    lo = np.array([b[0] for b in TissueProblem.x_bounds])
    hi = np.array([b[1] for b in TissueProblem.x_bounds])
    status = np.array(["ok"] * n_rows, dtype=object)
    status[1] = "non-numeric value in band 560"
    status[3] = "ood"
    post = np.flatnonzero(status != "non-numeric value in band 560")
    samples = rng.uniform(lo, hi, (len(post), N_SAMPLES, len(NAMES)))
    samples[:, :, 0] = np.clip(
        rng.uniform(0.3, 0.8, (len(post), 1)) + 0.03 * rng.standard_normal((len(post), N_SAMPLES)), 0, 1
    )
    samples[:, :, 1] = 0.05 + 0.005 * rng.standard_normal((len(post), N_SAMPLES))  # vhb1 constrained
    samples[3, : N_SAMPLES // 2, 0] = 0.2  # row 4 (index 3 among rows with a posterior): two sO2 modes
    samples[3, N_SAMPLES // 2 :, 0] = 0.8
    stats = summarize(samples, NAMES)
    stats.index = post
    ids = [f"r{i}" for i in range(n_rows)]
    ids[0] = EVIL
    summary = pd.DataFrame({"id": ids, "status": status, "ood": status == "ood"})
    summary["multimodal"] = (
        stats[[f"{p}_multimodal" for p in NAMES]].any(axis=1).reindex(range(n_rows), fill_value=False)
    )
    summary["resim_error"] = pd.Series(0.02, index=post).reindex(range(n_rows))
    summary = pd.concat([summary, stats.reindex(range(n_rows))], axis=1)
    ratio = {p: 1.0 for p in NAMES} | {"sO2": 0.1, "vhb1": 0.3, "amie1": 0.85, "d1": 0.75}
    pixel = np.stack(np.divmod(np.arange(n_rows), 3), axis=1)
    return summary, samples, ids, pixel, ratio


RECOVERABILITY = pd.DataFrame(
    {
        "contraction": [0.9, 0.6] + [0.01] * 11,
        "corr": [0.95, 0.5] + [0.05] * 11,
        "verdict": ["recoverable", "partly"] + ["not recoverable"] * 11,
    },
    index=pd.Index(NAMES, name="parameter"),
)
INFO = {"model": "/models/tissue_cinn.invert", "method": "cinn", "input": f"/scans/{EVIL}.csv", "samples": N_SAMPLES}


def test_report_sections_labels_and_escaping():
    summary, samples, ids, pixel, ratio = synthetic()
    assert bool(summary.loc[4, "sO2_multimodal"])
    page = tissue_report(summary, samples, ids, pixel, ratio, INFO, max_detailed=2)
    for heading in [
        "Scan and model",
        "sO2 across rows",
        "sO2 maps",
        "What the data constrain",
        "Per-row posteriors",
        "Flagged rows",
    ]:
        assert f"<h2>{heading}</h2>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Showing 2 of 5 rows with a posterior" in page
    # the constraint table: one label per parameter, "not constrained by data" exactly where ratio > 0.8
    labels = re.findall(
        r"<td>([A-Za-z0-9]+)</td><td>[^<]*</td><td>[^<]*</td><td class=\"num\">[^<]*</td><td>([^<]*)</td>", page
    )
    assert [p for p, _ in labels] == list(NAMES)
    for name, label in labels:
        assert (label == "not constrained by data") == (ratio[name] > UNCONSTRAINED_RATIO), name
    assert "retrain it to see which parameters" in page  # no recoverability table in this model
    assert "only absorber" in page and "10 nm box" in page
    # flagged rows: the unusable one with its reason, the OOD one and the bimodal one
    flagged = page.split("<h2>Flagged rows</h2>")[1]
    assert "non-numeric value in band 560" in flagged and "out of distribution" in flagged
    assert "multimodal posterior" in flagged and "r2" not in flagged
    assert (
        page.count("data:image/png;base64,") == 1 + 2 + 1 + 2 * 2
    )  # overview, maps, ratios, 2 rows x (marginal, pair)


def test_report_without_pixels_or_samples():
    summary, _, ids, _, ratio = synthetic()
    page = tissue_report(summary, None, ids, None, ratio, {})
    assert "sO2 maps" not in page and "samples were not kept" in page
    assert page.count("data:image/png;base64,") == 2  # overview and width ratios
    page = tissue_report(summary, None, None, None, ratio, {}, max_detailed=1)  # ids from the summary
    assert "first 1 of 5 rows" in page


def test_pair_plot_only_for_constrained_parameters():
    summary, samples, ids, _, ratio = synthetic()
    page = tissue_report(summary, samples[:1], ids, None, ratio, {})
    assert "sO2, vhb1, d1" in page  # most constrained first; amie1 (0.85) is left out
    only = {p: 1.0 for p in NAMES} | {"sO2": 0.2}
    page = tissue_report(summary, samples[:1], ids, None, only, {})
    assert "no joint plot" in page and page.count("data:image/png;base64,") == 3


def test_report_with_no_usable_row():
    summary, _, ids, pixel, _ = synthetic()
    cols = [c for c in summary if c.startswith(tuple(f"{p}_" for p in NAMES))]
    summary.loc[:, cols] = np.nan
    summary["status"] = "empty cell"
    summary["ood"] = False
    summary["multimodal"] = False
    ratio = {p: np.nan for p in NAMES}
    page = tissue_report(summary, np.empty((0, N_SAMPLES, len(NAMES))), ids, pixel, ratio, {})
    assert "No row has a posterior" in page and "n/a (no rows with a posterior)" in page


def test_inconsistent_inputs_are_refused():
    summary, samples, ids, pixel, ratio = synthetic()
    with pytest.raises(ValueError):
        tissue_report(summary, samples, ids[:-1], pixel, ratio, {})
    with pytest.raises(ValueError):
        tissue_report(summary, samples, ids, pixel[:-1], ratio, {})
    with pytest.raises(ValueError):
        tissue_report(summary, np.concatenate([samples, samples]), ids, pixel, ratio, {})


def test_constraint_label_thresholds():
    assert constraint_label(0.81) == "not constrained by data"
    assert constraint_label(0.8) == "partly constrained"
    assert constraint_label(0.2) == "well constrained"


def test_report_states_what_8_bands_recover_from_the_models_table():
    """The statement of recoverable parameters comes from the model's training-time table, not a fixed list."""
    summary, samples, ids, pixel, ratio = synthetic()
    page = tissue_report(
        summary, samples, ids, pixel, ratio, INFO, max_detailed=1, recoverability=RECOVERABILITY, n_validation=1024
    )
    section = page.split("<h3>What 8 bands can recover</h3>")[1].split("<h3>")[0]
    assert "measured on 1024 simulations" in section
    assert "<b>recoverable</b>: sO2<br>" in section and "<b>partly</b>: vhb1<br>" in section
    assert "<b>not recoverable</b>: " + ", ".join(NAMES[2:]) in section


def text_of(page: str) -> str:
    """The page's text: figures, tags and entities dropped."""
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", page)))


THRESHOLDS = {"ood": 6.6, "ood_quantile": 0.999, "resim_noise": resim_noise_level(10.0)}


def test_glossary_explains_every_parameter_with_its_unit():
    summary, samples, ids, pixel, ratio = synthetic()
    page = tissue_report(summary, samples, ids, pixel, ratio, INFO, max_detailed=1)
    section = page.split("<h2>Parameters and units</h2>")[1].split("<h2>")[0]
    rows = re.findall(r"<tr><td>([A-Za-z0-9]+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", section)
    assert [p for p, _, _ in rows] == list(NAMES)
    glossary = {p: (unit, meaning) for p, unit, meaning in rows}
    assert glossary["sO2"][0].startswith("%") and "blood oxygen saturation" in glossary["sO2"][1]
    assert glossary["vhb1"][0] == "1 (dimensionless)" and "blood volume fraction of layer 1 (the top" in html.unescape(
        glossary["vhb1"][1]
    )
    assert glossary["amie2"][0] == "cm\u207b\u00b9" and "Mie scattering amplitude" in glossary["amie2"][1]
    assert "500 nm" in glossary["amie2"][1] and "anisotropy of layer 3" in glossary["g3"][1]
    assert glossary["d3"][0] == "mm" and "thickness of layer 3 (the bottom layer)" in glossary["d3"][1]
    assert "docs/tissue.md in the invert repository" in section


def test_so2_is_shown_in_percent():
    summary, samples, ids, pixel, ratio = synthetic()
    page = text_of(tissue_report(summary, samples, ids, pixel, ratio, INFO, max_detailed=1))
    row = summary.iloc[0]
    assert f"sO2 median {100 * row['sO2_median']:.1f} %, MAP {100 * row['sO2_map']:.1f} %" in page
    assert f"68 % interval [{100 * row['sO2_q16']:.1f}, {100 * row['sO2_q84']:.1f}] %" in page
    assert "sO2 median (%)" in page and "[0, 100] %" in page and "percentage points" in page
    assert "<td>sO2</td><td>%</td><td>0 \u2013 100</td>" in tissue_report(summary, None, ids, None, ratio, {})
    flagged = text_of(tissue_report(summary, None, ids, None, ratio, {}).split("<h2>Flagged rows</h2>")[1])
    assert f"{100 * summary.loc[3, 'sO2_median']:.1f}" in flagged  # the OOD row's median, in %


def test_checks_stand_beside_their_thresholds():
    summary, samples, ids, pixel, ratio = synthetic()
    summary["ood_score"] = np.where(summary["status"] == "ood", 9.0, 2.0)
    summary.loc[1, "ood_score"] = np.nan
    page = tissue_report(summary, samples, ids, pixel, ratio, INFO, max_detailed=2, thresholds=THRESHOLDS)
    text = text_of(page)
    assert "is above 6.60, the model's threshold: the 99.9 % quantile" in text
    assert "OOD score 2.00 (flagged above 6.60); re-simulation error 0.020 (noise alone \u2248 0.036)" in text
    flagged = text_of(page.split("<h2>Flagged rows</h2>")[1])
    assert "OOD score (flagged above 6.60)" in flagged and "re-simulation error (noise alone \u2248 0.036)" in flagged
    assert "9.00" in flagged
    # without thresholds the page says what the numbers are and what is typical
    text = text_of(tissue_report(summary, samples, ids, pixel, ratio, INFO, max_detailed=1))
    assert "the model's threshold (not passed to this report)" in text and "(SNR 10 per band)" in text
    assert "Euclidean distance" in text and "there is no threshold" in text


def test_report_thresholds_come_from_the_model():
    """The OOD threshold is the model's; the noise level is measured for the model's camera: about NOISE_DISTANCE / SNR
    for the default camera (0.0366 measured at SNR 10), halved at twice the SNR; a 15-band camera's band count."""

    class Scorer:
        threshold, quantile = 6.6, 0.999

    class Post:
        ood = Scorer()

    found = report_thresholds(Post(), TissueProblem(snr=20.0))
    assert found["ood"] == 6.6 and found["ood_quantile"] == 0.999 and found["bands"] == 8
    assert found["resim_noise"] == pytest.approx(resim_noise_level(20.0), rel=0.1)
    assert found["resim_noise_q05"] < found["resim_noise"] < found["resim_noise_q95"]
    ximea = TissueProblem(camera=load_camera("ximea_sm4x4_vis3"))
    no_ood = report_thresholds(type("NoOOD", (), {"ood": None})(), ximea)
    assert "ood" not in no_ood and no_ood["bands"] == 15


def test_counts_and_flags_read_as_words():
    summary, samples, ids, pixel, ratio = synthetic()
    summary["saturated"] = False
    one = summary.copy()
    one["status"] = "ok"
    one["ood"] = False
    one["sO2_multimodal"] = False
    one.loc[2, "status"] = "missing value in 470"
    page = tissue_report(one, None, ids, None, ratio, {"flag": True})
    text = text_of(page)
    assert "1 row needs attention" in text and "1 rows" not in text
    assert "True" not in text and "False" not in text  # yes/no, never Python booleans
    assert "<td>yes</td>" in page  # the model info's flag
    flagged = page.split("<h2>Flagged rows</h2>")[1]
    assert "<td>no</td>" in flagged  # not saturated
    page = tissue_report(summary, None, ids, None, ratio, {})
    assert "3 rows need attention" in text_of(page)
