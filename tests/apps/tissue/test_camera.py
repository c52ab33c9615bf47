"""Camera files: parsing, filter weights on the physics grid, per-band noise, errors, storage in files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.integrate import trapezoid

from invert.apps.kit.errors import InputError
from invert.apps.tissue.camera import (
    GRID_NM,
    add_noise,
    camera_from_dict,
    load_camera,
    read_camera,
    shipped_cameras,
)
from invert.apps.tissue.problem import TissueProblem, problem_for

FIRST = (451, 1, "box")  # a camera has two or more bands: the tests' cameras start with this one


def spec(bands, snr=10.0, **extra) -> dict:
    """A camera file's JSON object with bands given as (centre, fwhm, shape), after FIRST (unless first=False)."""
    first = [] if extra.pop("first", True) is False else [FIRST]
    rows = [dict(center_nm=c, fwhm_nm=w, shape=s) for c, w, s in [*first, *bands]]
    return {"name": "test", "bands": rows, "snr": snr, **extra}


def test_shipped_paper_camera_keeps_the_simulator_version_of_the_shipped_model():
    """The IPCAI 2016 camera file gives the version string models were trained with before camera files."""
    problem = TissueProblem()
    assert problem.version == (
        "tissue-ad16-deltaM-fresnel1.36/1.38-box10nm-470,480,511,560,580,600,660,700-snr10-clip1e-5-lognorm-v1"
    )
    assert problem.camera.band_centers_nm == (470, 480, 511, 560, 580, 600, 660, 700)


def test_box_with_integer_ends_is_the_trapezoid_rule():
    cam = camera_from_dict(spec([(470, 10, "box")]))
    w = cam.response[-1]
    on = np.flatnonzero(w)
    assert list(GRID_NM[on]) == list(range(465, 476))
    np.testing.assert_allclose(w[on], np.r_[0.05, [0.1] * 9, 0.05])


@pytest.mark.parametrize("centre, width", [(511.3, 10.0), (600.0, 7.4), (480.5, 1.0)])
def test_box_weights_give_the_exact_mean_of_a_piecewise_linear_spectrum(centre, width):
    rng = np.random.default_rng(1)
    rd = rng.uniform(0.1, 0.9, len(GRID_NM))  # a kinked spectrum, linear between grid points
    cam = camera_from_dict(spec([(centre, width, "box")]))
    fine = np.linspace(centre - width / 2, centre + width / 2, 200_001)
    mean = trapezoid(np.interp(fine, GRID_NM, rd), fine) / width
    np.testing.assert_allclose(cam.response[-1] @ rd, mean, rtol=1e-8)


def test_gaussian_filter_has_its_centre_and_width():
    cam = camera_from_dict(spec([(530.0, 20.0, "gaussian")]))
    w = cam.response[-1]
    mean = w @ GRID_NM
    sd = np.sqrt(w @ (GRID_NM - mean) ** 2)
    assert w.sum() == pytest.approx(1.0)
    assert mean == pytest.approx(530.0, abs=1e-6)
    assert sd * 2 * np.sqrt(2 * np.log(2)) == pytest.approx(20.0, rel=0.01)


def test_measured_curves_from_a_csv_beside_the_file(tmp_path):
    wl = np.arange(500.0, 561.0, 5.0)
    tri = np.clip(1 - np.abs(wl - 530) / 20, 0, None)
    (tmp_path / "curves.csv").write_text(
        "wavelength_nm,a,b\n" + "\n".join(f"{a},{b},{c}" for a, b, c in zip(wl, tri, 2 * tri[::-1]))
    )
    path = tmp_path / "cam.json"
    path.write_text(json.dumps(spec([(530, 20, "box"), (533, 20, "box")], transmission_csv="curves.csv", first=False)))
    cam = read_camera(path)
    assert [b.shape for b in cam.bands] == ["measured", "measured"]
    expected = np.interp(GRID_NM, wl, tri, left=0, right=0)
    np.testing.assert_allclose(cam.response[0], expected / expected.sum())
    again = camera_from_dict(json.loads(json.dumps(cam.to_dict())))  # as stored in a model file
    np.testing.assert_array_equal(again.response, cam.response)
    assert again.token() == cam.token()


