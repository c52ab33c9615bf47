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


def spec(bands, snr=10.0, **extra) -> dict:
    """A camera file's JSON object with bands given as (centre, fwhm, shape)."""
    return {"name": "test", "bands": [dict(center_nm=c, fwhm_nm=w, shape=s) for c, w, s in bands], "snr": snr, **extra}


def test_shipped_paper_camera_keeps_the_simulator_version_of_the_shipped_model():
    """The IPCAI 2016 camera file gives the version string models were trained with before camera files."""
    problem = TissueProblem()
    assert problem.version == (
        "tissue-ad16-deltaM-fresnel1.36/1.38-box10nm-470,480,511,560,580,600,660,700-snr10-clip1e-5-lognorm-v1"
    )
    assert problem.camera.band_centers_nm == (470, 480, 511, 560, 580, 600, 660, 700)


def test_box_with_integer_ends_is_the_trapezoid_rule():
    cam = camera_from_dict(spec([(470, 10, "box")]))
    w = cam.response[0]
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
    np.testing.assert_allclose(cam.response[0] @ rd, mean, rtol=1e-8)


def test_gaussian_filter_has_its_centre_and_width():
    cam = camera_from_dict(spec([(530.0, 20.0, "gaussian")]))
    w = cam.response[0]
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
    path.write_text(json.dumps(spec([(530, 20, "box"), (531, 20, "box")], transmission_csv="curves.csv")))
    cam = read_camera(path)
    assert [b.shape for b in cam.bands] == ["measured", "measured"]
    expected = np.interp(GRID_NM, wl, tri, left=0, right=0)
    np.testing.assert_allclose(cam.response[0], expected / expected.sum())
    again = camera_from_dict(json.loads(json.dumps(cam.to_dict())))  # as stored in a model file
    np.testing.assert_array_equal(again.response, cam.response)
    assert again.token() == cam.token()


def test_per_band_snr_sets_each_band_noise():
    cam = camera_from_dict(spec([(500, 10, "box"), (600, 10, "box")], snr=[5.0, 50.0]))
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
    other = camera_from_dict(spec([(500, 10, "gaussian"), (600, 10, "gaussian")]))
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
        (spec([(600, 10, "box")], snr=[10, 20]), "snr lists 2 values for 1 bands"),
        (spec([(600, 10, "box")], snr=0), "snr must be a finite number above 0"),
        (spec([(452, 10, "box")]), "reaches outside 450-720 nm"),
        (spec([(700, 30, "gaussian")]), "reaches outside 450-720 nm"),
        (spec([(600, 1, "gaussian")]), "needs >= 2 nm"),
        ([1, 2], "one JSON object"),
    ],
)
def test_unusable_camera_files_give_one_line(bad, message):
    with pytest.raises(InputError, match=message) as err:
        camera_from_dict(bad)
    assert "\n" not in str(err.value)


def test_measured_curve_outside_the_grid_is_refused(tmp_path):
    (tmp_path / "c.csv").write_text("wavelength_nm,a\n430,1\n440,1\n460,0\n")
    with pytest.raises(InputError, match="outside 450-720 nm"):
        camera_from_dict(spec([(445, 10, "box")], transmission_csv="c.csv"), tmp_path)
    with pytest.raises(InputError, match="not found"):
        read_camera(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable JSON camera file"):
        read_camera(tmp_path / "bad.json")
