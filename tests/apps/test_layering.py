"""Layering of the applications, from their source: the apps never import each other (only the kit), and the
kit imports no app."""

from pathlib import Path

import invert.apps
from tests.layering import all_imports

APPS = Path(invert.apps.__file__).parent
APP_NAMES = ("tissue", "stars", "demo")


def _owner(module: str) -> str:
    """The app (or kit) a module of invert.apps belongs to."""
    return module.removeprefix("invert.apps").lstrip(".").split(".")[0]


def test_apps_import_only_themselves_the_kit_and_core():
    found = all_imports(APPS, "invert.apps")
    crossing = {
        m: sorted(i for i in names if i.startswith("invert.apps.") and _owner(i) not in (_owner(m), "kit"))
        for m, names in found.items()
        if _owner(m) in APP_NAMES + ("kit",)
    }
    assert not {m: names for m, names in crossing.items() if names}