def test_per_band_snr_sets_each_band_noise():
    cam = camera_from_dict(spec([(500, 10, "box"), (600, 10, "box")], snr=[5.0, 50.0], first=False))
    r = torch.full((200_000, 2), 0.3, dtype=torch.float64)
    noisy = add_noise(r, torch.tensor(cam.snr), torch.Generator().manual_seed(0))
    np.testing.assert_allclose((noisy / r - 1).std(0).numpy(), [1 / 5, 1 / 50], rtol=0.01)
    assert TissueProblem(camera=cam).snr == pytest.approx(1 / np.sqrt((1 / 25 + 1 / 2500) / 2))


def test_camera_is_rebuilt_from_what_a_file_records():
    cam = load_camera("ximea_sm4x4_vis3")
    problem = TissueProblem(camera=cam)
    again = problem_for({"camera": json.loads(json.dumps(cam.to_dict()))})
    assert again.version == problem.version and again.y_names == problem.y_names
    assert problem_for({"snr": 20.0}).version == TissueProblem(snr=20).version  # files from before camera files
    other = camera_from_dict(spec([(500, 10, "gaussian"), (600, 10, "gaussian")], first=False))
    assert TissueProblem(camera=other).version != TissueProblem(camera=other.with_snr(20)).version


def test_every_shipped_camera_loads_inside_the_physics_grid():
    assert {"ipcai2016", "ximea_sm4x4_vis3"} <= set(shipped_cameras())
    for name in shipped_cameras():
        cam = load_camera(name)
        assert cam.source and len(cam.bands) == len(cam.snr) == cam.response.shape[0]
        np.testing.assert_allclose(cam.response.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"name": "x", "snr": 10}, "missing bands"),
        (spec([(600, 10, "triangle")]), "shape must be one of"),
        (spec([(600, 10, "box"), (500, 10, "box")]), "ascending"),
        (spec([(600, -1, "box")]), "fwhm_nm must be a finite number"),
        (spec([(600, 10, "box")], snr=[10, 20, 30]), "snr lists 3 values for 2 bands"),
        (spec([(600, 10, "box")], snr=0), "snr must be a finite number above 0"),
        (spec([(453, 10, "box")]), "reaches outside 450-720 nm"),
        (spec([(700, 30, "gaussian")]), "reaches outside 450-720 nm"),
        (spec([(600, 1, "gaussian")]), "needs >= 2 nm"),
        ([1, 2], "one JSON object"),
        (spec([(600, 10, "box")], first=False), "two or more"),
        (spec([(500, 1e-20, "box")]), "needs >= 1 nm"),
        (spec([(500, 10, "box"), (501, 10, "box")]), "at least 2 nm apart"),
        (spec([(int("9" * 400), 10, "box")]), "center_nm must be a finite number"),
        (spec([(500, 10, "box")], response=[["a"] * 271] * 2), "stored response"),
        (spec([(500, 10, "box")], response=[[float("nan")] * 271] * 2), "stored response"),
    ],
)
def test_unusable_camera_files_give_one_line(bad, message):
    with pytest.raises(InputError, match=message) as err:
        camera_from_dict(bad)
    assert "\n" not in str(err.value)


def test_deeply_nested_json_is_one_line(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        read_camera(tmp_path / "deep.json")


def test_a_scan_band_cannot_stand_for_two_model_bands():
    from invert.apps.tissue.camera import MIN_CENTRE_GAP_NM
    from invert.apps.tissue.io.bands import BAND_TOLERANCE_NM, match_bands

    assert MIN_CENTRE_GAP_NM == 2 * BAND_TOLERANCE_NM
    with pytest.raises(InputError, match="within 1 nm of two of the model's bands"):
        match_bands("scan.csv", [501.0, 600.0], [500.0, 502.0, 600.0], "its header")
    assert match_bands("scan.csv", [600.0, 500.4], [500.0, 600.0], "its header") == (1, 0)


def test_measured_curve_outside_the_grid_is_refused(tmp_path):
    (tmp_path / "c.csv").write_text("wavelength_nm,a,b\n430,1,0\n440,1,0\n460,0,1\n470,0,1\n")
    with pytest.raises(InputError, match="band 1 of c.csv has more than 1% of its transmission outside 450-720 nm"):
        camera_from_dict(spec([(440, 10, "box"), (465, 10, "box")], transmission_csv="c.csv", first=False), tmp_path)
    with pytest.raises(InputError, match="not found"):
        read_camera(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable JSON camera file"):
        read_camera(tmp_path / "bad.json")
