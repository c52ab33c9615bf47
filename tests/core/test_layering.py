"""Layering of invert.core, from its source: no import cycles, no imports of the apps, and Lightning imported by
core/training.py alone."""

from pathlib import Path

import invert.core
from tests.layering import all_imports, cycle, imports, internal_graph

CORE = Path(invert.core.__file__).parent
LIGHTNING = {"pytorch_lightning", "lightning", "lightning_fabric"}


def test_no_import_cycles():
    found = cycle(internal_graph(CORE, "invert.core"))
    assert found is None, f"import cycle in invert.core: {' -> '.join(found)}"


def test_imports_are_found_anywhere():
    source = (
        "from .a import b\nimport e.f\ndef g():\n    from ..c import d\n    from . import h\n"
        "if TYPE_CHECKING:\n    from .t import u\n"
    )
    found = imports(source, ["invert", "core", "pkg"])
    assert {"invert.core.pkg.a", "e.f", "invert.core.c", "invert.core.c.d", "invert.core.pkg.h"} <= found
    assert "invert.core.pkg.t" not in found
    assert {"invert.core.nets", "invert.core.posterior"} <= internal_graph(CORE, "invert.core")["invert.core.bundle"]
    assert cycle({"a": {"b"}, "b": {"a"}}) is not None and cycle({"a": {"b"}, "b": set()}) is None


def test_core_never_imports_the_apps():
    bad = {
        m: sorted(i for i in names if i.startswith("invert.apps"))
        for m, names in all_imports(CORE, "invert.core").items()
    }
    assert not {m: names for m, names in bad.items() if names}


def test_lightning_only_in_training():
    found = all_imports(CORE, "invert.core")
    users = {m for m, names in found.items() if {n.split(".")[0] for n in names} & LIGHTNING}
    assert users == {"invert.core.training"}
