"""summary.fits written chunk by chunk: types, units, empty cells and the row count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from invert.apps.stars import StarsProblem
from invert.apps.stars.results.summary_fits import SummaryFits


def chunk(ids, status, logz, multimodal, rows=None):
    table = pd.DataFrame({"id": ids, "status": status, "ood": [False] * len(ids)})
    if rows is not None:
        table["row"], table["col"] = rows, rows
    table["logZ_median"] = logz
    table["logZ_multimodal"] = pd.Series(multimodal, dtype=object)
    table["Hbeta_flux"] = 1e-16
    return table


def test_chunks_make_one_table_with_units(tmp_path):
    path = tmp_path / "s.fits"
    writer = SummaryFits(path, StarsProblem(), {"LAYOUT": "C", "SEED": 3}, 5, id_width=6)
    writer(chunk(["a", "bb"], ["ok", "no_hbeta"], [-0.3, np.nan], [True, np.nan], rows=[0, 1]))
    writer(
        chunk(
            ["région", "d", "e"],
            ["ok", "ok", "bad_redshift"],
            [0.1, -1.0, np.nan],
            [False, False, np.nan],
            rows=[2, 3, 4],
        )
    )
    writer.close()
    with fits.open(path) as hdul:
        hdul.verify("exception")
        assert hdul[0].header["LAYOUT"] == "C" and hdul[0].header["SEED"] == 3
        hdu = hdul["SUMMARY"]
        data = hdu.data
        assert list(data["id"]) == ["a", "bb", "r?gion", "d", "e"]
        assert list(data["status"]) == ["ok", "no_hbeta", "ok", "ok", "bad_redshift"]
        np.testing.assert_array_equal(data["logZ_median"], [-0.3, np.nan, 0.1, -1.0, np.nan])
        assert list(data["logZ_multimodal"]) == [True, False, False, False, False]
        assert list(data["row"]) == [0, 1, 2, 3, 4] and data["row"].dtype.kind == "i"
        units = {hdu.header[f"TTYPE{i}"]: hdu.header.get(f"TUNIT{i}") for i in range(1, hdu.header["TFIELDS"] + 1)}
        assert units["logZ_median"] is None and units["Hbeta_flux"] == "erg s-1 cm-2" and units["row"] == "pix"
        assert "logZ in" in hdu.header.comments["TTYPE6"]


def test_refuses_a_short_table_or_changed_columns(tmp_path):
    writer = SummaryFits(tmp_path / "s.fits", StarsProblem(), {}, 3, id_width=2)
    writer(chunk(["a"], ["ok"], [0.0], [False]))
    with pytest.raises(ValueError, match="same columns"):
        writer(chunk(["b"], ["ok"], [0.0], [False], rows=[1]))
    with pytest.raises(ValueError, match="1 rows written, 3 announced"):
        writer.close()
    with pytest.raises(ValueError, match="longer than 2"):
        SummaryFits(tmp_path / "t.fits", StarsProblem(), {}, 1, id_width=2)(chunk(["abc"], ["ok"], [0.0], [False]))
