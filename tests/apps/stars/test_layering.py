"""Layering of the stars app, from its source: no import cycles, each subpackage importing only the ones below it
(model < io < results < report < the entry modules), and no other module directly in apps/stars."""

from pathlib import Path

import invert.apps.stars
from tests.layering import cycle, internal_graph

STARS = Path(invert.apps.stars.__file__).parent
PREFIX = "invert.apps.stars"
LAYERS = ("model", "io", "results", "report")  # each may import the ones before it; the entry modules import all
ENTRY = {"__init__.py", "cli.py", "run.py"}


def _layer(module: str) -> int:
    """Index of a module's subpackage in LAYERS; len(LAYERS) for the entry modules."""
    part = module.removeprefix(PREFIX).lstrip(".").split(".")[0]
    return LAYERS.index(part) if part in LAYERS else len(LAYERS)


def test_no_import_cycles():
    found = cycle(internal_graph(STARS, PREFIX))
    assert found is None, f"import cycle in the stars app: {' -> '.join(found)}"


def test_subpackages_import_only_lower_layers():
    graph = internal_graph(STARS, PREFIX)
    upward = {m: sorted(i for i in names if _layer(i) > _layer(m)) for m, names in graph.items()}
    assert not {m: names for m, names in upward.items() if names}


def test_only_entry_modules_at_the_top():
    assert {p.name for p in STARS.glob("*.py")} == ENTRY
    assert {p.name for p in STARS.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)
